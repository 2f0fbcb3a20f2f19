import { createHash } from 'node:crypto';
import { JetStreamClient } from 'nats';
import { Client } from 'pg';
import { MarketDataEventPayload, publishAll, waitFor } from './events';

/**
 * Exactly-once checks of event ingest against the database itself: the rows,
 * their keys and a checksum of every stored value against the events
 * published.
 */

/** The values of a bar as PostgreSQL prints them: a line of the checksum. */
function lineOf(e: MarketDataEventPayload): string {
  const o = e.market_data.ohlcv_data as Record<string, number>;
  const epoch = Date.parse(e.market_data.timestamp) / 1000;
  return [
    e.market_data.instrument_id,
    epoch,
    o.open,
    o.high,
    o.low,
    o.close,
    o.volume,
    o.dollar_volume,
    o.trade_count,
  ].join(',');
}

export function checksumOf(events: readonly MarketDataEventPayload[]): string {
  const lines = events.map(lineOf).sort();
  return createHash('md5').update(lines.join(';')).digest('hex');
}

/** Of every bar, or of the instruments starting with `prefix`. */
export async function storedChecksum(
  pg: Client,
  prefix = '',
): Promise<{ rows: number; keys: number; checksum: string }> {
  const { rows } = await pg.query<{ rows: number; keys: number; lines: string[] | null }>(
    `SELECT count(*)::int AS rows,
            count(DISTINCT (instrument_id, timeframe, "timestamp"))::int AS keys,
            array_agg(concat_ws(',', instrument_id, extract(epoch FROM "timestamp")::bigint,
                                open_price, high_price, low_price, close_price, volume,
                                dollar_volume, trade_count)) AS lines
       FROM market_data_ts WHERE starts_with(instrument_id, $1)`,
    [prefix],
  );
  const lines = (rows[0].lines ?? []).sort();
  return {
    rows: rows[0].rows,
    keys: rows[0].keys,
    checksum: createHash('md5').update(lines.join(';')).digest('hex'),
  };
}

export async function countRows(pg: Client, prefix = ''): Promise<number> {
  const { rows } = await pg.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM market_data_ts WHERE starts_with(instrument_id, $1)',
    [prefix],
  );
  return rows[0].n;
}

/** Publishes in small windows with pauses: a stream that lasts a few seconds. */
export async function publishSlowly(
  js: JetStreamClient,
  subject: string,
  events: readonly MarketDataEventPayload[],
  progress: { published: number },
): Promise<void> {
  for (let i = 0; i < events.length; i += 200) {
    await publishAll(js, subject, events.slice(i, i + 200));
    progress.published = Math.min(i + 200, events.length);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits until as many bars as `events` are stored (of the instruments
 * starting with `prefix`), then asserts each event is stored exactly once
 * with its values: rows, keys and the checksum of every value.
 */
export async function expectStoredExactlyOnce(
  pg: Client,
  events: readonly MarketDataEventPayload[],
  prefix = '',
): Promise<void> {
  await waitFor(
    'every event stored',
    async () => (await countRows(pg, prefix)) >= events.length,
    120_000,
    200,
  );
  expect(await storedChecksum(pg, prefix)).toEqual({
    rows: events.length,
    keys: events.length,
    checksum: checksumOf(events),
  });
}
