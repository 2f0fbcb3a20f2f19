import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { makeBars } from '../test/support/bars';
import { drain, load } from './load';
import { BenchServer, forkService } from './processes';
import { vacuumAnalyze } from './query';
import {
  asciiChart,
  bySize,
  conditionsLine,
  createBenchDatabase,
  ms,
  printTable,
  readMachine,
  recordChart,
  recordConditions,
} from './support';

/**
 * The scale curve: REST ingest rate and 30-day query p95 as the table grows.
 * Each level is reached by COPY of realistic bars of more instruments (set-up,
 * not measured), then measured through the service: 10,000-point POST
 * /store requests from 4 clients into a new instrument, and an uncached
 * 30-day ONE_MINUTE query (43,200 rows) of a stored instrument, 1 client.
 */
const BARS_PER_INSTRUMENT = 250_000; // about 174 days of 1-minute bars
const START_MS = Date.parse('2025-01-01T00:00:00Z');
const BATCH = 10_000;
const INGEST_CLIENTS = 4;

const levels = () =>
  bySize({
    smoke: [20_000, 50_000],
    small: [250_000, 1_000_000],
    default: [1_000_000, 5_000_000],
    large: [1_000_000, 5_000_000, 20_000_000],
  });
const ingestRows = () => bySize({ smoke: 10_000, small: 40_000, default: 100_000, large: 200_000 });
const queryS = () => bySize({ smoke: 1, small: 3, default: 5, large: 10 });

/** COPYs `count` bars of `instrument` (fresh series) straight into market_data_ts. */
async function copyBars(client: Client, instrument: string, count: number, seed: number) {
  const bars = makeBars(new Date(START_MS).toISOString(), count, 60_000, seed);
  const lines = function* () {
    for (let i = 0; i < bars.length; i += 5000) {
      yield bars
        .slice(i, i + 5000)
        .map(
          (b) =>
            `${b.timestamp}\t${instrument}\tONE_MINUTE\t${b.open}\t${b.high}\t${b.low}\t${b.close}\t${b.volume}\t${b.dollar_volume}\t${b.trade_count}\n`,
        )
        .join('');
    }
  };
  await pipeline(
    Readable.from(lines()),
    client.query(
      copyFrom(
        `COPY market_data_ts ("timestamp", instrument_id, timeframe, open_price, high_price, low_price, close_price, volume, dollar_volume, trade_count) FROM STDIN`,
      ),
    ),
  );
}

