import { Inject, Injectable } from '@nestjs/common';
import { PointField, TimeFrame, TIMEFRAME_MS } from '../common/market-data.types';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { barColumns, Page, PointsPage } from './bars.reader';
import { ISO_MS_SQL, ISO_US_SQL } from './bulk-sql';
import { FILLED_COLUMNS, filledBucketsSql, Filling, fillParamsAt, fillValues } from './fill.sql';
import type { TimeRange } from './market-data.repository';
import { fieldColumnsSql, pointsArraySql } from './points-json.sql';
import { onlyRow } from '../database/rows';
import { TickReader, selectList } from './tick.reader';
import { InformationBarKind, informationBarsSql } from './information-bars.sql';
import { isoUs, MicroRange } from './tick-tables';
import { DERIVED_KEY_PREFIX } from './trades.repository';

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
const BAR_FIELD_SQL = barColumns(`to_char(bucket AT TIME ZONE 'UTC', ${ISO_MS_SQL})`);

/**
 * The reads of market_trades_ts: pages by (timestamp, trade_id), the newest
 * trade, and bars built from trades.
 */
@Injectable()
export class TradesReader extends TickReader<TradeField> {
  constructor(@Inject(DATABASE_CONNECTION) db: DatabaseConnection) {
    super(db, {
      table: 'market_trades_ts',
      keyColumn: 'trade_id',
      fieldSql: TRADE_FIELD_SQL,
      joinFor: prevailingJoin,
    });
  }

  /** Whether the instrument has a trade in `range` (milliseconds). */
  async hasTradesIn(instrumentId: string, range: TimeRange): Promise<boolean> {
    const { rows } = await this.read(instrumentId, (source) =>
      source.query<{ found: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM market_trades_ts
                         WHERE instrument_id = $1 AND "timestamp" >= $2 AND "timestamp" < $3) AS found`,
        [instrumentId, new Date(range.fromMs).toISOString(), new Date(range.toMs).toISOString()],
      ),
    );
    return onlyRow(rows).found;
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
    fill?: Filling,
  ): Promise<PointsPage> {
    const buckets = `WITH buckets AS (
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
            GROUP BY 1)`;
    const params: unknown[] = [
      instrumentId,
      new Date(range.fromMs).toISOString(),
      new Date(range.toMs).toISOString(),
      page.limit,
      page.offset,
      TIMEFRAME_MS[target] / 1000,
    ];
    if (fill) {
      // The last trade before the first bucket: the close its leading empty buckets carry.
      const closeBefore = `(SELECT price FROM market_trades_ts
                             WHERE instrument_id = $1 AND "timestamp" < $7::timestamptz
                             ORDER BY "timestamp" DESC, trade_id DESC LIMIT 1)`;
      const { rows } = await this.read(instrumentId, (source) =>
        source.query<{ points: string }>(
          `${buckets}${filledBucketsSql(fill.mode, fillParamsAt(7, closeBefore))}
           SELECT ${pointsArraySql(fields, 'p', { flagged: true })} AS points FROM (
             SELECT ${fieldColumnsSql(fields, FILLED_COLUMNS)}, filled.filled FROM filled
              ORDER BY filled.bucket LIMIT $4 OFFSET $5) p`,
          [...params, ...fillValues(fill.grid)],
        ),
      );
      return { totalCount: fill.grid.count, pointsJson: onlyRow(rows).points };
    }
    const { rows } = await this.read(instrumentId, (source) =>
      source.query<{ total_count: string; points: string }>(
        `${buckets}
         SELECT (SELECT count(*) FROM buckets) AS total_count,
                (SELECT '[' || coalesce(string_agg(row_to_json(p)::text, ','), '') || ']' FROM (
                   SELECT ${selectList(fields, BAR_FIELD_SQL)} FROM buckets
                    ORDER BY bucket LIMIT $4 OFFSET $5) p) AS points`,
        params,
      ),
    );
    const { total_count, points } = onlyRow(rows);
    return { totalCount: Number(total_count), pointsJson: points };
  }

  /**
   * Volume, dollar or tick bars of the trades in `range`: a bar closes at
   * the trade that takes the running total since the range start to or past
   * the next multiple of `threshold` (informationBarsSql). `threshold` is
   * decimal text, compared as numeric.
   */
  async findInformationBars(
    instrumentId: string,
    kind: InformationBarKind,
    threshold: string,
    range: MicroRange,
    fields: readonly PointField[],
    page: Page,
  ): Promise<PointsPage> {
    const { rows } = await this.read(instrumentId, (source) =>
      source.query<{ total_count: string; points: string }>(informationBarsSql(kind, fields), [
        instrumentId,
        isoUs(range.fromUs),
        isoUs(range.toUs),
        threshold,
        page.limit,
        page.offset,
      ]),
    );
    const { total_count, points } = onlyRow(rows);
    return { totalCount: Number(total_count), pointsJson: points };
  }
}
