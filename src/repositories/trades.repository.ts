import { Inject, Injectable } from '@nestjs/common';
import { PointField, TimeFrame, TIMEFRAME_MS } from '../common/market-data.types';
import { allowDmlOnCompressedChunks, ISO_MS_SQL, ISO_US_SQL } from './bulk-sql';
import { BulkWriter } from './bulk-writer';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { Page, PointsPage, TimeRange } from './market-data.repository';
import { translatePgErrors } from '../database/pg-errors';
import { withTransaction } from '../database/sessions';
import { isoUs, MicroRange, TickPage, TickPosition, TickTableMaintenance } from './tick-tables';
import { TRADE_TABLE, TradeRow } from './write-tables';

export type { TradeRow };

/** Trades of one instrument; each (timestamp, key) once. */
export interface InstrumentTrades {
  readonly instrumentId: string;
  readonly trades: readonly TradeRow[];
}

/** Keys the service derives start with this; a producer's trade_id never does. */
export const DERIVED_KEY_PREFIX = '~';

/** The fields answered when none are asked for. */
export const TRADE_FIELDS = [
  'timestamp',
  'price',
  'size',
  'trade_id',
  'conditions',
  'source',
] as const;
/** Every field a trade query may ask for: the defaults, then the prevailing quote (as-of join). */
export const TRADE_FIELDS_ALL = [...TRADE_FIELDS, 'prevailing_bid', 'prevailing_ask'] as const;
export type TradeField = (typeof TRADE_FIELDS_ALL)[number];

/**
 * The prevailing quote of each trade (`pq`): the newest quote of the
 * instrument at or before the trade's microsecond, whatever its source. One
 * backward index probe per trade, joined only when a prevailing_* field is
 * asked for.
 */
const PREVAILING_QUOTE_JOIN = `LEFT JOIN LATERAL (
  SELECT q.bid, q.ask FROM market_quotes_ts q
   WHERE q.instrument_id = m.instrument_id AND q."timestamp" <= m."timestamp"
   ORDER BY q."timestamp" DESC, q.source DESC LIMIT 1) pq ON true`;

function prevailingJoin(fields: readonly TradeField[]): string {
  return fields.some((f) => f === 'prevailing_bid' || f === 'prevailing_ask')
    ? PREVAILING_QUOTE_JOIN
    : '';
}

/** Column expressions per response field: the only identifiers put into SQL text. */
const TRADE_FIELD_SQL: Readonly<Record<TradeField, string>> = {
  timestamp: `to_char(m."timestamp" AT TIME ZONE 'UTC', ${ISO_US_SQL})`,
  price: 'price',
  size: 'size',
  trade_id: `CASE WHEN left(trade_id, 1) = '${DERIVED_KEY_PREFIX}' THEN NULL ELSE trade_id END`,
  conditions: 'conditions',
  source: 'm.source',
  prevailing_bid: 'pq.bid',
  prevailing_ask: 'pq.ask',
};

/** Bars built from trades, per response field of a bar. */
const BAR_FIELD_SQL: Readonly<Record<PointField, string>> = {
  timestamp: `to_char(bucket AT TIME ZONE 'UTC', ${ISO_MS_SQL})`,
  open: 'open_price',
  high: 'high_price',
  low: 'low_price',
  close: 'close_price',
  volume: 'volume',
  dollar_volume: 'dollar_volume',
  trade_count: 'trade_count',
};

/** `expr AS "field", ...`: the select list of a projection; row_to_json names the keys. */
export function selectList<F extends string>(
  fields: readonly F[],
  sql: Readonly<Record<F, string>>,
): string {
  return fields.map((f) => `${sql[f]} AS "${f}"`).join(', ');
}

export function quotedNames(fields: readonly string[]): string {
  return fields.map((f) => `"${f}"`).join(', ');
}

/**
 * Raw SQL on market_trades_ts. Keyed by (instrument_id, timestamp, trade_id):
 * several trades may share a microsecond, and a replay is an idempotent upsert.
 */
@Injectable()
export class TradesRepository {
  readonly maintenance: TickTableMaintenance;
  private readonly writer: BulkWriter<TradeRow, string>;

  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {
    this.maintenance = new TickTableMaintenance(db, 'market_trades_ts');
    this.writer = new BulkWriter(db, TRADE_TABLE, this.maintenance.partitions);
  }

  /**
   * Writes the trades of several instruments in ONE commit; an existing
   * (instrument, timestamp, key) is replaced (BulkWriter).
   */
  async upsertTrades(batches: readonly InstrumentTrades[]): Promise<void> {
    await this.writer.upsert(batches.map((b) => ({ group: b.instrumentId, rows: b.trades })));
  }

