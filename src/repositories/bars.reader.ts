import { Inject, Injectable } from '@nestjs/common';
import { PointField, SeriesKey, TimeFrame, TIMEFRAME_MS } from '../common/market-data.types';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { translatePgErrors } from '../database/pg-errors';
import type { ReadSource } from '../read-routing/read-replicas';
import type { TimeRange } from './market-data.repository';
import { onlyRow } from '../database/rows';
import { withSharedSnapshot } from '../read-routing/shared-snapshot';
import { bucketGrid } from '../common/bucket-grid';
import { JsonText, jsonString } from '../common/json-bytes';
import {
  halvingOf,
  instantOfMicrosSql,
  PagePart,
  PagePartReader,
  partsSummary,
  Queryable,
  readInHalves,
  worthHalving,
} from './halved-page';
import {
  ColumnsPart,
  ColumnsRow,
  ColumnValues,
  columnAggregatesSql,
  decodeColumns,
  storedVolumeTextSql,
} from './bar-columns.sql';
import type { TradingSession } from '../common/trading-session';
import { sessionLengthMinutes } from '../common/trading-session';
import { SESSION_SOURCE_SLACK_MS, sessionBucketsSql } from './session-buckets.sql';
import { FILLED_COLUMNS, filledBucketsSql, Filling, fillParamsAt, fillValues } from './fill.sql';
import {
  barVolumeSql,
  fieldColumnsSql,
  pointObjectSql,
  pointsArraySql,
  storedVolumeJsonSql,
  SUMMED_VOLUME_SQL,
} from './points-json.sql';

export interface Page {
  readonly limit: number;
  readonly offset: number;
}

/** A page of points already serialized by PostgreSQL as a JSON array. */
export interface PointsPage {
  readonly totalCount: number;
  readonly pointsJson: string;
  /**
   * The same text as pieces (JsonText), when the page was read in parts:
   * the answer writes them out as they are, and pointsJson is a rope of
   * them, copied only if something reads it (the cache write, after the
   * answer is sent).
   */
  readonly pointsPieces?: readonly string[];
}

/** A page of bars as columns (findRangeColumns): `count` rows of each field, in order. */
export interface ColumnsPage {
  readonly totalCount: number;
  readonly count: number;
  readonly columns: Readonly<Record<string, ColumnValues>>;
}

/**
 * The column per response field over `market_data_ts t`; the only
 * identifiers ever put into SQL text. Qualified: an unqualified "timestamp"
 * in ORDER BY would name the page's output column.
 */
const FIELD_COLUMNS: Readonly<Record<PointField, string>> = {
  timestamp: 't."timestamp"',
  open: 't.open_price',
  high: 't.high_price',
  low: 't.low_price',
  close: 't.close_price',
  volume: barVolumeSql('t'),
  dollar_volume: 't.dollar_volume',
  trade_count: 't.trade_count',
};

/** FIELD_COLUMNS for a JSON page: the volume already as its JSON. */
const JSON_PAGE_COLUMNS: Readonly<Record<PointField, string>> = {
  ...FIELD_COLUMNS,
  volume: storedVolumeJsonSql('t'),
};

/** FIELD_COLUMNS for the columns read: the volume as its text. */
const COLUMNS_READ_COLUMNS: Readonly<Record<PointField, string>> = {
  ...FIELD_COLUMNS,
  volume: storedVolumeTextSql('t'),
};

/**
 * The fields of a bar over rows that carry the bar's column names (derived
 * buckets, rollups, bars built from trades); `timestamp`: the expression of
 * the bar's start.
 */
export function barColumns(timestamp: string): Readonly<Record<PointField, string>> {
  return {
    timestamp,
    open: 'open_price',
    high: 'high_price',
    low: 'low_price',
    close: 'close_price',
    volume: 'volume',
    dollar_volume: 'dollar_volume',
    trade_count: 'trade_count',
  };
}

/** The fields over derived buckets (see findDerivedRange). */
const BUCKET_COLUMNS = barColumns('buckets.bucket');

