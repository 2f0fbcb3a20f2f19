import { Inject, Injectable } from '@nestjs/common';
import { SeriesKey } from '../common/market-data.types';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { TimeRange } from './market-data.repository';
import { translatePgErrors } from '../database/pg-errors';
import type { BarRow } from './write-tables';

/**
 * A stored bar exactly as the database holds it: float8 columns parsed to the
 * same doubles (PostgreSQL 12+ prints them shortest-exact), volume (integer
 * part and fraction) as its canonical decimal text, NaN and infinities kept (a row written around the service
 * may hold them).
 */
export type StoredBar = Omit<BarRow, 'qualityScore' | 'streamTimeUs'> & {
  /** Null in a row written around the service. */
  readonly qualityScore: number | null;
};

interface StoredBarRow {
  ts_ms: number;
  open_price: number;
  high_price: number;
  low_price: number;
  close_price: number;
  volume: string;
  dollar_volume: number | null;
  trade_count: number | null;
  quality_score: number | null;
  source: string | null;
}

/** Reads stored bars for the integrity check, straight from market_data_ts (never the cache). */
@Injectable()
export class IntegrityRepository {
  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {}

  /**
   * Up to `limit` bars of `series` in `range` after `afterMs` (keyset paging,
   * so a long range is read in bounded pieces and each piece frees the
   * connection), ascending by timestamp.
   */
  async findBarsAfter(
    series: SeriesKey,
    range: TimeRange,
    afterMs: number | null,
    limit: number,
  ): Promise<StoredBar[]> {
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<StoredBarRow>(
        `SELECT (extract(epoch FROM "timestamp") * 1000)::float8 AS ts_ms,
                -- numeric keeps the shortest decimal of the double sent; float8 gives that double back.
                open_price::float8 AS open_price, high_price::float8 AS high_price,
                low_price::float8 AS low_price, close_price::float8 AS close_price,
                trim_scale(volume + coalesce(volume_fraction, 0))::text AS volume,
                dollar_volume::float8 AS dollar_volume, trade_count, quality_score, source
           FROM market_data_ts
          WHERE instrument_id = $1 AND timeframe = $2
            AND "timestamp" >= $3 AND "timestamp" < $4
            AND ($5::timestamptz IS NULL OR "timestamp" > $5)
          ORDER BY "timestamp"
          LIMIT $6`,
        [
          series.instrumentId,
          series.timeframe,
          new Date(range.fromMs).toISOString(),
          new Date(range.toMs).toISOString(),
          afterMs === null ? null : new Date(afterMs).toISOString(),
          limit,
        ],
      ),
    );
    return rows.map((r) => ({
      timestampMs: r.ts_ms,
      open: r.open_price,
      high: r.high_price,
      low: r.low_price,
      close: r.close_price,
      volume: r.volume,
      dollarVolume: r.dollar_volume,
      tradeCount: r.trade_count,
      qualityScore: r.quality_score,
      source: r.source,
    }));
  }
}
