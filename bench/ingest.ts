import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { createApp } from '../src/app.factory';
import { loadSettings } from '../src/settings/settings';
import { makeBars, BarPoint } from '../test/support/bars';
import { createBenchDatabase, machineLine, printTable, recordBudget, timePsql } from './support';

/**
 * REST ingest of realistic 1-minute bars (DESIGN 8, issue 6): requests of
 * 1,000 and 10,000 points from 1 and 4 concurrent clients, new rows (each
 * client appends to its own instrument) and then the same requests again
 * with other values (upserts of existing rows). Each case against `psql
 * \copy` of the same rows (CSV) into the same table, timed right before it
 * in the same run. The clients run in the bench process (bodies serialized
 * before the clock starts); the service in the same process, as deployed
 * with its database on the same 2 cores.
 */
const POINTS = Number(process.env.BENCH_POINTS ?? 100_000);
const REQUEST_SIZES = [1_000, 10_000];
const CLIENTS = [1, 4];
const START = '2024-01-01T00:00:00Z';

interface Case {
  readonly size: number;
  readonly clients: number;
}

export function csvOf(instrument: string, bars: readonly BarPoint[]): string {
  return bars
    .map(
      (b) =>
        `${b.timestamp},${instrument},ONE_MINUTE,${b.open},${b.high},${b.low},${b.close},${b.volume},${b.dollar_volume},${b.trade_count}`,
    )
    .join('\n');
}

/** Per client: its instrument and its request bodies, in order. */
function requestsOf(label: string, { size, clients }: Case, seed: number): string[][] {
  const perClient = Math.ceil(POINTS / clients);
  return Array.from({ length: clients }, (_, c) => {
    const bars = makeBars(START, perClient, 60_000, seed + c);
    const bodies: string[] = [];
    for (let at = 0; at < bars.length; at += size) {
      bodies.push(
        JSON.stringify({
          instrument_id: `${label}${c}`,
          timeframe: 'ONE_MINUTE',
          data_points: bars.slice(at, at + size),
        }),
      );
    }
    return bodies;
  });
}

/** Every client sends its requests one after the other, all clients at once; returns wall ms. */
async function sendAll(url: string, perClient: string[][]): Promise<number> {
  const started = performance.now();
  await Promise.all(
    perClient.map(async (bodies) => {
      for (const body of bodies) {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        const answer = (await res.json()) as { stored_count?: number; failed_count?: number };
        if (res.status !== 200 || answer.failed_count !== 0) {
          throw new Error(`store failed: ${res.status} ${JSON.stringify(answer).slice(0, 300)}`);
        }
      }
    }),
  );
  return performance.now() - started;
}

export async function runIngestBench(): Promise<void> {
  const db = await createBenchDatabase();
  const tmp = mkdtempSync(join(tmpdir(), 'mds-bench-'));
  // The fixtures are of 2024: kept forever, or the default retention would refuse them.
  const app = await createApp(
    loadSettings({ DATABASE_URL: db.url, LOG_LEVEL: 'warn', RETENTION_DEFAULT_DAYS: 'forever' }),
  );
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  const storeUrl = `${base}/api/v1/storage/store`;
  const sql = new Client({ connectionString: db.url });
  await sql.connect();
  const serverVersion = (
    await sql.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)
  ).rows[0].v;
  try {
    // Warm-up through the API: JIT, pool, and (plain PostgreSQL) the partitions the baseline needs.
    await sendAll(storeUrl, requestsOf('WARMUP', { size: 10_000, clients: 1 }, 1));

    const rows: (string | number)[][] = [];
    const loads: number[] = [];
    const rate = (ms: number) => Math.round(POINTS / (ms / 1000));
    for (const size of REQUEST_SIZES) {
      for (const clients of CLIENTS) {
        const label = `R${size / 1000}K${clients}C`;
        const fresh = requestsOf(label, { size, clients }, 10);
        const overwrite = requestsOf(label, { size, clients }, 20);
        loads.push(loadavg()[0]);

        // Baseline: the same number of rows by psql \copy into the same table (new rows).
        const csvFile = join(tmp, `${label}.csv`);
        writeFileSync(csvFile, csvOf(`${label}C`, makeBars(START, POINTS, 60_000, 10)));
        const copyMs = timePsql(
          db.url,
          `\\copy market_data_ts ("timestamp", instrument_id, timeframe, open_price, high_price, low_price, close_price, volume, dollar_volume, trade_count) FROM '${csvFile}' WITH (FORMAT csv)`,
        );
        const newMs = await sendAll(storeUrl, fresh);
        const upsertMs = await sendAll(storeUrl, overwrite);

        const { rows: counted } = await sql.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM market_data_ts WHERE instrument_id LIKE $1 AND instrument_id <> $2`,
          [`${label}%`, `${label}C`],
        );
        if (counted[0].n !== Math.ceil(POINTS / clients) * clients) {
          throw new Error(`${label}: expected ${POINTS} rows, found ${counted[0].n}`);
        }
        const copyRate = rate(copyMs);
        const row = (what: string, ms: number) => [
          `${size.toLocaleString('en')} x ${clients}`,
          what,
          Math.round(ms),
          rate(ms),
          (rate(ms) / copyRate).toFixed(2),
        ];
        rows.push(
          row('psql \\copy (baseline)', copyMs),
          row('REST new rows', newMs),
          row('REST upsert (existing rows)', upsertMs),
        );
        // DESIGN 8's budgets are for 10,000-point requests from 4 clients.
        if (size === 10_000 && clients === 4) {
          for (const [what, ms, target] of [
            ['new rows', newMs, 0.5],
            ['upserts of existing rows', upsertMs, 0.3],
          ] as const) {
            const ratio = rate(ms) / copyRate;
            recordBudget({
              name: `REST ingest, ${what}, 10,000-point requests x 4 clients, x psql \\copy`,
              target: `>= ${target}x`,
              measured: `${ratio.toFixed(2)}x`,
              pass: ratio >= target,
            });
          }
        }
      }
    }
    printTable(
      `REST ingest of ${POINTS.toLocaleString('en')} 1-minute bars per case, POST /store (points per request x concurrent clients); load average ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} (${machineLine(serverVersion)})`,
      ['request x clients', 'path', 'ms', 'rows/s', 'x psql \\copy'],
      rows,
    );
  } finally {
    await sql.end();
    await app.close();
    await db.drop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