/**
 * The count of the whole range when a page tells it: a page shorter than its
 * limit ends the range (offset + its rows), unless it is empty past the start
 * (the range may end anywhere before the offset); so does a full page with
 * nothing of the range after its last row (`nothingAfter`, where the read
 * looked). Undefined: count the range.
 */
export function pageTotal(page: Page, pageCount: number, nothingAfter = false): number | undefined {
  if (pageCount < page.limit && (pageCount > 0 || page.offset === 0))
    return page.offset + pageCount;
  if (pageCount > 0 && nothingAfter) return page.offset + pageCount;
  return undefined;
}

/**
 * A stored range's page as one row: `aggregates` over the page of `where`
 * (`limit` rows from `offset`: $5 and $6 unless given), and `nothing_after`: no row of the range lies after
 * the page's last (one index probe). A full page (a limit that asks for
 * exactly the rows there are) then needs no count of the range, which cost
 * a ninth of a 30-day read.
 */
function storedPageSql(
  columns: string,
  where: string,
  aggregates: string,
  [limit, offset] = ['$5', '$6'],
): string {
  return `WITH page AS (
      SELECT ${columns}, t."timestamp" AS page_time FROM market_data_ts t
       WHERE ${where} ORDER BY t."timestamp" LIMIT ${limit} OFFSET ${offset})
    SELECT p.*, p.last_time IS NOT NULL AND NOT EXISTS (
             SELECT 1 FROM market_data_ts t WHERE ${where} AND t."timestamp" > p.last_time)
             AS nothing_after
      FROM (SELECT count(*) AS page_count, max(page.page_time) AS last_time, ${aggregates}
              FROM page) p`;
}

/**
 * The reads of market_data_ts (bars): ranges, derived timeframes, latest.
 * Answers are JSON text built by PostgreSQL; values always travel as
 * parameters, identifiers come from the whitelists above.
 */
@Injectable()
export class BarsReader {
  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {}

  /**
   * Rows of `series` in `range`: the page as JSON (PostgreSQL builds it) and
   * the count of the whole range. The count is taken from the page when the
   * page shows where the range ends (see pageTotal); only a full page (or an
   * empty one past the start) costs a second scan of the range. With
   * `fill`: every bucket of its grid, the count that of the grid.
   */
  async findRange(
    series: SeriesKey,
    range: TimeRange,
    fields: readonly PointField[],
    page: Page,
    fill?: Filling,
  ): Promise<PointsPage> {
    if (fill) {
      const { where, params } = storedRangeSql(series, range);
      return this.selectFilledPage(
        series.instrumentId,
        `WITH buckets AS (
           SELECT t."timestamp" AS bucket, t.open_price, t.high_price, t.low_price, t.close_price,
                  ${barVolumeSql('t')} AS volume, t.dollar_volume, t.trade_count
             FROM market_data_ts t WHERE ${where})`,
        params,
        fields,
        page,
        fill,
      );
    }
    return this.readRangePage(series, range, page, jsonPartReader(fields), (parts, totalCount) => {
      const pieces = joinJsonArrays(parts.map((part) => part.points));
      if (typeof pieces === 'string') return { totalCount, pointsJson: pieces };
      return { totalCount, pointsJson: jsonString(pieces), pointsPieces: pieces };
    });
  }

  /**
   * findRange's page without fill, as columns (bar-columns.sql.ts): what
   * the Arrow and CSV answers read, with no JSON in between.
   */
  async findRangeColumns(
    series: SeriesKey,
    range: TimeRange,
    fields: readonly PointField[],
    page: Page,
  ): Promise<ColumnsPage> {
    return this.readRangePage(
      series,
      range,
      page,
      columnsPartReader(fields),
      (parts, totalCount) => ({
        totalCount,
        count: partsSummary(parts).count,
        columns: decodeColumns(fields, parts),
      }),
    );
  }

