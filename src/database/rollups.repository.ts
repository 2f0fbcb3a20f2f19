import { Inject, Injectable } from '@nestjs/common';
import { PointField, TimeFrame, TIMEFRAME_MS } from '../common/market-data.types';
import { DatabaseConnection } from './database-connection';
import { DATABASE_CONNECTION, Page, PointsPage, TimeRange } from './market-data.repository';
import { translatePgErrors } from './pg-errors';

/** One continuous aggregate of the ONE_MINUTE bars (migrations/20261126150000_rollups.sql). */
export interface RollupLevel {
  readonly timeframe: TimeFrame;
  /** The aggregate's view; the only rollup identifiers ever put into SQL text. */
  readonly view: string;
}

/** The hierarchy, finest first: each level is built from the one before it (the first from the minutes). */
export const ROLLUP_LEVELS: readonly RollupLevel[] = [
  { timeframe: TimeFrame.FIVE_MINUTES, view: 'market_data_5m' },
  { timeframe: TimeFrame.FIFTEEN_MINUTES, view: 'market_data_15m' },
  { timeframe: TimeFrame.ONE_HOUR, view: 'market_data_1h' },
  { timeframe: TimeFrame.ONE_DAY, view: 'market_data_1d' },
];

/** The timeframe the aggregates are built from. */
export const ROLLUP_SOURCE = TimeFrame.ONE_MINUTE;

/** A level as TimescaleDB's catalog knows it. */
interface CatalogLevel {
  /** Hypertable holding the level's materialized buckets. */
  readonly matId: number;
  /** Hypertable it is built from: market_data_ts for the first level, the level below's otherwise. */
  readonly sourceId: number;
}

