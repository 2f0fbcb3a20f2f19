import { connect, JetStreamClient, NatsConnection } from 'nats';
import { randomUUID } from 'node:crypto';
import { EventSubjects, natsSubjects } from '../../src/events/event-subjects';
import { BarPoint, makeBars } from './bars';
import { request } from './test-app';

export const NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** Stream, consumer and subjects of one suite: nothing shared with another suite on the server. */
export interface EventNames {
  readonly stream: string;
  readonly consumer: string;
  readonly subjects: EventSubjects;
  /** The settings that point the app at them. */
  readonly env: Record<string, string>;
}

export function uniqueEventNames(suite: string, env: Record<string, string> = {}): EventNames {
  const id = `${suite}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  const prefix = `test.${id}.`;
  const names = { stream: `T_${id}`, consumer: `c_${id}`, subjects: natsSubjects(prefix) };
  return {
    ...names,
    env: {
      NATS_URL,
      NATS_STREAM: names.stream,
      NATS_CONSUMER: names.consumer,
      NATS_SUBJECT_PREFIX: prefix,
      ...env,
    },
  };
}

/** A normalized_market_data event of the spec for one bar. */
export interface MarketDataEventPayload {
  event_id: string;
  timestamp: string;
  market_data: {
    instrument_id: string;
    timeframe: string;
    timestamp: string;
    ohlcv_data: Record<string, unknown>;
    quality_score: number;
    source_attribution: string;
  };
}

export function eventOf(
  instrumentId: string,
  bar: BarPoint,
  timeframe = 'ONE_MINUTE',
): MarketDataEventPayload {
  const { timestamp, ...ohlcv } = bar;
  return {
    event_id: randomUUID(),
    timestamp: new Date().toISOString(),
    market_data: {
      instrument_id: instrumentId,
      timeframe,
      timestamp,
      ohlcv_data: ohlcv,
      quality_score: 0.95,
      source_attribution: 'test-feed',
    },
  };
}

/** A batch event: the spec's envelope with `market_data` an array of one series' bars. */
export function batchEventOf(instrumentId: string, bars: readonly BarPoint[]) {
  return {
    event_id: randomUUID(),
    timestamp: new Date().toISOString(),
    market_data: bars.map((bar) => eventOf(instrumentId, bar).market_data),
  };
}

/** `perInstrument` 1-minute bars for each instrument, as events, interleaved across instruments. */
export function makeEvents(
  instruments: readonly string[],
  perInstrument: number,
  startIso = '2024-01-02T00:00:00Z',
): MarketDataEventPayload[] {
  const series = instruments.map((id, i) => makeBars(startIso, perInstrument, 60_000, i + 1));
  const events: MarketDataEventPayload[] = [];
  for (let n = 0; n < perInstrument; n++) {
    instruments.forEach((id, i) => events.push(eventOf(id, series[i][n])));
  }
  return events;
}

export async function connectNats(): Promise<NatsConnection> {
  return connect({ servers: NATS_URL, name: 'mds-test' });
}

/** JetStream publish of each payload (strings are sent as they are), `window` at a time. */
export async function publishAll(
  js: JetStreamClient,
  subject: string,
  payloads: readonly unknown[],
  window = 500,
): Promise<void> {
  const encoder = new TextEncoder();
  for (let i = 0; i < payloads.length; i += window) {
    await Promise.all(
      payloads
        .slice(i, i + window)
        .map((p) =>
          js.publish(subject, encoder.encode(typeof p === 'string' ? p : JSON.stringify(p))),
        ),
    );
  }
}

/** Every message on a core subscription, parsed as JSON. */
export class Collector<T = any> {
  readonly received: T[] = [];

  constructor(nc: NatsConnection, subject: string) {
    const sub = nc.subscribe(subject);
    void (async () => {
      for await (const m of sub) this.received.push(JSON.parse(m.string()) as T);
    })();
  }
}

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Until the app's JetStream consumer pulls (health says so). */
export async function waitForConsumer(baseUrl: string): Promise<void> {
  await waitFor('the JetStream consumer', async () => {
    const res = await request(baseUrl, 'GET', '/api/v1/storage/health');
    return res.body?.events?.nats?.consumer_state === 'consuming';
  });
}

export async function deleteStream(nc: NatsConnection, stream: string): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(stream).catch(() => undefined);
}

/** Rows of a series in a range, through the API. */
export async function countStored(
  baseUrl: string,
  instrumentId: string,
  startIso = '2024-01-01T00:00:00Z',
  endIso = '2025-01-01T00:00:00Z',
): Promise<number> {
  const params = new URLSearchParams({
    instrument_id: instrumentId,
    timeframe: 'ONE_MINUTE',
    start_time: startIso,
    end_time: endIso,
    limit: '1',
  });
  const res = await request(baseUrl, 'GET', `/api/v1/storage/query?${params.toString()}`);
  if (res.status !== 200) throw new Error(`query failed: ${res.status} ${res.text}`);
  return res.body.total_count as number;
}

/** Sum of stored_count over the market_data_stored events received for `instruments`. */
export function storedCountOf(
  outputs: readonly { storage_data: { instrument_id: string; stored_count: number } }[],
  instruments: readonly string[],
): number {
  const wanted = new Set(instruments);
  return outputs
    .filter((o) => wanted.has(o.storage_data.instrument_id))
    .reduce((n, o) => n + o.storage_data.stored_count, 0);
}
