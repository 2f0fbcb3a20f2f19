import { Inject, Injectable } from '@nestjs/common';
import { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PointField, SeriesKey, TimeFrame, TIMEFRAME_MS } from '../common/market-data.types';
import { COMPRESSED_CHUNKS_SQL } from './compressed-chunks.sql';
import { DatabaseConnection } from './database-connection';
import { MarketDataPartitions, monthStart, partitionName } from './market-data-partitions';
import { isUnavailable, translatePgErrors } from './pg-errors';

export const DATABASE_CONNECTION = Symbol('DATABASE_CONNECTION');

/** One bar as written: validated, prices finite, volume an exact decimal string. */
export interface BarRow {
  readonly timestampMs: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: string;
  readonly dollarVolume: number | null;
  readonly tradeCount: number | null;
  readonly qualityScore: number;
  readonly source: string | null;
}

/** Bars of one series; each timestamp once. */
export interface SeriesBars {
  readonly series: SeriesKey;
  readonly bars: readonly BarRow[];
}

/** Where a stored row lives and how well its series compresses. */
export interface StoredRowPlace {
  /** The chunk (TimescaleDB) or partition (plain PostgreSQL) holding the row. */
  readonly location: string;
  /** As measureCompressionRatio. */
  readonly compressionRatio: number;
}

/** Half-open [fromMs, toMs). */
export interface TimeRange {
  readonly fromMs: number;
  readonly toMs: number;
}

export interface Page {
  readonly limit: number;
  readonly offset: number;
}

/** A page of points already serialized by PostgreSQL as a JSON array. */
export interface PointsPage {
  readonly totalCount: number;
  readonly pointsJson: string;
}

/**
 * Column expressions per response field over `market_data_ts t`; the only
 * identifiers ever put into SQL text. Qualified: an unqualified "timestamp"
 * in ORDER BY would name the to_char output column, and PostgreSQL would sort
 * that text instead of reading the index in order.
 */
const FIELD_SQL: Readonly<Record<PointField, string>> = {
  timestamp: `to_char(t."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
  open: 't.open_price',
  high: 't.high_price',
  low: 't.low_price',
  close: 't.close_price',
  volume: 't.volume',
  dollar_volume: 't.dollar_volume',
  trade_count: 't.trade_count',
};

/** The same fields over derived buckets (see findDerivedRange). */
const BUCKET_FIELD_SQL: Readonly<Record<PointField, string>> = {
  timestamp: `to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
  open: 'open_price',
  high: 'high_price',
  low: 'low_price',
  close: 'close_price',
  volume: 'volume',
  dollar_volume: 'dollar_volume',
  trade_count: 'trade_count',
};

function selectList(fields: readonly PointField[], sql: Record<PointField, string>): string {
  return fields.map((f) => `${sql[f]} AS "${f}"`).join(', ');
}

/**
 * The count of the whole range when a page tells it: a page shorter than its
 * limit ends the range (offset + its rows), unless it is empty past the start
 * (the range may end anywhere before the offset). Undefined: count the range.
 */
export function pageTotal(page: Page, pageCount: number): number | undefined {
  if (pageCount < page.limit && (pageCount > 0 || page.offset === 0))
    return page.offset + pageCount;
  return undefined;
}

const WRITE_COLUMNS =
  '"timestamp", instrument_id, timeframe, open_price, high_price, low_price, close_price, volume, dollar_volume, trade_count, quality_score, source';

/** An upsert replaces every value column; created_at keeps the first write. */
const UPSERT_SET = [
  'open_price',
  'high_price',
  'low_price',
  'close_price',
  'volume',
  'dollar_volume',
  'trade_count',
  'quality_score',
  'source',
]
  .map((c) => `${c} = EXCLUDED.${c}`)
  .join(', ');

/** Below this many rows a COPY costs more than it saves. */
const COPY_MIN_ROWS = 500;

/**
 * Raw SQL on market_data_ts: the hot path. Values always travel as
 * parameters (columns as arrays); identifiers come from the whitelists above.
 */
@Injectable()
export class MarketDataRepository {
  private readonly partitions?: MarketDataPartitions;

  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {
    if (db.info.engine === 'postgresql') this.partitions = new MarketDataPartitions(db.pool);
  }