async function post(base: string, instrument: string, points: unknown[]): Promise<void> {
  const res = await fetch(`${base}/api/v1/storage/store`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      instrument_id: instrument,
      timeframe: 'ONE_MINUTE',
      data_points: points,
    }),
  });
  const body = (await res.json()) as { stored_count: number };
  if (res.status !== 200 || body.stored_count !== points.length)
    throw new Error(`store failed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
}

/** New rows through POST /store: `total` bars in 10,000-point requests from 4 clients; rows/s. */
async function measureIngest(base: string, instrument: string, total: number): Promise<number> {
  const bars = makeBars(new Date(START_MS).toISOString(), total, 60_000, 4242);
  const batches: (typeof bars)[] = [];
  for (let i = 0; i < total; i += BATCH) batches.push(bars.slice(i, i + BATCH));
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: INGEST_CLIENTS }, async () => {
      while (next < batches.length) {
        const batch = batches[next++];
        await post(base, instrument, batch);
      }
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

interface Level {
  readonly rows: number;
  readonly sizeMb: number;
  readonly ingestRps: number;
  readonly p50: number;
  readonly p95: number;
  readonly queryRps: number;
}

export async function runScaleBench(): Promise<void> {
  const machine = await readMachine();
  const db = await createBenchDatabase();
  let service: BenchServer | undefined;
  const sql = new Client({ connectionString: db.url });
  try {
    service = await forkService({
      DATABASE_URL: db.url,
      LOG_LEVEL: 'warn',
      STATS_REFRESH_INTERVAL_MS: '0',
      // Load from one address, not abuse: the per-client rate limit would answer 429s.
      RATE_LIMIT_REQUESTS: '0',
    });
    await sql.connect();
    // The partitions (plain PostgreSQL) come from the service's own write path.
    for (let m = START_MS; m < START_MS + BARS_PER_INSTRUMENT * 60_000; m += 20 * 86_400_000)
      await post(service.base, 'SCALE.PREP', [makeBars(new Date(m).toISOString(), 1)[0]]);
    const results: Level[] = [];
    let stored = 0;
    let instruments = 0;
    for (const target of levels()) {
      while (stored < target) {
        const count = Math.min(BARS_PER_INSTRUMENT, target - stored);
        await copyBars(sql, `S${instruments}`, count, 100 + instruments);
        instruments++;
        stored += count;
      }
      await vacuumAnalyze(db.url);
      const ingestRps = await measureIngest(service.base, `SCALE.IN${target}`, ingestRows());
      await vacuumAnalyze(db.url);
      // Instrument S0 has the first 30 days; end_time moves inside its last minute: each request a cache miss.
      const from = new Date(START_MS).toISOString();
      const to = START_MS + 30 * 86_400_000;
      let jitter = 0;
      const path = () =>
        `/api/v1/storage/query?instrument_id=S0&timeframe=ONE_MINUTE&start_time=${from}&end_time=${new Date(to - 59_999 + (jitter = (jitter + 1) % 59_999)).toISOString()}&limit=43200`;
      const query = await load(service.base, path, 1, queryS());
      await drain(service.base, path());
      const size = await sql.query<{ mb: number }>(
        `SELECT sum(pg_total_relation_size(c.oid)) / 1048576.0 AS mb FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'market_data_ts'::regclass`,
      );
      const rows = Number(
        (await sql.query<{ n: string }>('SELECT count(*) AS n FROM market_data_ts')).rows[0].n,
      );
      results.push({
        rows,
        sizeMb: Number(size.rows[0].mb),
        ingestRps,
        p50: query.p50,
        p95: query.p95,
        queryRps: query.rps,
      });
      console.log(
        `${rows.toLocaleString('en')} rows: ingest ${Math.round(ingestRps)} rows/s, 30-day p95 ${ms(query.p95)} ms`,
      );
    }
    recordConditions({
      'scale levels': levels()
        .map((l) => l.toLocaleString('en'))
        .join(', '),
      'scale fill': `COPY of ${BARS_PER_INSTRUMENT.toLocaleString('en')} realistic 1-minute bars per instrument, then VACUUM ANALYZE`,
      'scale ingest': `${ingestRows().toLocaleString('en')} new rows, 10,000-point POST /store requests, ${INGEST_CLIENTS} clients`,
      'scale query': `30-day ONE_MINUTE (43,200 rows), uncached, 1 client, ${queryS()} s`,
    });
    const first = results[0];
    printTable(
      `Scale curve on the local PostgreSQL (${conditionsLine(machine)})`,
      [
        'stored rows',
        'table + indexes MiB',
        'ingest rows/s',
        'ingest x first level',
        '30-day p50 ms',
        '30-day p95 ms',
        'p95 x first level',
      ],
      results.map((r) => [
        r.rows.toLocaleString('en'),
        r.sizeMb.toFixed(0),
        Math.round(r.ingestRps).toLocaleString('en'),
        `${(r.ingestRps / first.ingestRps).toFixed(2)}x`,
        ms(r.p50),
        ms(r.p95),
        `${(r.p95 / first.p95).toFixed(2)}x`,
      ]),
    );
    recordChart(
      '30-day query latency by stored rows (ms, log scale)',
      asciiChart(
        results.map((r) => ({
          label: `${(r.rows / 1e6).toFixed(r.rows < 1e6 ? 2 : 0)}M rows`,
          values: [
            { name: 'p50', value: r.p50 },
            { name: 'p95', value: r.p95 },
          ],
        })),
        'ms',
      ),
    );
  } finally {
    await sql.end().catch(() => undefined);
    await service?.stop();
    await db.drop();
  }
}
