import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { connect, NatsConnection } from 'nats';
import { Client } from 'pg';
import { createApp } from '../src/app.factory';
import { ensureStream } from '../src/events/jetstream-setup';
import { loadSettings } from '../src/settings/settings';
import { makeEvents, MarketDataEventPayload, publishAll } from '../test/support/events';
import { uniqueEventNames } from '../test/support/events';
import { buildService, runWithWorkers, WorkersRun } from './event-workers';
import {
  benchSize,
  createBenchDatabase,
  machineLine,
  printTable,
  recordBudget,
  timePsql,
} from './support';

/**
 * Event ingest: N bars published as normalized_market_data events on
 * JetStream while the service is stopped, then the service started and timed
 * until market_data_stored has announced every row; against `psql \copy` of
 * the same rows into the same table in the same run. Then the same events
 * again (every row exists: upserts). Then the same bars as batch events
 * (bar-batch-event.ts: many bars of one series per message), new and again.
 */
const POINTS = Number(process.env.BENCH_POINTS ?? 100_000);
const INSTRUMENTS = 20;
const NATS_URL = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
/** EVENT_WORKERS cases: worker counts, one-bar events per run, rounds (interleaved). */
const WORKER_COUNTS = (process.env.BENCH_EVENT_WORKERS ?? '1,2,4').split(',').map(Number);
const WORKER_POINTS = Number(process.env.BENCH_WORKER_POINTS ?? 200_000);
const WORKER_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

function csvOf(events: readonly MarketDataEventPayload[], instrumentSuffix: string): string {
  return events
    .map((e) => {
      const o = e.market_data.ohlcv_data as Record<string, number>;
      return `${e.market_data.timestamp},${e.market_data.instrument_id}${instrumentSuffix},ONE_MINUTE,${o.open},${o.high},${o.low},${o.close},${o.volume},${o.dollar_volume},${o.trade_count},${e.market_data.quality_score},${e.market_data.source_attribution}`;
    })
    .join('\n');
}

/** Starts the app's consumers and waits until `expected` rows were announced; returns ms. */
async function consumeAll(
  app: NestFastifyApplication,
  nc: NatsConnection,
  outputSubject: string,
  expected: number,
): Promise<number> {
  let stored = 0;
  const sub = nc.subscribe(outputSubject);
  const done = (async () => {
    for await (const m of sub) {
      stored += m.json<{ storage_data: { stored_count: number } }>().storage_data.stored_count;
      if (stored >= expected) return;
    }
  })();
  await nc.flush();
  const started = performance.now();
  await app.startAllMicroservices();
  await done;
  const ms = performance.now() - started;
  sub.unsubscribe();
  return ms;
}

/** Bars per message of the batch-event cases (one series per message). */
const BARS_PER_BATCH_EVENT = 100;

/** The same bars as batch events: each message holds BARS_PER_BATCH_EVENT bars of one instrument. */
function batchEventsOf(events: readonly MarketDataEventPayload[], prefix: string): unknown[] {
  const byInstrument = new Map<string, MarketDataEventPayload['market_data'][]>();
  for (const e of events) {
    const id = `${prefix}${e.market_data.instrument_id}`;
    const bars = byInstrument.get(id) ?? [];
    bars.push({ ...e.market_data, instrument_id: id });
    byInstrument.set(id, bars);
  }
  const batches: unknown[] = [];
  for (const bars of byInstrument.values()) {
    for (let i = 0; i < bars.length; i += BARS_PER_BATCH_EVENT) {
      batches.push({
        event_id: randomUUID(),
        timestamp: new Date().toISOString(),
        market_data: bars.slice(i, i + BARS_PER_BATCH_EVENT),
      });
    }
  }
  return batches;
}

/** The rates of the runs with `workers`, ascending, and their median (undefined when none was timed). */
function workerRates(runs: readonly WorkersRun[], workers: number) {
  const rates = runs
    .filter((r) => r.workers === workers && r.rate !== undefined)
    .map((r) => r.rate!)
    .sort((a, b) => a - b);
  return { rates, median: rates[Math.floor((rates.length - 1) / 2)] };
}