  /**
   * The next `limit` stored bars of the range after the bar at
   * `afterMicros` (µs since the epoch), as columns: how a long answer reads
   * its later pages, from the index entry of the last bar sent instead of
   * walking every bar before it again (OFFSET). No total: the first page
   * told it.
   */
  async findRangeColumnsAfter(
    series: SeriesKey,
    range: TimeRange,
    afterMicros: number,
    fields: readonly PointField[],
    limit: number,
  ): Promise<Omit<ColumnsPage, 'totalCount'>> {
    const { where, params } = storedRangeSql(series, range);
    const after = `${where} AND t."timestamp" > ${instantOfMicrosSql(5)}`;
    const rest = { fromMs: Math.floor(afterMicros / 1000), toMs: range.toMs };
    return this.readStoredPage(
      series,
      rest,
      { limit, offset: 0 },
      after,
      [...params, String(afterMicros)],
      columnsPartReader(fields),
      (parts) => {
        const { count } = partsSummary(parts);
        return Promise.resolve({ count, columns: decodeColumns(fields, parts) });
      },
    );
  }

  /**
   * Bars of `target` computed from the stored `source` timeframe: first
   * open, max high, min low, last close, summed volume, dollar volume and
   * trade count per UTC-aligned bucket (a sum is null when a bar of the
   * bucket lacks that value). `range` holds the source rows. With `fill`:
   * every bucket of its grid, a filled one carrying the close of the source
   * bar before it.
   */
  async findDerivedRange(
    instrumentId: string,
    source: TimeFrame,
    target: TimeFrame,
    range: TimeRange,
    fields: readonly PointField[],
    page: Page,
    fill?: Filling,
  ): Promise<PointsPage> {
    const buckets = `WITH buckets AS (
         SELECT date_bin(make_interval(secs => $5), "timestamp", TIMESTAMPTZ '1970-01-01T00:00:00Z') AS bucket,
                (array_agg(open_price ORDER BY "timestamp"))[1] AS open_price,
                max(high_price) AS high_price,
                min(low_price) AS low_price,
                (array_agg(close_price ORDER BY "timestamp" DESC))[1] AS close_price,
                ${SUMMED_VOLUME_SQL} AS volume,
                -- A sum over a bucket with a missing value would pass for the whole: null instead.
                -- Summed in decimal: no order of summation (plan, rollup level) changes the result.
                CASE WHEN count(dollar_volume) = count(*) THEN sum(dollar_volume::numeric)::float8 END AS dollar_volume,
                CASE WHEN count(trade_count) = count(*) THEN sum(trade_count) END AS trade_count
           FROM market_data_ts
          WHERE instrument_id = $1 AND timeframe = $2 AND "timestamp" >= $3 AND "timestamp" < $4
          GROUP BY 1)`;
    const params = [
      instrumentId,
      source,
      isoOf(range.fromMs),
      isoOf(range.toMs),
      TIMEFRAME_MS[target] / 1000,
    ];
    if (fill) return this.selectFilledPage(instrumentId, buckets, params, fields, page, fill);
    return this.selectBucketsPage(instrumentId, buckets, params, fields, page);
  }

  /**
   * ONE_HOUR or ONE_DAY bars of `session` (sessionBucketsSql) computed from
   * the stored `source` rows, those whose bucket starts in `range`.
   */
  async findSessionRange(
    instrumentId: string,
    source: TimeFrame,
    target: TimeFrame.ONE_HOUR | TimeFrame.ONE_DAY,
    session: TradingSession,
    range: TimeRange,
    fields: readonly PointField[],
    page: Page,
  ): Promise<PointsPage> {
    const buckets = sessionBucketsSql(target === TimeFrame.ONE_DAY);
    const params = [
      instrumentId,
      source,
      isoOf(range.fromMs),
      isoOf(range.toMs + SESSION_SOURCE_SLACK_MS),
      session.tz,
      session.openMinutes,
      sessionLengthMinutes(session),
      isoOf(range.toMs),
    ];
    return this.selectBucketsPage(instrumentId, buckets, params, fields, page);
  }

