import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, NatsConnection } from 'nats';
import { Client } from 'pg';
import { createApp } from '../src/app.factory';
import { ensureStream } from '../src/events/jetstream-setup';
import { loadSettings } from '../src/settings/settings';
import { makeEvents, MarketDataEventPayload, publishAll } from '../test/support/events';
import { uniqueEventNames } from '../test/support/events';
import { createBenchDatabase, machineLine, printTable, timePsql } from './support';

/**
 * Event ingest: N bars published as normalized_market_data events on
 * JetStream while the service is stopped, then the service started and timed
 * until market_data_stored has announced every row; against `psql \copy` of
 * the same rows into the same table in the same run. Then the same events
 * again (every row exists: upserts).
 */
const POINTS = Number(process.env.BENCH_POINTS ?? 100_000);
const INSTRUMENTS = 20;
const NATS_URL = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';

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
    const total = events.length;
    await ensureStream(await nc.jetstreamManager(), names.stream, names.subjects);

    const publishStarted = performance.now();
    await publishAll(js, names.subjects.input, events, 1_000);
    const publishMs = performance.now() - publishStarted;

    // New rows: the service starts on a backlog of `total` events.
    let app = await createApp(settings);
    await app.init();
    const newMs = await consumeAll(app, nc, names.subjects.output, total);
    await app.close();

    // Baseline: psql \copy of the same rows (other instrument names: new rows too).
    const csvFile = join(tmp, 'events.csv');
    writeFileSync(csvFile, csvOf(events, 'C'));
    const copyMs = timePsql(
      db.url,
      `\\copy market_data_ts ("timestamp", instrument_id, timeframe, open_price, high_price, low_price, close_price, volume, dollar_volume, trade_count, quality_score, source) FROM '${csvFile}' WITH (FORMAT csv)`,
    );

    // The same events again: every row exists, each is an upsert.
    await publishAll(js, names.subjects.input, events, 1_000);
    app = await createApp(settings);
    await app.init();
    const upsertMs = await consumeAll(app, nc, names.subjects.output, total);
    await app.close();

    const { rows } = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM market_data_ts WHERE instrument_id LIKE 'BE%' AND instrument_id NOT LIKE '%C'`,
    );
    if (rows[0].n !== total)
      throw new Error(`expected ${total} rows from events, found ${rows[0].n}`);

    const rate = (ms: number) => Math.round(total / (ms / 1000));
    const copyRate = rate(copyMs);
    printTable(
      `Event ingest of ${total.toLocaleString('en')} 1-minute bars (${INSTRUMENTS} instruments, EVENT_BATCH_MAX ${settings.events.batchMax}) over NATS JetStream (${machineLine(serverVersion)})`,
      ['path', 'ms', 'rows/s', 'x psql \\copy'],
      [
        ['psql \\copy (baseline, new rows)', Math.round(copyMs), copyRate, '1.00'],
        [
          'events, new rows (backlog consumed)',
          Math.round(newMs),
          rate(newMs),
          (rate(newMs) / copyRate).toFixed(2),
        ],
        [
          'events, same rows again (upsert)',
          Math.round(upsertMs),
          rate(upsertMs),
          (rate(upsertMs) / copyRate).toFixed(2),
        ],
        ['(publishing the events, for reference)', Math.round(publishMs), rate(publishMs), '-'],
      ],
    );
  } finally {
    await (await nc.jetstreamManager()).streams.delete(names.stream).catch(() => undefined);
    await nc.close();
    await sql.end();
    await db.drop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
