import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { createApp } from '../src/app.factory';
import { loadSettings } from '../src/settings/settings';
import { makeBars, BarPoint } from '../test/support/bars';
import { createBenchDatabase, machineLine, printTable, timePsql } from './support';

/**
 * REST ingest of 1-minute bars against `psql \copy` of the same rows into the
 * same table, in one run on the local PostgreSQL. Each case writes a new
 * instrument (append) and then the same rows again (upsert of existing rows).
 */
const POINTS = Number(process.env.BENCH_POINTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function csvOf(instrument: string, bars: BarPoint[]): string {
  return bars
    .map(
      (b) =>
        `${b.timestamp},${instrument},ONE_MINUTE,${b.open},${b.high},${b.low},${b.close},${b.volume},${b.dollar_volume},${b.trade_count}`,
    )
    .join('\n');
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function runIngestBench(): Promise<void> {
  const db = await createBenchDatabase();
  const tmp = mkdtempSync(join(tmpdir(), 'mds-bench-'));
  const app = await createApp(loadSettings({ DATABASE_URL: db.url, LOG_LEVEL: 'warn' }));
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  const sql = new Client({ connectionString: db.url });
  await sql.connect();
  const serverVersion = (
    await sql.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)
  ).rows[0].v;

  const bars = makeBars('2024-01-01T00:00:00Z', POINTS);
  // Warm-up through the API: JIT, pool, and (plain PostgreSQL) the partitions the baseline needs.
  await fetch(`${base}/api/v1/storage/store`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instrument_id: 'WARMUP', timeframe: 'ONE_MINUTE', data_points: bars }),
  });
  const copyMs: number[] = [];
  const copyUpsertBase: number[] = [];
  const restNew: number[] = [];
  const restUpsert: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Baseline: psql \copy of the same rows into the same table (new rows).
    const csvFile = join(tmp, `r${round}.csv`);
    writeFileSync(csvFile, csvOf(`COPY${round}`, bars));
    copyMs.push(
      timePsql(
        db.url,
        `\\copy market_data_ts ("timestamp", instrument_id, timeframe, open_price, high_price, low_price, close_price, volume, dollar_volume, trade_count) FROM '${csvFile}' WITH (FORMAT csv)`,
      ),
    );
    copyUpsertBase.push(copyMs[copyMs.length - 1]);

    const body = JSON.stringify({
      instrument_id: `REST${round}`,
      timeframe: 'ONE_MINUTE',
      data_points: bars,
    });
    for (const target of [restNew, restUpsert]) {
      const started = performance.now();
      const res = await fetch(`${base}/api/v1/storage/store`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      const answer = (await res.json()) as { stored_count: number };
      if (res.status !== 200 || answer.stored_count !== POINTS) {
        throw new Error(`store failed: ${res.status} ${JSON.stringify(answer).slice(0, 300)}`);
      }
      target.push(performance.now() - started);
    }
  }
  const rate = (ms: number) => Math.round(POINTS / (ms / 1000));
  const copyRate = rate(median(copyMs));
  printTable(
    `Ingest of ${POINTS.toLocaleString('en')} 1-minute bars in one request, median of ${ROUNDS} (${machineLine(serverVersion)})`,
    ['path', 'median ms', 'rows/s', 'x psql \\copy'],
    [
      ['psql \\copy (baseline, new rows)', Math.round(median(copyMs)), copyRate, '1.00'],
      [
        'REST POST /store, new rows',
        Math.round(median(restNew)),
        rate(median(restNew)),
        (rate(median(restNew)) / copyRate).toFixed(2),
      ],
      [
        'REST POST /store, same rows again (upsert)',
        Math.round(median(restUpsert)),
        rate(median(restUpsert)),
        (rate(median(restUpsert)) / copyRate).toFixed(2),
      ],
    ],
  );
  await sql.end();
  await app.close();
  await db.drop();
  rmSync(tmp, { recursive: true, force: true });
}