/** Response fields over a bucket row; the same expressions as the raw derivation's. */
const FIELD_SQL: Readonly<Record<PointField, string>> = {
  timestamp: `to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
  open: 'open_price',
  high: 'high_price',
  low: 'low_price',
  close: 'close_price',
  volume: 'volume',
  dollar_volume: 'dollar_volume',
  trade_count: 'trade_count',
};

/** Unix microseconds: TimescaleDB's internal time of a timestamptz. */
function unixMicros(ms: number): string {
  return (BigInt(ms) * 1000n).toString();
}

/**
 * Derived bars read from the continuous aggregates (TimescaleDB only).
 *
 * The aggregate is an accelerator: every answer equals the raw derivation
 * (MarketDataRepository.findDerivedRange from ONE_MINUTE). Buckets past a
 * level's watermark are computed by TimescaleDB at query time (real-time
 * aggregation). Buckets below it that a write has touched since the last
 * refresh (late or corrected bars, deletes, writes into compressed chunks)
 * are still listed in TimescaleDB's invalidation logs, written in the same
 * transaction as the write; those buckets are computed from the raw minutes
 * in the same statement instead (see staleSpansSql).
 */
@Injectable()
export class RollupsRepository {
  private catalog?: Promise<ReadonlyMap<string, CatalogLevel> | undefined>;

  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {}

  /** The level serving `target`, when there is one on this engine. */
  levelFor(target: TimeFrame): RollupLevel | undefined {
    if (this.db.info.engine !== 'timescaledb') return undefined;
    return ROLLUP_LEVELS.find((l) => l.timeframe === target);
  }

  /**
   * Bars of `target` over `range` (bucket-aligned) computed from the
   * ONE_MINUTE bars of the instrument, as findDerivedRange computes them;
   * undefined when no aggregate serves `target` here (plain PostgreSQL, a
   * timeframe without a level, the aggregates missing).
   */
  async findDerivedRange(
    instrumentId: string,
    target: TimeFrame,
    range: TimeRange,
    fields: readonly PointField[],
    page: Page,
  ): Promise<PointsPage | undefined> {
    const level = this.levelFor(target);
    if (!level) return undefined;
    const catalog = await this.loadCatalog();
    if (!catalog) return undefined;
    const chain = ROLLUP_LEVELS.slice(0, ROLLUP_LEVELS.indexOf(level) + 1).map((l) =>
      catalog.get(l.view)!,
    );
    const select = fields.map((f) => `${FIELD_SQL[f]} AS "${f}"`).join(', ');
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ total_count: string; points: string }>(
        `WITH ${staleSpansSql()},
         buckets AS (
           SELECT bucket, open_price, high_price, low_price, close_price, volume,
                  CASE WHEN dollar_volume_count = bar_count THEN dollar_volume_sum::float8 END AS dollar_volume,
                  CASE WHEN trade_count_count = bar_count THEN trade_count_sum::bigint END AS trade_count
             FROM ${level.view} r
            WHERE r.instrument_id = $1 AND r.bucket >= $2 AND r.bucket < $3
              AND NOT EXISTS (SELECT 1 FROM stale WHERE stale.span @> r.bucket)
           UNION ALL
           -- Touched since the last refresh: from the raw minutes, as the raw derivation does.
           SELECT date_bin(make_interval(secs => $6), m."timestamp", TIMESTAMPTZ '1970-01-01T00:00:00Z'),
                  first(m.open_price, m."timestamp"), max(m.high_price), min(m.low_price),
                  last(m.close_price, m."timestamp"), sum(m.volume),
                  CASE WHEN count(m.dollar_volume) = count(*) THEN sum(m.dollar_volume::numeric)::float8 END,
                  CASE WHEN count(m.trade_count) = count(*) THEN sum(m.trade_count) END
             FROM stale
             JOIN market_data_ts m
               ON m."timestamp" >= lower(stale.span) AND m."timestamp" < upper(stale.span)
            WHERE m.instrument_id = $1 AND m.timeframe = '${ROLLUP_SOURCE}'
            GROUP BY 1)
         SELECT (SELECT count(*) FROM buckets) AS total_count,
                (SELECT '[' || coalesce(string_agg(row_to_json(p)::text, ','), '') || ']' FROM (
                   SELECT ${select} FROM buckets ORDER BY bucket LIMIT $4 OFFSET $5) p) AS points`,
        [
          instrumentId,
          new Date(range.fromMs).toISOString(),
          new Date(range.toMs).toISOString(),
          page.limit,
          page.offset,
          TIMEFRAME_MS[target] / 1000,
          chain.map((c) => c.matId),
          chain.map((c) => c.sourceId),
          unixMicros(range.fromMs),
          unixMicros(range.toMs),
        ],
      ),
    );
    return { totalCount: Number(rows[0].total_count), pointsJson: rows[0].points };
  }

  /** View name -> catalog ids, read once; undefined when any level is missing. */
  private loadCatalog(): Promise<ReadonlyMap<string, CatalogLevel> | undefined> {
    this.catalog ??= translatePgErrors(() =>
      this.db.pool.query<{ view: string; mat_id: number; source_id: number }>(
        `SELECT user_view_name AS view, mat_hypertable_id AS mat_id, raw_hypertable_id AS source_id
           FROM _timescaledb_catalog.continuous_agg
          WHERE user_view_schema = current_schema() AND user_view_name = ANY ($1::text[])`,
        [ROLLUP_LEVELS.map((l) => l.view)],
      ),
    ).then(
      ({ rows }) =>
        rows.length === ROLLUP_LEVELS.length
          ? new Map(rows.map((r) => [r.view, { matId: r.mat_id, sourceId: r.source_id }]))
          : undefined,
      (error: unknown) => {
        // A failed look-up is tried again by the next query.
        this.catalog = undefined;
        throw error;
      },
    );
    return this.catalog;
  }
}

/**
 * CTEs ending in `stale(span)`: disjoint, bucket-aligned ranges inside
 * [$2, $3) where the target's aggregate may not equal the raw minutes.
 * Parameters: $6 bucket seconds, $7/$8 the chain's materialization and
 * source hypertable ids (finest first, the target last), $9/$10 the range
 * in unix microseconds.
 *
 * Level n's materialized buckets answer where n is "in charge": below its
 * own watermark and at or above every coarser level's (above a level's
 * watermark its view reads the level below). There they are wrong while an
 * invalidation of level n or of any finer level is pending: a range in a
 * materialization log (not yet re-materialized; it also holds everything
 * past that level's watermark) or in the hypertable log of a level's source
 * (written, not yet moved to the materialization log by a refresh).
 */
function staleSpansSql(): string {
  return `level AS (
           SELECT l.n, l.mat_id, l.source_id,
                  _timescaledb_functions.cagg_watermark(l.mat_id)::numeric AS watermark
             FROM unnest($7::int[], $8::int[]) WITH ORDINALITY AS l(mat_id, source_id, n)),
         in_charge AS (
           SELECT n, (SELECT max(c.watermark) FROM level c WHERE c.n > level.n) AS lo, watermark AS hi
             FROM level),
         pending AS (
           SELECT level.n, i.lowest_modified_value::numeric AS lo,
                  i.greatest_modified_value::numeric + 1 AS hi
             FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log i
             JOIN level ON i.materialization_id = level.mat_id
           UNION ALL
           SELECT level.n, i.lowest_modified_value::numeric, i.greatest_modified_value::numeric + 1
             FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log i
             JOIN level ON i.hypertable_id = level.source_id),
         stale AS MATERIALIZED (
           SELECT unnest(range_agg(tstzrange(
                    date_bin(make_interval(secs => $6), _timescaledb_functions.to_timestamp(s.lo::bigint),
                             TIMESTAMPTZ '1970-01-01T00:00:00Z'),
                    date_bin(make_interval(secs => $6), _timescaledb_functions.to_timestamp(s.hi::bigint - 1),
                             TIMESTAMPTZ '1970-01-01T00:00:00Z') + make_interval(secs => $6)))) AS span
             FROM (SELECT greatest(p.lo, c.lo, $9::numeric) AS lo, least(p.hi, c.hi, $10::numeric) AS hi
                     FROM pending p JOIN in_charge c ON p.n <= c.n) s
            WHERE s.lo < s.hi)`;
}
