import { Inject, Injectable } from '@nestjs/common';
import { PoolClient } from 'pg';
import { PointField, TimeFrame, TIMEFRAME_MS } from '../common/market-data.types';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { barColumns, closeBeforeSql, Page, PointsPage } from './bars.reader';
import { FILLED_COLUMNS, filledBucketsSql, Filling, fillParamsAt, fillValues } from './fill.sql';
import type { TimeRange } from './market-data.repository';
import { translatePgErrors } from '../database/pg-errors';
import { onlyRow } from '../database/rows';
import { fieldColumnsSql, pointsArraySql } from './points-json.sql';
import { withTransaction } from '../database/sessions';
import { NATIVE_RAW_SPANS_SQL, nativeMaterializedSql } from './native-rollups.sql';

/**
 * One level of rollups of the ONE_MINUTE bars: a continuous aggregate on
 * TimescaleDB (migrations/20261126150000_rollups.sql), the rows of its
 * timeframe in market_data_rollups on plain PostgreSQL
 * (20261203130000_native_rollups.sql).
 */
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
  /** The materialized hypertable, quoted: read directly, past the view's real-time union. */
  readonly table: string;
}

/** Where one read finds a level's buckets, and which it computes from the minutes instead. */
interface LevelSource {
  /** FROM and WHERE of the materialized buckets (aliased r) of $1 in [$2, $3). */
  readonly materialized: string;
  /** The spans of the range read from the minutes, in the read's snapshot. */
  rawSpans(
    client: PoolClient,
    instrumentId: string,
    step: number,
    range: TimeRange,
  ): Promise<{ lo: Date; hi: Date }[]>;
  /** The raw part of the buckets (rawBucketsSql). */
  readonly rawBuckets: string;
}

/** Response fields over a bucket row; the same columns as the raw derivation's. */
const FIELD_COLUMNS = barColumns('bucket');

/** Unix microseconds: TimescaleDB's internal time of a timestamptz. */
function unixMicros(ms: number): string {
  return (BigInt(ms) * 1000n).toString();
}

/**
 * Derived bars read from the rollups: the continuous aggregates on
 * TimescaleDB, market_data_rollups on plain PostgreSQL.
 *
 * A rollup is an accelerator: every answer equals the raw derivation
 * (BarsReader.findDerivedRange from ONE_MINUTE). Materialized
 * buckets are read from the target level's materialized rows; the rest is
 * computed from the raw minutes in the same snapshot: the buckets past the
 * level's watermark (not materialized yet: the union with the raw tail) and
 * the buckets a write has touched since the last refresh (late or corrected
 * bars, deletes, writes into compressed chunks, dropped chunks). On
 * TimescaleDB its invalidation logs list those from the writing transaction
 * on (see RAW_SPANS_SQL); on plain PostgreSQL the triggers of market_data_ts
 * log them (NATIVE_RAW_SPANS_SQL). The level's own view would do the tail
 * itself (real-time aggregation), but planning its nested real-time unions
 * cost more than the whole read (56 ms for ONE_HOUR on the embedded engine)
 * and it cannot tell stale buckets.
 */
@Injectable()
export class RollupsRepository {
  private catalog?: Promise<ReadonlyMap<string, CatalogLevel> | undefined>;

  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {}

  /** The level serving `target`, when there is one. */
  levelFor(target: TimeFrame): RollupLevel | undefined {
    return ROLLUP_LEVELS.find((l) => l.timeframe === target);
  }