  /** Creates the partitions the next months will need (plain PostgreSQL only). */
  async preparePartitionsAhead(nowMs: number, months: number): Promise<void> {
    const ahead = new Date(nowMs);
    ahead.setUTCMonth(ahead.getUTCMonth() + months);
    await translatePgErrors(
      () => this.partitions?.ensureCovering(nowMs, ahead.getTime()) ?? Promise.resolve(),
    );
  }

  /** Writes bars of one series in one transaction: upsertSeriesBars with one series. */
  async upsertBars(series: SeriesKey, bars: readonly BarRow[]): Promise<void> {
    await this.upsertSeriesBars([{ series, bars }]);
  }

  /** One COPY for the bars of several series. */
  private async copySeriesBars(
    client: PoolClient,
    table: 'market_data_ts' | 'market_data_staging',
    batches: readonly SeriesBars[],
  ): Promise<void> {
    function* lines(): Generator<string> {
      const batch: string[] = [];
      for (const { series, bars } of batches) {
        const prefix = `\t${copyText(series.instrumentId)}\t${series.timeframe}\t`;
        for (const b of bars) {
          batch.push(
            new Date(b.timestampMs).toISOString() +
              prefix +
              `${b.open}\t${b.high}\t${b.low}\t${b.close}\t${b.volume}\t` +
              `${b.dollarVolume ?? '\\N'}\t${b.tradeCount ?? '\\N'}\t${b.qualityScore}\t` +
              `${b.source === null ? '\\N' : copyText(b.source)}\n`,
          );
          if (batch.length === 1000) yield batch.splice(0).join('');
        }
      }
      if (batch.length) yield batch.join('');
    }
    await pipeline(
      Readable.from(lines()),
      client.query(copyFrom(`COPY ${table} (${WRITE_COLUMNS}) FROM STDIN`)),
    );
  }