export async function runEventsBench(): Promise<void> {
  const db = await createBenchDatabase();
  const tmp = mkdtempSync(join(tmpdir(), 'mds-bench-events-'));
  const names = uniqueEventNames('bench');
  // EVENT_* settings from the environment apply (to compare batch sizes).
  const settings = loadSettings({
    ...process.env,
    ...names.env,
    NATS_URL,
    DATABASE_URL: db.url,
    LOG_LEVEL: 'warn',
    // The events are of 2024: kept forever, or the default retention would refuse them.
    RETENTION_DEFAULT_DAYS: 'forever',
  });
  const nc = await connect({ servers: NATS_URL });
  const js = nc.jetstream();
  const sql = new Client({ connectionString: db.url });
  await sql.connect();
  const serverVersion = (
    await sql.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)
  ).rows[0].v;
  try {
    const instruments = Array.from({ length: INSTRUMENTS }, (_, i) => `BE${i}`);
    const events = makeEvents(instruments, Math.ceil(POINTS / INSTRUMENTS));
    const batchEvents = batchEventsOf(events, 'B');
    const total = events.length;
    await ensureStream(await nc.jetstreamManager(), names.stream, names.subjects);

    /** Publishes `payloads` while the service is stopped, then times the service consuming them. */
    const consumeBacklog = async (payloads: readonly unknown[]) => {
      const publishStarted = performance.now();
      await publishAll(js, names.subjects.input, payloads, 1_000);
      const publishMs = performance.now() - publishStarted;
      const app = await createApp(settings);
      await app.init();
      const ms = await consumeAll(app, nc, names.subjects.output, total);
      await app.close();
      return { ms, publishMs };
    };

    // Spec events (one bar each): new rows, then the same again (upserts).
    const single = await consumeBacklog(events);

    // Baseline: psql \copy of the same rows (other instrument names: new rows too), the median
    // of three: one \copy of 100,000 rows took 590-925 ms from run to run on this machine.
    const copyRuns = [1, 2, 3].map((n) => {
      const csvFile = join(tmp, `events-${n}.csv`);
      writeFileSync(csvFile, csvOf(events, `C${n}`));
      return timePsql(
        db.url,
        `\\copy market_data_ts ("timestamp", instrument_id, timeframe, open_price, high_price, low_price, close_price, volume, dollar_volume, trade_count, quality_score, source) FROM '${csvFile}' WITH (FORMAT csv)`,
      );
    });
    const copyMs = [...copyRuns].sort((a, b) => a - b)[1];
    const singleUpsert = await consumeBacklog(events);

    // Batch events (BARS_PER_BATCH_EVENT bars of one series per message): new rows, then upserts.
    const batch = await consumeBacklog(batchEvents);
    const batchUpsert = await consumeBacklog(batchEvents);

    // EVENT_WORKERS: the built service as a process, worker counts interleaved, repeated.
    const workerRuns: WorkersRun[] = [];
    const workersSkipped =
      benchSize() === 'smoke'
        ? 'smoke size: the EVENT_WORKERS cases need a build and a backlog of 200,000 events'
        : undefined;
    if (workersSkipped) {
      console.log(`EVENT_WORKERS cases skipped (${workersSkipped})`);
    } else {
      buildService();
      const workerEvents = makeEvents(
        instruments,
        Math.ceil(WORKER_POINTS / INSTRUMENTS),
        '2024-03-01T00:00:00Z',
      );
      const env = {
        ...names.env,
        NATS_URL,
        DATABASE_URL: db.url,
        RETENTION_DEFAULT_DAYS: 'forever',
        STATS_REFRESH_INTERVAL_MS: '0',
      };
      for (let round = 1; round <= WORKER_ROUNDS; round++) {
        for (const workers of WORKER_COUNTS) {
          const run = await runWithWorkers(
            workers,
            workerEvents.map((e) => ({
              ...e,
              market_data: {
                ...e.market_data,
                instrument_id: `R${round}${e.market_data.instrument_id}`,
              },
            })),
            env,
            nc,
            js,
            names.subjects,
          );
          console.log(
            `EVENT_WORKERS=${workers} round ${round}: ${run.rate ?? '-'} rows/s over ${run.timedRows} rows in ${Math.round(run.timedMs)} ms`,
          );
          workerRuns.push(run);
        }
      }
    }

    for (const prefix of ['BE', 'BBE']) {
      const { rows } = await sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM market_data_ts WHERE instrument_id LIKE $1 AND instrument_id NOT LIKE '%C_'`,
        [`${prefix}%`],
      );
      if (rows[0].n !== total)
        throw new Error(`expected ${total} rows from ${prefix} events, found ${rows[0].n}`);
    }

    const rate = (ms: number) => Math.round(total / (ms / 1000));
    const copyRate = rate(copyMs);
    const ratio = (ms: number) => rate(ms) / copyRate;
    const row = (what: string, ms: number) => [
      what,
      Math.round(ms),
      rate(ms),
      ratio(ms).toFixed(2),
    ];
    printTable(
      `Event ingest of ${total.toLocaleString('en')} 1-minute bars (${INSTRUMENTS} instruments, EVENT_BATCH_MAX ${settings.events.batchMax}) over NATS JetStream (${machineLine(serverVersion)})`,
      ['path', 'ms', 'rows/s', 'x psql \\copy'],
      [
        [
          `psql \\copy (baseline, new rows; median of ${copyRuns.map((ms) => Math.round(ms)).join(', ')} ms)`,
          Math.round(copyMs),
          copyRate,
          '1.00',
        ],
        row('events of one bar (the spec), new rows', single.ms),
        row('events of one bar, same rows again (upsert)', singleUpsert.ms),
        row(`batch events of ${BARS_PER_BATCH_EVENT} bars, new rows`, batch.ms),
        row(
          `batch events of ${BARS_PER_BATCH_EVENT} bars, same rows again (upsert)`,
          batchUpsert.ms,
        ),
        ...WORKER_COUNTS.map((workers) => {
          const { rates, median } = workerRates(workerRuns, workers);
          const what = `events of one bar, new rows, EVENT_WORKERS=${workers} (the built service as a process; rows/s of each round: ${rates.join(', ') || 'none'})`;
          return median === undefined
            ? [what, '-', '-', workersSkipped ? 'skipped' : '-']
            : [what, '-', median, (median / copyRate).toFixed(2)];
        }),
        [
          '(publishing the one-bar events, for reference)',
          Math.round(single.publishMs),
          rate(single.publishMs),
          '-',
        ],
        [
          `(publishing the batch events, for reference)`,
          Math.round(batch.publishMs),
          rate(batch.publishMs),
          '-',
        ],
      ],
    );
    const bestWorkers = Math.max(
      0,
      ...WORKER_COUNTS.map((w) => workerRates(workerRuns, w).median ?? 0),
    );
    if (bestWorkers > 0) {
      recordBudget({
        name: 'event ingest over NATS JetStream, one-bar events with every core (EVENT_WORKERS), x psql \\copy',
        target: '>= 0.5x',
        measured: `${(bestWorkers / copyRate).toFixed(2)}x`,
        pass: bestWorkers / copyRate >= 0.5,
      });
    }
    for (const [what, ms] of [
      ['events of one bar (the spec)', single.ms],
      [`batch events of ${BARS_PER_BATCH_EVENT} bars`, batch.ms],
    ] as const) {
      recordBudget({
        name: `event ingest over NATS JetStream, new rows, ${what} x psql \\copy`,
        target: '>= 0.5x',
        measured: `${ratio(ms).toFixed(2)}x`,
        pass: ratio(ms) >= 0.5,
      });
    }
  } finally {
    await (await nc.jetstreamManager()).streams.delete(names.stream).catch(() => undefined);
    await nc.close();
    await sql.end();
    await db.drop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