  /**
   * Bars of `target` over `range` (bucket-aligned) computed from the
   * ONE_MINUTE bars of the instrument, as findDerivedRange computes them;
   * undefined when no rollup serves `target` (a timeframe without a level,
   * the aggregates missing). With `fill`: every bucket of its grid, as
   * BarsReader fills the raw derivation.
   */
  async findDerivedRange(
    instrumentId: string,
    target: TimeFrame,
    range: TimeRange,
    fields: readonly PointField[],
    page: Page,
    fill?: Filling,
  ): Promise<PointsPage | undefined> {
    const level = this.levelFor(target);
    if (!level) return undefined;
    const source =
      this.db.info.engine === 'timescaledb'
        ? await this.aggregateSource(level)
        : nativeSource(level);
    if (!source) return undefined;
    const step = TIMEFRAME_MS[target] / 1000;
    const from = new Date(range.fromMs).toISOString();
    const to = new Date(range.toMs).toISOString();
    // One snapshot for both statements: a write committing between them cannot tear the answer.
    const rows = await this.inSnapshot(async (client) => {
      const spans = await source.rawSpans(client, instrumentId, step, range);
      const rawLo = spans.map((r) => r.lo.toISOString());
      const rawHi = spans.map((r) => r.hi.toISOString());
      const [firstLo] = rawLo;
      const lastHi = rawHi[rawHi.length - 1];
      const params: unknown[] = [instrumentId, from, to, page.limit, page.offset, rawLo, rawHi]
        // The bucket width only where the raw part uses it: an unused parameter has no type.
        .concat(firstLo !== undefined && lastHi !== undefined ? [step, firstLo, lastHi] : []);
      const n = params.length + 1;
      const answerSql = fill
        ? `${filledBucketsSql(fill.mode, fillParamsAt(n, closeBeforeSql(`'${ROLLUP_SOURCE}'`, n)))}
           SELECT NULL AS total_count,
                  (SELECT ${pointsArraySql(fields, 'p', { flagged: true })} FROM (
                     SELECT ${fieldColumnsSql(fields, FILLED_COLUMNS)}, filled.filled FROM filled
                      ORDER BY filled.bucket LIMIT $4 OFFSET $5) p) AS points`
        : ` SELECT (SELECT count(*) FROM buckets) AS total_count,
                (SELECT ${pointsArraySql(fields, 'p')} FROM (
                   SELECT ${fieldColumnsSql(fields, FIELD_COLUMNS)} FROM buckets
                    ORDER BY bucket LIMIT $4 OFFSET $5) p) AS points`;
      const { rows: answer } = await client.query<{ total_count: string; points: string }>(
        `WITH raw_spans AS (SELECT * FROM unnest($6::timestamptz[], $7::timestamptz[]) AS s(lo, hi)),
         buckets AS (
           SELECT bucket, open_price, high_price, low_price, close_price, volume,
                  CASE WHEN dollar_volume_count = bar_count THEN dollar_volume_sum::float8 END AS dollar_volume,
                  CASE WHEN trade_count_count = bar_count THEN trade_count_sum::bigint END AS trade_count
              FROM ${source.materialized}
              ${spans.length ? 'AND NOT EXISTS (SELECT 1 FROM raw_spans s WHERE r.bucket >= s.lo AND r.bucket < s.hi)' : ''}
           ${spans.length ? source.rawBuckets : ''})
        ${answerSql}`,
        fill ? [...params, ...fillValues(fill.grid)] : params,
      );
      return answer;
    });
    const { total_count, points } = onlyRow(rows);
    // Filled: the grid's count, every bucket of it answered.
    return { totalCount: fill ? fill.grid.count : Number(total_count), pointsJson: points };
  }

  /** Runs `work` in a read-only REPEATABLE READ transaction: every statement sees one snapshot. */
  private inSnapshot<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return translatePgErrors(() =>
      withTransaction(this.db.pool, work, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'),
    );
  }

  /** `level` on TimescaleDB: its materialized hypertable, the invalidation logs of its chain. */
  private async aggregateSource(level: RollupLevel): Promise<LevelSource | undefined> {
    const catalog = await this.loadCatalog();
    if (!catalog) return undefined;
    // The catalog holds every level (loadCatalog answers undefined otherwise).
    const chain = ROLLUP_LEVELS.slice(0, ROLLUP_LEVELS.indexOf(level) + 1).map((l) =>
      catalog.get(l.view)!,
    );
    return {
      materialized: `${catalog.get(level.view)!.table} r
        WHERE r.instrument_id = $1 AND r.bucket >= $2 AND r.bucket < $3`,
      rawSpans: async (client, _instrumentId, step, range) =>
        (
          await client.query<{ lo: Date; hi: Date }>(RAW_SPANS_SQL, [
            step,
            chain.map((c) => c.matId),
            chain.map((c) => c.sourceId),
            unixMicros(range.fromMs),
            unixMicros(range.toMs),
          ])
        ).rows,
      rawBuckets: rawBucketsSql(
        'first(m.open_price, m."timestamp")',
        'last(m.close_price, m."timestamp")',
      ),
    };
  }