  /** Which of `candidates` have at least one row of `instrumentId` in `range`. */
  async findTimeframesWithData(
    instrumentId: string,
    candidates: readonly TimeFrame[],
    range: TimeRange,
  ): Promise<TimeFrame[]> {
    if (candidates.length === 0) return [];
    const { rows } = await this.read(instrumentId, (source) =>
      source.query<{ timeframe: TimeFrame }>(
        // A scalar subquery with LIMIT 1: one index probe per candidate. Written as EXISTS,
        // PostgreSQL made it a semi-join that read every row of the range (14 ms for 30 days).
        `SELECT tf AS timeframe FROM unnest($2::text[]) AS tf
          WHERE (SELECT true FROM market_data_ts
                  WHERE instrument_id = $1 AND timeframe = tf AND "timestamp" >= $3 AND "timestamp" < $4
                  LIMIT 1)`,
        [instrumentId, candidates, isoOf(range.fromMs), isoOf(range.toMs)],
      ),
    );
    return rows.map((r) => r.timeframe);
  }

  /**
   * The newest stored timestamp (ms) of each of `candidates` that has rows
   * of `instrumentId`; those without rows are left out. One index probe per
   * candidate, as findLatest.
   */
  async findNewestInstants(
    instrumentId: string,
    candidates: readonly TimeFrame[],
  ): Promise<Map<TimeFrame, number>> {
    if (candidates.length === 0) return new Map();
    const { rows } = await this.read(instrumentId, (source) =>
      source.query<{ timeframe: TimeFrame; newest: Date | null }>(
        `SELECT tf AS timeframe,
                (SELECT "timestamp" FROM market_data_ts
                  WHERE instrument_id = $1 AND timeframe = tf
                  ORDER BY "timestamp" DESC LIMIT 1) AS newest
           FROM unnest($2::text[]) AS tf`,
        [instrumentId, candidates],
      ),
    );
    return new Map(
      rows.flatMap((r) => (r.newest === null ? [] : [[r.timeframe, r.newest.getTime()] as const])),
    );
  }

  /** The newest bar of `series` as a JSON object, or null when it has none. */
  async findLatest(series: SeriesKey, fields: readonly PointField[]): Promise<string | null> {
    const { rows } = await this.read(series.instrumentId, (source) =>
      source.query<{ point: string }>(
        `SELECT ${pointObjectSql(fields, 'p')} AS point FROM (
           SELECT ${fieldColumnsSql(fields, FIELD_COLUMNS)} FROM market_data_ts t
            WHERE t.instrument_id = $1 AND t.timeframe = $2
            ORDER BY t."timestamp" DESC LIMIT 1) p`,
        [series.instrumentId, series.timeframe],
      ),
    );
    return rows[0]?.point ?? null;
  }

  /**
   * The page of `fill`'s grid over the `buckets` CTE of `bucketsSql` ($1 the
   * instrument, $2 the source timeframe, as in every read here); the count
   * is the grid's, known without a scan.
   */
  private async selectFilledPage(
    instrumentId: string,
    bucketsSql: string,
    params: unknown[],
    fields: readonly PointField[],
    page: Page,
    fill: Filling,
  ): Promise<PointsPage> {
    const n = params.length + 1;
    const sql = `${bucketsSql}${filledBucketsSql(fill.mode, fillParamsAt(n, closeBeforeSql('$2', n)))},
       page AS (
         SELECT ${fieldColumnsSql(fields, FILLED_COLUMNS)}, filled.filled FROM filled
          ORDER BY filled.bucket LIMIT $${n + 3} OFFSET $${n + 4})
       SELECT ${pointsArraySql(fields, 'page', { flagged: true })} AS points FROM page`;
    const { rows } = await this.read(instrumentId, (source) =>
      source.query<{ points: string }>(sql, [
        ...params,
        ...fillValues(fill.grid),
        page.limit,
        page.offset,
      ]),
    );
    return { totalCount: fill.grid.count, pointsJson: onlyRow(rows).points };
  }