  /**
   * One page of trades in [range) after `after`, ascending by (timestamp,
   * key): the keyset walk behind next_cursor. `withTotal` adds the count of
   * the whole range.
   */
  async findTradesPage(
    instrumentId: string,
    range: MicroRange,
    fields: readonly TradeField[],
    limit: number,
    after: TickPosition | undefined,
    withTotal: boolean,
  ): Promise<TickPage> {
    const where = `instrument_id = $1 AND "timestamp" >= $2 AND "timestamp" < $3`;
    const params: unknown[] = [instrumentId, isoUs(range.fromUs), isoUs(range.toUs), limit];
    let keyset = '';
    if (after) {
      params.push(isoUs(after.timestampUs), after.key);
      keyset = `AND ("timestamp", trade_id) > ($5::timestamptz, $6::text)`;
    }
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{
        points: string;
        more: boolean;
        last_ts: string | null;
        last_key: string | null;
        total: string | null;
      }>(
        `WITH page AS MATERIALIZED (
           SELECT m."timestamp" AS ts, trade_id AS k, ${selectList(fields, TRADE_FIELD_SQL)}
             FROM market_trades_ts m ${prevailingJoin(fields)}
            WHERE ${where} ${keyset}
            -- Qualified: the bare names would mean the output columns of the same name.
            ORDER BY m."timestamp", m.trade_id LIMIT $4 + 1),
         shown AS (SELECT * FROM page ORDER BY ts, k LIMIT $4),
         last AS (SELECT ts, k FROM shown ORDER BY ts DESC, k DESC LIMIT 1)
         SELECT '[' || coalesce((SELECT string_agg(row_to_json(p)::text, ',') FROM (
                  SELECT ${quotedNames(fields)} FROM shown ORDER BY ts, k) p), '') || ']' AS points,
                (SELECT count(*) FROM page) > $4 AS more,
                (SELECT to_char(ts AT TIME ZONE 'UTC', ${ISO_US_SQL}) FROM last) AS last_ts,
                (SELECT k FROM last) AS last_key,
                ${withTotal ? `(SELECT count(*) FROM market_trades_ts WHERE ${where})` : 'NULL'} AS total`,
        params,
      ),
    );
    return toTickPage(rows[0]);
  }

  /** The newest trade of the instrument as a JSON object, or null when it has none. */
  async findLatestTrade(
    instrumentId: string,
    fields: readonly TradeField[],
  ): Promise<string | null> {
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ point: string }>(
        `SELECT row_to_json(p)::text AS point FROM (
           SELECT ${selectList(fields, TRADE_FIELD_SQL)}
             FROM market_trades_ts m ${prevailingJoin(fields)}
            WHERE m.instrument_id = $1 ORDER BY m."timestamp" DESC, m.trade_id DESC LIMIT 1) p`,
        [instrumentId],
      ),
    );
    return rows[0]?.point ?? null;
  }

  /** Whether the instrument has a trade in `range` (milliseconds). */
  async hasTradesIn(instrumentId: string, range: TimeRange): Promise<boolean> {
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ found: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM market_trades_ts
                         WHERE instrument_id = $1 AND "timestamp" >= $2 AND "timestamp" < $3) AS found`,
        [instrumentId, new Date(range.fromMs).toISOString(), new Date(range.toMs).toISOString()],
      ),
    );
    return rows[0].found;
  }

  /**
   * Exact bars of `target` built from the trades in `range`: first and last
   * price by (timestamp, key), max and min price, summed size and
   * price*size (summed as numeric, then rounded once), trade count; per
   * UTC-aligned bucket.
   */
  async findBarsFromTrades(
    instrumentId: string,
    target: TimeFrame,
    range: TimeRange,
    fields: readonly PointField[],
    page: Page,
  ): Promise<PointsPage> {
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ total_count: string; points: string }>(
        `WITH buckets AS (
           SELECT date_bin(make_interval(secs => $6), "timestamp", TIMESTAMPTZ '1970-01-01T00:00:00Z') AS bucket,
                  (array_agg(price ORDER BY "timestamp", trade_id))[1] AS open_price,
                  max(price) AS high_price,
                  min(price) AS low_price,
                  (array_agg(price ORDER BY "timestamp" DESC, trade_id DESC))[1] AS close_price,
                  sum(size::numeric) AS volume,
                  sum(price::numeric * size::numeric)::float8 AS dollar_volume,
                  count(*)::int AS trade_count
             FROM market_trades_ts
            WHERE instrument_id = $1 AND "timestamp" >= $2 AND "timestamp" < $3
            GROUP BY 1)
         SELECT (SELECT count(*) FROM buckets) AS total_count,
                (SELECT '[' || coalesce(string_agg(row_to_json(p)::text, ','), '') || ']' FROM (
                   SELECT ${selectList(fields, BAR_FIELD_SQL)} FROM buckets
                    ORDER BY bucket LIMIT $4 OFFSET $5) p) AS points`,
        [
          instrumentId,
          new Date(range.fromMs).toISOString(),
          new Date(range.toMs).toISOString(),
          page.limit,
          page.offset,
          TIMEFRAME_MS[target] / 1000,
        ],
      ),
    );
    return { totalCount: Number(rows[0].total_count), pointsJson: rows[0].points };
  }

  /** Deletes the trades of an instrument in `range` (milliseconds); returns how many. */
  async deleteRange(instrumentId: string, range: TimeRange): Promise<number> {
    return translatePgErrors(() =>
      withTransaction(this.db.pool, async (client) => {
        await allowDmlOnCompressedChunks(client, this.maintenance.timescale);
        const result = await client.query(
          `DELETE FROM market_trades_ts
            WHERE instrument_id = $1 AND "timestamp" >= $2 AND "timestamp" < $3`,
          [instrumentId, new Date(range.fromMs).toISOString(), new Date(range.toMs).toISOString()],
        );
        return result.rowCount ?? 0;
      }),
    );
  }
}

/** The page, and where the next one starts when there is one. */
export function toTickPage(row: {
  points: string;
  more: boolean;
  last_ts: string | null;
  last_key: string | null;
  total: string | null;
}): TickPage {
  return {
    pointsJson: row.points,
    totalCount: row.total === null ? undefined : Number(row.total),
    next:
      row.more && row.last_ts !== null && row.last_key !== null
        ? { timestampUs: parseIsoMicros(row.last_ts), key: row.last_key }
        : undefined,
  };
}

/** Epoch microseconds of PostgreSQL's own `YYYY-MM-DDTHH:MI:SS.USZ` text. */
function parseIsoMicros(text: string): number {
  const ms = Date.parse(text.slice(0, 23) + 'Z');
  return ms * 1000 + Number(text.slice(23, 26));
}
