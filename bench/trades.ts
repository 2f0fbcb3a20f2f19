import { Logger } from '@nestjs/common';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Client } from 'pg';
import { createApp } from '../src/app.factory';
import { formatInstantMicros } from '../src/common/time';
import { DatabaseConnection } from '../src/database/database-connection';
import { TradeRow, TradesRepository } from '../src/repositories/trades.repository';
import { loadSettings } from '../src/settings/settings';
import { makeTradeRows } from '../test/support/trades';
import { createBenchDatabase, machineLine, printTable, timePsql } from './support';

/**
 * Trade ingest over REST against `psql \copy` of the same rows into
 * market_trades_ts, in one run on the local PostgreSQL; then the compression
 * ratio of trades on the embedded TimescaleDB.
 */
const TRADES = Number(process.env.BENCH_TRADES ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PER_REQUEST = 100_000;
const COMPRESSION_TRADES = Number(process.env.BENCH_COMPRESSION_TRADES ?? 500_000);

function pointOf(row: TradeRow): Record<string, unknown> {
  return {
    timestamp: formatInstantMicros(row.timestampUs),
    price: row.price,
    size: row.size,
    trade_id: row.key,
    ...(row.conditions ? { conditions: row.conditions } : {}),
    ...(row.source ? { source: row.source } : {}),
  };
}

function csvOf(instrument: string, rows: readonly TradeRow[]): string {
  return rows
    .map(
      (r) =>
        `${formatInstantMicros(r.timestampUs)},${instrument},${r.key},${r.price},${r.size},` +
        `${r.conditions ? `"{${r.conditions.map((c) => `""${c}""`).join(',')}}"` : ''},1,${r.source ?? ''}`,
    )
    .join('\n');
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function measureRestAgainstCopy(rows: TradeRow[]): Promise<void> {
  const db = await createBenchDatabase();
  const tmp = mkdtempSync(join(tmpdir(), 'mds-bench-trades-'));
  const app = await createApp(loadSettings({ DATABASE_URL: db.url, LOG_LEVEL: 'warn' }));
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  const sql = new Client({ connectionString: db.url });
  await sql.connect();
  const serverVersion = (
    await sql.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)
  ).rows[0].v;
  const bodies = (instrument: string) => {
    const out: string[] = [];
    for (let at = 0; at < rows.length; at += PER_REQUEST) {
      out.push(
        JSON.stringify({
          instrument_id: instrument,
          data_type: 'TRADE',
          data_points: rows.slice(at, at + PER_REQUEST).map(pointOf),
        }),
      );
    }
    return out;
  };
  const post = async (body: string, expected: number) => {
    const res = await fetch(`${base}/api/v1/storage/store`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const answer = (await res.json()) as { stored_count: number };
    if (res.status !== 200 || answer.stored_count !== expected) {
      throw new Error(`store failed: ${res.status} ${JSON.stringify(answer).slice(0, 300)}`);
    }
  };
  // Warm-up: JIT, pool, and (plain PostgreSQL) the partitions the baseline needs.
  for (const body of bodies('WARMUP')) await post(body, Math.min(PER_REQUEST, rows.length));

  const copyMs: number[] = [];
  const restNew: number[] = [];
  const restAgain: number[] = [];
  const restTwoAtOnce: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const csvFile = join(tmp, `r${round}.csv`);
    writeFileSync(csvFile, csvOf(`COPY${round}`, rows));
    copyMs.push(
      timePsql(
        db.url,
        `\\copy market_trades_ts ("timestamp", instrument_id, trade_id, price, size, conditions, quality_score, source) FROM '${csvFile}' WITH (FORMAT csv)`,
      ),
    );
    // The bodies are built before the clock starts: the client's JSON encoding is not the service's cost.
    const requests = bodies(`REST${round}`);
    for (const target of [restNew, restAgain]) {
      const started = performance.now();
      for (const body of requests) await post(body, Math.min(PER_REQUEST, rows.length));
      target.push(performance.now() - started);
    }
    // The same rows for another instrument, two requests in flight (two connections, as DESIGN 8 measured for bars).
    const parallel = bodies(`PAR${round}`);
    const started = performance.now();
    for (let i = 0; i < parallel.length; i += 2) {
      await Promise.all(
        parallel.slice(i, i + 2).map((body) => post(body, Math.min(PER_REQUEST, rows.length))),
      );
    }
    restTwoAtOnce.push(performance.now() - started);
  }
  const rate = (ms: number) => Math.round(rows.length / (ms / 1000));
  const copyRate = rate(median(copyMs));
  const line = (path: string, ms: number[]) => [
    path,
    Math.round(median(ms)),
    rate(median(ms)),
    (rate(median(ms)) / copyRate).toFixed(2),
  ];
  printTable(
    `Ingest of ${rows.length.toLocaleString('en')} trades (microsecond timestamps, ${PER_REQUEST.toLocaleString('en')} per request, one client), median of ${ROUNDS} (${machineLine(serverVersion)})`,
    ['path', 'median ms', 'rows/s', 'x psql \\copy'],
    [
      [
        'psql \\copy into market_trades_ts (baseline)',
        Math.round(median(copyMs)),
        copyRate,
        '1.00',
      ],
      line('REST POST /store data_type TRADE, new rows', restNew),
      line('REST POST /store, same rows again (upsert)', restAgain),
      line('REST POST /store, new rows, 2 requests at once', restTwoAtOnce),
    ],
  );
  await sql.end();
  await app.close();
  await db.drop();
  rmSync(tmp, { recursive: true, force: true });
}

async function measureCompression(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mds-bench-trades-ts-'));
  const connection = await DatabaseConnection.open(
    loadSettings({ DATA_DIR: dataDir, LOG_LEVEL: 'error' }),
  );
  try {
    const repo = new TradesRepository(connection);
    const rows = makeTradeRows('2025-06-02T13:30:00Z', COMPRESSION_TRADES, 5);
    for (let at = 0; at < rows.length; at += 100_000) {
      await repo.upsertTrades([{ instrumentId: 'CMP', trades: rows.slice(at, at + 100_000) }]);
    }
    const { rows: sizeBefore } = await connection.pool.query<{ bytes: string }>(
      `SELECT hypertable_size('market_trades_ts')::text AS bytes`,
    );
    const chunks = await repo.maintenance.compressChunksEndedBefore(Date.UTC(2100, 0, 1));
    const ratio = await repo.maintenance.measureCompressionRatio('CMP');
    const { rows: sizeAfter } = await connection.pool.query<{ bytes: string }>(
      `SELECT hypertable_size('market_trades_ts')::text AS bytes`,
    );
    const csv = csvOf('CMP', rows);
    const gzip = 1 - gzipSync(csv).length / Buffer.byteLength(csv);
    const hours = (rows[rows.length - 1].timestampUs - rows[0].timestampUs) / 3_600e6;
    printTable(
      `Compression of ${rows.length.toLocaleString('en')} trades of one instrument over ${hours.toFixed(1)} hours (${chunks.length} one-day chunks; prices in cents, mostly round-lot sizes, ids "T{n}"), embedded TimescaleDB`,
      ['measure', 'value'],
      [
        ['compression ratio (1 - after/before, chunk_compression_stats)', ratio.toFixed(3)],
        ['hypertable bytes before', Number(sizeBefore[0].bytes).toLocaleString('en')],
        ['hypertable bytes after', Number(sizeAfter[0].bytes).toLocaleString('en')],
        ['bytes per trade after', (Number(sizeAfter[0].bytes) / rows.length).toFixed(1)],
        ['gzip of the same rows as CSV, for reference', gzip.toFixed(3)],
      ],
    );
  } finally {
    await connection.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function runTradesBench(): Promise<void> {
  Logger.overrideLogger(['error', 'warn']);
  await measureRestAgainstCopy(makeTradeRows('2025-06-02T13:30:00Z', TRADES, 9));
  await measureCompression();
}