  /** A page of `buckets` (a `WITH buckets AS (...)` over `params`), in bucket order. */
  private selectBucketsPage(
    instrumentId: string,
    buckets: string,
    params: unknown[],
    fields: readonly PointField[],
    page: Page,
  ): Promise<PointsPage> {
    const limit = params.length + 1;
    return this.selectPage(
      instrumentId,
      `${buckets}, page AS (
         SELECT ${fieldColumnsSql(fields, BUCKET_COLUMNS)} FROM buckets
          ORDER BY buckets.bucket LIMIT $${limit} OFFSET $${limit + 1})
       SELECT count(*) AS page_count, ${pointsArraySql(fields, 'page')} AS points FROM page`,
      [...params, page.limit, page.offset],
      page,
      `${buckets} SELECT count(*) AS total_count FROM buckets`,
      params,
    );
  }

  /** The page, then the count of the whole range only when the page cannot tell it; both on one source. */
  private selectPage(
    instrumentId: string,
    pageSql: string,
    pageParams: unknown[],
    page: Page,
    countSql: string,
    countParams: unknown[],
  ): Promise<PointsPage> {
    return this.read(instrumentId, async (source) => {
      const { rows } = await source.query<{
        page_count: string;
        points: string;
        nothing_after?: boolean;
      }>(pageSql, pageParams);
      const { points: pointsJson, page_count, nothing_after } = onlyRow(rows);
      const known = pageTotal(page, Number(page_count), nothing_after);
      if (known !== undefined) return { totalCount: known, pointsJson };
      const counted = await source.query<{ total_count: string }>(countSql, countParams);
      return { totalCount: Number(onlyRow(counted.rows).total_count), pointsJson };
    });
  }

  /** A read of the instrument's bars, on a read replica when one is fit for it (ReadReplicas). */
  private read<T>(instrumentId: string, work: (source: ReadSource) => Promise<T>): Promise<T> {
    return translatePgErrors(() => this.db.reads.read(instrumentId, work));
  }

  /** A stored range's page as `readPart` reads it (readStoredPage), and the count of the whole range. */
  private readRangePage<P extends PagePart, T>(
    series: SeriesKey,
    range: TimeRange,
    page: Page,
    readPart: PagePartReader<P>,
    answer: (parts: readonly P[], totalCount: number) => T,
  ): Promise<T> {
    const { where, params } = storedRangeSql(series, range);
    return this.readStoredPage(
      series,
      range,
      page,
      where,
      params,
      readPart,
      async (parts, session) => {
        const { count, nothingAfter } = partsSummary(parts);
        const known = pageTotal(page, count, nothingAfter);
        return answer(parts, known ?? (await countRange(session, where, params)));
      },
    );
  }

  /**
   * The page of `where` as `readPart` reads it, then `finish` on the same
   * session (a count of the range, say): in two halves on two sessions of
   * one snapshot when the range can hold enough rows from the page's
   * offset for it to pay (readInHalves, withSharedSnapshot), else whole in
   * one statement, no transaction around it.
   */
  private readStoredPage<P extends PagePart, T>(
    series: SeriesKey,
    range: TimeRange,
    page: Page,
    where: string,
    params: readonly string[],
    readPart: PagePartReader<P>,
    finish: (parts: readonly P[], session: Queryable) => Promise<T>,
  ): Promise<T> {
    const rowsAtMost = storedRowsAtMost(series.timeframe, range);
    return this.read(series.instrumentId, async (source) => {
      if (!worthHalving(page, rowsAtMost))
        return finish([await readPart(source, where, params, page)], source);
      const halving = halvingOf(page, range, rowsAtMost);
      return withSharedSnapshot(source, async (first, joinSecond) =>
        finish(
          await readInHalves(first, joinSecond, where, params, page, readPart, halving),
          first,
        ),
      );
    });
  }
}

/** A page's row of columns (ColumnsPart), with what every page part tells. */
interface ColumnsRead extends ColumnsPart, PagePart {}

