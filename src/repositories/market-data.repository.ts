import { Inject, Injectable } from '@nestjs/common';
import { SeriesKey, TimeFrame } from '../common/market-data.types';
import { COMPRESSED_CHUNKS_SQL } from './compressed-chunks.sql';
import { allowDmlOnCompressedChunks } from './bulk-sql';
import { BulkWriter } from './bulk-writer';
import { DatabaseConnection } from '../database/database-connection';
import { MarketDataPartitions, monthStart, partitionName } from './market-data-partitions';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { translatePgErrors } from '../database/pg-errors';
import { withTransaction } from '../database/sessions';
import { BAR_TABLE, BarRow, SeriesBars } from './write-tables';

export type { BarRow, SeriesBars };

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

/**
 * Raw SQL on market_data_ts: the hot path. Values always travel as
 * parameters (columns as arrays); identifiers come from the whitelists above.
 */
@Injectable()
export class MarketDataRepository {
  private readonly partitions?: MarketDataPartitions;
  private readonly writer: BulkWriter<BarRow, SeriesKey>;

  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {
    if (db.info.engine === 'postgresql') this.partitions = MarketDataPartitions.for(db.pool);
    this.writer = new BulkWriter(db, BAR_TABLE, this.partitions);
  }

  /** Creates the partitions the next months will need (plain PostgreSQL only); returns those it created. */
  async preparePartitionsAhead(nowMs: number, months: number): Promise<string[]> {
    const ahead = new Date(nowMs);
    ahead.setUTCMonth(ahead.getUTCMonth() + months);
    return translatePgErrors(
      async () => (await this.partitions?.ensureCovering(nowMs, ahead.getTime())) ?? [],
    );
  }

  /** Writes bars of one series in one transaction: upsertSeriesBars with one series. */
  async upsertBars(series: SeriesKey, bars: readonly BarRow[]): Promise<void> {
    await this.upsertSeriesBars([{ series, bars }]);
  }

  /**
   * Writes the bars of several series at once, all or nothing (a REST store
   * or an event batch is one commit); an existing (instrument, timeframe,
   * timestamp) is replaced, and each series must hold each timestamp once.
   * See BulkWriter for the COPY and merge paths.
   */
  async upsertSeriesBars(batches: readonly SeriesBars[]): Promise<void> {
    await this.writer.upsert(batches.map((b) => ({ group: b.series, rows: b.bars })));
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

  /** Deletes the rows of an instrument (one timeframe, or all) in `range`; returns how many. */
  async deleteRange(
    instrumentId: string,
    timeframe: TimeFrame | undefined,
    range: TimeRange,
  ): Promise<number> {
    const deleted = await translatePgErrors(() =>
      withTransaction(this.db.pool, async (client) => {
        await allowDmlOnCompressedChunks(client, this.db.info.engine === 'timescaledb');
        const result = await client.query(
          `DELETE FROM market_data_ts
            WHERE instrument_id = $1 AND ($2::text IS NULL OR timeframe = $2)
              AND "timestamp" >= $3 AND "timestamp" < $4`,
          [instrumentId, timeframe ?? null, isoOf(range.fromMs), isoOf(range.toMs)],
        );
        return result.rowCount ?? 0;
      }),
    );
    // Committed: reads of the instrument stay on the primary until a replica has it.
    await this.db.reads.noteWrite([instrumentId]);
    return deleted;
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
}

function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}