  /**
   * Writes the bars of several series in ONE transaction (a REST store or an
   * event batch is one commit); an existing (instrument, timeframe,
   * timestamp) is replaced, and each series must hold each timestamp once. On
   * a server, new rows take a plain COPY and existing ones a COPY into a
   * staging table merged with ON CONFLICT; the embedded engine (no COPY
   * there) and small batches upsert from arrays.
   */
  async upsertSeriesBars(batches: readonly SeriesBars[]): Promise<void> {
    const written = batches.filter((b) => b.bars.length > 0);
    if (written.length === 0) return;
    const spans = written.map(({ bars }) => {
      let min = Infinity;
      let max = -Infinity;
      for (const b of bars) {
        if (b.timestampMs < min) min = b.timestampMs;
        if (b.timestampMs > max) max = b.timestampMs;
      }
      return { min, max };
    });
    const total = written.reduce((n, b) => n + b.bars.length, 0);
    await translatePgErrors(async () => {
      // Before the transaction: a partition is created on a connection of its own.
      for (const span of spans) await this.partitions?.ensureCovering(span.min, span.max);
      await this.inTransaction(async (client) => {
        await this.allowDmlOnCompressedChunks(client);
        if (this.db.info.embedded || total < COPY_MIN_ROWS) {
          return this.upsertSeriesFromArrays(client, written);
        }
        if (!(await this.anySeriesHasRowsIn(client, written, spans))) {
          await client.query('SAVEPOINT before_copy');
          try {
            return await this.copySeriesBars(client, 'market_data_ts', written);
          } catch (error) {
            // A concurrent writer stored some of these rows first: merge instead.
            if ((error as { code?: string }).code !== '23505') throw error;
            await client.query('ROLLBACK TO SAVEPOINT before_copy');
          }
        }
        await client.query(
          `CREATE TEMP TABLE IF NOT EXISTS market_data_staging
             (LIKE market_data_ts INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
        );
        await this.copySeriesBars(client, 'market_data_staging', written);
        await client.query(
          `INSERT INTO market_data_ts (${WRITE_COLUMNS})
           SELECT ${WRITE_COLUMNS} FROM market_data_staging
           ON CONFLICT (instrument_id, timeframe, "timestamp") DO UPDATE SET ${UPSERT_SET}`,
        );
      });
    });
  }

  private async anySeriesHasRowsIn(
    client: PoolClient,
    batches: readonly SeriesBars[],
    spans: readonly { min: number; max: number }[],
  ): Promise<boolean> {
    const { rows } = await client.query<{ found: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
                  AS k(instrument_id, timeframe, lo, hi)
          WHERE EXISTS (SELECT 1 FROM market_data_ts m
                         WHERE m.instrument_id = k.instrument_id AND m.timeframe = k.timeframe
                           AND m."timestamp" BETWEEN k.lo AND k.hi)) AS found`,
      [
        batches.map((b) => b.series.instrumentId),
        batches.map((b) => b.series.timeframe),
        spans.map((s) => isoOf(s.min)),
        spans.map((s) => isoOf(s.max)),
      ],
    );
    return rows[0].found;
  }

  private async upsertSeriesFromArrays(client: PoolClient, batches: readonly SeriesBars[]) {
    const n = batches.reduce((count, b) => count + b.bars.length, 0);
    const instrument = new Array<string>(n);
    const timeframe = new Array<string>(n);
    const ts = new Array<string>(n);
    const open = new Array<number>(n);
    const high = new Array<number>(n);
    const low = new Array<number>(n);
    const close = new Array<number>(n);
    const volume = new Array<string>(n);
    const dollarVolume = new Array<number | null>(n);
    const tradeCount = new Array<number | null>(n);
    const quality = new Array<number>(n);
    const source = new Array<string | null>(n);
    let i = 0;
    for (const { series, bars } of batches) {
      for (const b of bars) {
        instrument[i] = series.instrumentId;
        timeframe[i] = series.timeframe;
        ts[i] = new Date(b.timestampMs).toISOString();
        open[i] = b.open;
        high[i] = b.high;
        low[i] = b.low;
        close[i] = b.close;
        volume[i] = b.volume;
        dollarVolume[i] = b.dollarVolume;
        tradeCount[i] = b.tradeCount;
        quality[i] = b.qualityScore;
        source[i] = b.source;
        i++;
      }
    }
    await client.query(
      `INSERT INTO market_data_ts (${WRITE_COLUMNS})
       SELECT t, i, tf, o, h, l, c, v, dv, tc, q, s
         FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::float8[], $5::float8[],
                     $6::float8[], $7::float8[], $8::bigint[], $9::float8[], $10::int[],
                     $11::float8[], $12::text[])
           AS u(t, i, tf, o, h, l, c, v, dv, tc, q, s)
       ON CONFLICT (instrument_id, timeframe, "timestamp") DO UPDATE SET ${UPSERT_SET}`,
      [
        ts,
        instrument,
        timeframe,
        open,
        high,
        low,
        close,
        volume,
        dollarVolume,
        tradeCount,
        quality,
        source,
      ],
    );
  }

  /**
   * For each stored row named by its series and timestamp: the chunk or
   * partition holding it and its series' compression ratio. On plain
   * PostgreSQL the monthly partition follows from the timestamp (this
   * repository creates every partition, one per UTC month, before writing
   * into it) and nothing is compressed: no query. On TimescaleDB one query
   * for any number of rows (the real chunk, from tableoid); "market_data_ts"
   * where the row is not found.
   */
  async findStoredRowPlaces(
    rows: readonly { series: SeriesKey; timestampMs: number }[],
  ): Promise<StoredRowPlace[]> {
    if (rows.length === 0) return [];
    if (this.partitions) {
      return rows.map((r) => ({
        location: partitionName(monthStart(r.timestampMs)),
        compressionRatio: 0,
      }));
    }
    const timescale = this.db.info.engine === 'timescaledb';
    const { rows: found } = await translatePgErrors(() =>
      this.db.pool.query<{ location: string | null; ratio: number | null }>(
        `WITH k AS (
           SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY
                    AS k(instrument_id, timeframe, ts, ord))
         ${timescale ? `, compressed AS (${COMPRESSED_CHUNKS_SQL})` : ''}
         SELECT (SELECT m.tableoid::regclass::text FROM market_data_ts m
                  WHERE m.instrument_id = k.instrument_id AND m.timeframe = k.timeframe
                    AND m."timestamp" = k.ts LIMIT 1) AS location,
                ${
                  timescale
                    ? `(SELECT 1 - sum(after_bytes)::float8 / nullif(sum(before_bytes), 0)
                    FROM compressed,
                         (SELECT min("timestamp") AS lo, max("timestamp") AS hi FROM market_data_ts
                           WHERE instrument_id = k.instrument_id AND timeframe = k.timeframe) span
                   WHERE range_end > span.lo AND range_start <= span.hi)`
                    : 'NULL::float8'
                } AS ratio
           FROM k ORDER BY k.ord`,
        [
          rows.map((r) => r.series.instrumentId),
          rows.map((r) => r.series.timeframe),
          rows.map((r) => isoOf(r.timestampMs)),
        ],
      ),
    );
    return found.map((r) => ({
      location: r.location ?? 'market_data_ts',
      compressionRatio: r.ratio ?? 0,
    }));
  }

  /**
   * Rows of `series` in `range`: the page as JSON (PostgreSQL builds it) and
   * the count of the whole range. The count is taken from the page when the
   * page shows where the range ends (see pageTotal); only a full page (or an
   * empty one past the start) costs a second scan of the range.
   */
  async findRange(
    series: SeriesKey,
    range: TimeRange,
    fields: readonly PointField[],
    page: Page,
  ): Promise<PointsPage> {
    const where = `t.instrument_id = $1 AND t.timeframe = $2 AND t."timestamp" >= $3 AND t."timestamp" < $4`;
    const params = [series.instrumentId, series.timeframe, isoOf(range.fromMs), isoOf(range.toMs)];
    return this.selectPage(
      `WITH page AS (
         SELECT ${selectList(fields, FIELD_SQL)} FROM market_data_ts t
          WHERE ${where} ORDER BY t."timestamp" LIMIT $5 OFFSET $6)
       SELECT (SELECT count(*) FROM page) AS page_count,
              (SELECT '[' || coalesce(string_agg(row_to_json(page)::text, ','), '') || ']' FROM page) AS points`,
      [...params, page.limit, page.offset],
      page,
      `SELECT count(*) AS total_count FROM market_data_ts t WHERE ${where}`,
      params,
    );
  }

  /**
   * Bars of `target` computed from the stored `source` timeframe: first
   * open, max high, min low, last close, summed volume, dollar volume and
   * trade count per UTC-aligned bucket (a sum is null when a bar of the
   * bucket lacks that value). `range` holds the source rows.
   */
  async findDerivedRange(
    instrumentId: string,
    source: TimeFrame,
    target: TimeFrame,
    range: TimeRange,
    fields: readonly PointField[],
    page: Page,
  ): Promise<PointsPage> {
    const buckets = `WITH buckets AS (
         SELECT date_bin(make_interval(secs => $5), "timestamp", TIMESTAMPTZ '1970-01-01T00:00:00Z') AS bucket,
                (array_agg(open_price ORDER BY "timestamp"))[1] AS open_price,
                max(high_price) AS high_price,
                min(low_price) AS low_price,
                (array_agg(close_price ORDER BY "timestamp" DESC))[1] AS close_price,
                sum(volume) AS volume,
                -- A sum over a bucket with a missing value would pass for the whole: null instead.
                CASE WHEN count(dollar_volume) = count(*) THEN sum(dollar_volume) END AS dollar_volume,
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
    return this.selectPage(
      `${buckets}, page AS (
         SELECT ${selectList(fields, BUCKET_FIELD_SQL)} FROM buckets
          ORDER BY buckets.bucket LIMIT $6 OFFSET $7)
       SELECT (SELECT count(*) FROM page) AS page_count,
              (SELECT '[' || coalesce(string_agg(row_to_json(page)::text, ','), '') || ']' FROM page) AS points`,
      [...params, page.limit, page.offset],
      page,
      `${buckets} SELECT count(*) AS total_count FROM buckets`,
      params,
    );
  }

  /** Which of `candidates` have at least one row of `instrumentId` in `range`. */
  async findTimeframesWithData(
    instrumentId: string,
    candidates: readonly TimeFrame[],
    range: TimeRange,
  ): Promise<TimeFrame[]> {
    if (candidates.length === 0) return [];
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ timeframe: TimeFrame }>(
        `SELECT tf AS timeframe FROM unnest($2::text[]) AS tf
          WHERE EXISTS (SELECT 1 FROM market_data_ts
                         WHERE instrument_id = $1 AND timeframe = tf AND "timestamp" >= $3 AND "timestamp" < $4)`,
        [instrumentId, candidates, isoOf(range.fromMs), isoOf(range.toMs)],
      ),
    );
    return rows.map((r) => r.timeframe);
  }

  /** The newest bar of `series` as a JSON object, or null when it has none. */
  async findLatest(series: SeriesKey, fields: readonly PointField[]): Promise<string | null> {
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ point: string }>(
        `SELECT row_to_json(p)::text AS point FROM (
           SELECT ${selectList(fields, FIELD_SQL)} FROM market_data_ts t
            WHERE t.instrument_id = $1 AND t.timeframe = $2
            ORDER BY t."timestamp" DESC LIMIT 1) p`,
        [series.instrumentId, series.timeframe],
      ),
    );
    return rows[0]?.point ?? null;
  }

  /** Deletes the rows of an instrument (one timeframe, or all) in `range`; returns how many. */
  async deleteRange(
    instrumentId: string,
    timeframe: TimeFrame | undefined,
    range: TimeRange,
  ): Promise<number> {
    return translatePgErrors(() =>
      this.inTransaction(async (client) => {
        await this.allowDmlOnCompressedChunks(client);
        const result = await client.query(
          `DELETE FROM market_data_ts
            WHERE instrument_id = $1 AND ($2::text IS NULL OR timeframe = $2)
              AND "timestamp" >= $3 AND "timestamp" < $4`,
          [instrumentId, timeframe ?? null, isoOf(range.fromMs), isoOf(range.toMs)],
        );
        return result.rowCount ?? 0;
      }),
    );
  }

  /**
   * 1 - compressed/uncompressed bytes over the compressed chunks that hold
   * this series' time span; 0 when none is compressed (or on plain PostgreSQL).
   */
  async measureCompressionRatio(series: SeriesKey): Promise<number> {
    if (this.db.info.engine !== 'timescaledb') return 0;
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ ratio: number | null }>(
        `WITH span AS (
           SELECT min("timestamp") AS lo, max("timestamp") AS hi FROM market_data_ts
            WHERE instrument_id = $1 AND timeframe = $2),
         compressed AS (${COMPRESSED_CHUNKS_SQL})
         SELECT 1 - sum(c.after_bytes)::float8 / nullif(sum(c.before_bytes), 0) AS ratio
           FROM compressed c CROSS JOIN span
          WHERE c.range_end > span.lo AND c.range_start <= span.hi`,
        [series.instrumentId, series.timeframe],
      ),
    );
    return rows[0]?.ratio ?? 0;
  }

  /** The page, then the count of the whole range only when the page cannot tell it. */
  private async selectPage(
    pageSql: string,
    pageParams: unknown[],
    page: Page,
    countSql: string,
    countParams: unknown[],
  ): Promise<PointsPage> {
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ page_count: string; points: string }>(pageSql, pageParams),
    );
    const pointsJson = rows[0].points;
    const known = pageTotal(page, Number(rows[0].page_count));
    if (known !== undefined) return { totalCount: known, pointsJson };
    const counted = await translatePgErrors(() =>
      this.db.pool.query<{ total_count: string }>(countSql, countParams),
    );
    return { totalCount: Number(counted.rows[0].total_count), pointsJson };
  }

  /** TimescaleDB caps rows decompressed per statement; a bulk upsert or delete may pass it. */
  private async allowDmlOnCompressedChunks(client: PoolClient): Promise<void> {
    if (this.db.info.engine === 'timescaledb') {
      await client.query(`SET LOCAL timescaledb.max_tuples_decompressed_per_dml_transaction = 0`);
    }
  }

  private async inTransaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.db.pool.connect();
    let broken: Error | undefined;
    // A connection dying while checked out emits 'error' on the client; unheard, it would crash the process.
    const onError = (error: Error) => (broken = error);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // A connection that failed mid-transaction is discarded, not returned to the pool.
      if (isUnavailable(error)) broken = error as Error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }
}

function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}

/** COPY text format escapes. */
function copyText(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}