/** Reads a page of `where` as one row of columns (bar-columns.sql.ts). */
function columnsPartReader(fields: readonly PointField[]): PagePartReader<ColumnsRead> {
  return async (session, where, params, page) => {
    const n = params.length;
    const { rows } = await session.query<
      ColumnsRow & { page_count: string; nothing_after: boolean }
    >(
      storedPageSql(
        fieldColumnsSql(fields, COLUMNS_READ_COLUMNS),
        where,
        columnAggregatesSql(fields, 'page'),
        [`$${n + 1}`, `$${n + 2}`],
      ),
      [...params, page.limit, page.offset],
    );
    const row = onlyRow(rows);
    return { row, count: Number(row.page_count), nothingAfter: row.nothing_after };
  };
}

/** A page's points as a JSON array PostgreSQL built, with what every page part tells. */
interface JsonRead extends PagePart {
  readonly points: string;
}

/** Reads a page of `where` as a JSON array of points. */
function jsonPartReader(fields: readonly PointField[]): PagePartReader<JsonRead> {
  return async (session, where, params, page) => {
    const n = params.length;
    const { rows } = await session.query<{
      page_count: string;
      points: string;
      nothing_after: boolean;
    }>(
      // The page holds raw columns: rows skipped by OFFSET are never formatted.
      storedPageSql(
        fieldColumnsSql(fields, JSON_PAGE_COLUMNS),
        where,
        `${pointsArraySql(fields, 'page', { volumeAsJson: true })} AS points`,
        [`$${n + 1}`, `$${n + 2}`],
      ),
      [...params, page.limit, page.offset],
    );
    const row = onlyRow(rows);
    return { points: row.points, count: Number(row.page_count), nothingAfter: row.nothing_after };
  };
}

/**
 * JSON arrays (text) as the pieces of one array of their elements, in
 * order: the arrays themselves without their brackets, no string of the
 * whole made (JsonText says why). Array.join took 19 ms of a 30-day answer
 * in a CPU profile (bench/notes/peers.md).
 */
export function joinJsonArrays(arrays: readonly string[]): JsonText {
  const items = arrays.filter((array) => array !== '[]');
  if (items.length <= 1) return items[0] ?? '[]';
  const pieces = ['['];
  for (const [i, array] of items.entries()) pieces.push(i > 0 ? ',' : '', array.slice(1, -1));
  pieces.push(']');
  return pieces;
}

/** The count of the stored rows of `where` ($1..$n of `params`). */
async function countRange(
  session: Queryable,
  where: string,
  params: readonly string[],
): Promise<number> {
  const { rows } = await session.query<{ total_count: string }>(
    `SELECT count(*) AS total_count FROM market_data_ts t WHERE ${where}`,
    [...params],
  );
  return Number(onlyRow(rows).total_count);
}

/**
 * At most how many bars of `timeframe` one series stores in `range`: one per
 * bucket of its UTC grid (the key is unique and timestamps are aligned), and
 * for daily bars two more, as a session-aligned day may open between UTC
 * midnights (bar-rules.ts). readInHalves does not trust it blindly.
 */
function storedRowsAtMost(timeframe: TimeFrame, range: TimeRange): number {
  return bucketGrid(timeframe, range).count + (timeframe === TimeFrame.ONE_DAY ? 2 : 0);
}

/**
 * The close of the instrument's ($1) last bar of `timeframe` (an SQL
 * expression) before the fill's first bucket ($n): what leading empty
 * buckets carry under fill=prev.
 */
export function closeBeforeSql(timeframe: string, n: number): string {
  return `(SELECT close_price FROM market_data_ts
            WHERE instrument_id = $1 AND timeframe = ${timeframe} AND "timestamp" < $${n}::timestamptz
            ORDER BY "timestamp" DESC LIMIT 1)`;
}

/** The series' stored rows in [from, to) over `t`: the condition and its parameters $1-$4. */
function storedRangeSql(series: SeriesKey, range: TimeRange): { where: string; params: string[] } {
  return {
    where: `t.instrument_id = $1 AND t.timeframe = $2 AND t."timestamp" >= $3 AND t."timestamp" < $4`,
    params: [series.instrumentId, series.timeframe, isoOf(range.fromMs), isoOf(range.toMs)],
  };
}

function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}