  /** View name -> catalog ids, read once; undefined when any level is missing. */
  private loadCatalog(): Promise<ReadonlyMap<string, CatalogLevel> | undefined> {
    this.catalog ??= translatePgErrors(() =>
      this.db.pool.query<{ view: string; mat_id: number; source_id: number; table: string }>(
        `SELECT c.user_view_name AS view, c.mat_hypertable_id AS mat_id,
                c.raw_hypertable_id AS source_id, format('%I.%I', h.schema_name, h.table_name) AS table
           FROM _timescaledb_catalog.continuous_agg c
           JOIN _timescaledb_catalog.hypertable h ON h.id = c.mat_hypertable_id
          WHERE c.user_view_schema = current_schema() AND c.user_view_name = ANY ($1::text[])`,
        [ROLLUP_LEVELS.map((l) => l.view)],
      ),
    ).then(
      ({ rows }) =>
        rows.length === ROLLUP_LEVELS.length
          ? new Map(
              rows.map((r) => [r.view, { matId: r.mat_id, sourceId: r.source_id, table: r.table }]),
            )
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
 * The spans of [$4, $5) (unix microseconds, TimescaleDB's internal time)
 * whose buckets of $1 seconds are computed from the raw minutes because
 * the target level's materialization may not hold them or may not equal
 * them; disjoint, bucket-aligned, as (lo, hi) pairs:
 * - past the target level's watermark (not materialized yet);
 * - below it, wherever an invalidation of the target level or of any finer
 *   level is pending: a range in a level's materialization log (touched,
 *   not yet re-materialized; past a finer level's watermark too, which the
 *   target, refreshed further, materialized without), or in the hypertable
 *   log of a level's source (written, not yet moved on by a refresh).
 * $2/$3: the materialization and source hypertable ids of the levels up to
 * the target (the target last).
 */
const RAW_SPANS_SQL = `
  WITH watermark AS (
    SELECT _timescaledb_functions.cagg_watermark(($2::int[])[cardinality($2::int[])])::numeric AS w),
  pending AS (
    SELECT i.lowest_modified_value::numeric AS lo, i.greatest_modified_value::numeric + 1 AS hi
      FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log i
     WHERE i.materialization_id = ANY ($2::int[])
    UNION ALL
    SELECT i.lowest_modified_value::numeric, i.greatest_modified_value::numeric + 1
      FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log i
     WHERE i.hypertable_id = ANY ($3::int[])),
  clipped AS (
    SELECT greatest(p.lo, $4::numeric) AS lo, least(p.hi, $5::numeric, wm.w) AS hi
      FROM pending p CROSS JOIN watermark wm
    UNION ALL
    SELECT greatest(wm.w, $4::numeric), $5::numeric FROM watermark wm),
  spans AS (
    SELECT unnest(range_agg(tstzrange(
             date_bin(make_interval(secs => $1), _timescaledb_functions.to_timestamp(lo::bigint),
                      TIMESTAMPTZ '1970-01-01T00:00:00Z'),
             date_bin(make_interval(secs => $1), _timescaledb_functions.to_timestamp((hi - 1)::bigint),
                      TIMESTAMPTZ '1970-01-01T00:00:00Z') + make_interval(secs => $1)))) AS span
      FROM clipped WHERE lo < hi)
  SELECT lower(span) AS lo, upper(span) AS hi FROM spans ORDER BY 1`;

/** `level` on plain PostgreSQL: its rows of market_data_rollups, the change log of the triggers. */
function nativeSource(level: RollupLevel): LevelSource {
  return {
    materialized: nativeMaterializedSql(level.timeframe),
    rawSpans: async (client, instrumentId, step, range) =>
      (
        await client.query<{ lo: Date; hi: Date }>(NATIVE_RAW_SPANS_SQL, [
          step,
          instrumentId,
          new Date(range.fromMs).toISOString(),
          new Date(range.toMs).toISOString(),
        ])
      ).rows,
    // No first() and last() without TimescaleDB: the raw derivation's own aggregates.
    rawBuckets: rawBucketsSql(
      '(array_agg(m.open_price ORDER BY m."timestamp"))[1]',
      '(array_agg(m.close_price ORDER BY m."timestamp" DESC))[1]',
    ),
  };
}

/**
 * The buckets of the raw spans ($6/$7) computed as the raw derivation does,
 * one span at a time (LATERAL: an index range scan each); $9/$10 (first
 * span's start, last span's end) limit the chunks or partitions planned for
 * to the spans'. `open`/`close`: the engine's first and last by time.
 */
function rawBucketsSql(open: string, close: string): string {
  return `
  UNION ALL
  SELECT g.* FROM raw_spans s CROSS JOIN LATERAL (
    SELECT date_bin(make_interval(secs => $8), m."timestamp", TIMESTAMPTZ '1970-01-01T00:00:00Z') AS bucket,
           ${open}, max(m.high_price), min(m.low_price),
           ${close}, sum(m.volume) + coalesce(sum(m.volume_fraction), 0),
           CASE WHEN count(m.dollar_volume) = count(*) THEN sum(m.dollar_volume::numeric)::float8 END,
           CASE WHEN count(m.trade_count) = count(*) THEN sum(m.trade_count) END
      FROM market_data_ts m
     WHERE m.instrument_id = $1 AND m.timeframe = '${ROLLUP_SOURCE}'
       AND m."timestamp" >= $9 AND m."timestamp" < $10
       AND m."timestamp" >= s.lo AND m."timestamp" < s.hi
     GROUP BY 1) g`;
}
