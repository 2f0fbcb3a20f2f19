import { Inject, Injectable } from '@nestjs/common';
import { CompressionLevel } from '../common/market-data.types';
import type { LockedSession } from '../database/advisory-lock';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { translatePgErrors } from '../database/pg-errors';
import { ROLLUP_LEVELS, RollupLevel } from './rollups.repository';
import { DEFAULT_COMPRESSION_LEVEL, toStoredLevel } from '../configuration/compression-level';
import { onlyRow } from '../database/rows';

/** A chunk of market_data_ts not (or no longer wholly) compressed. */
export interface OpenChunk {
  /** Schema-qualified name, e.g. _timescaledb_internal._hyper_1_4_chunk. */
  readonly name: string;
  readonly rangeStartMs: number;
  readonly rangeEndMs: number;
  /** Compressed, then written to: rows wait outside the compressed part. */
  readonly partial: boolean;
}

/** A chunk of a rollup's materialized hypertable not (or no longer wholly) compressed. */
export interface OpenRollupChunk extends OpenChunk {
  /** The level (continuous aggregate) the chunk holds buckets of. */
  readonly level: RollupLevel;
}

/** The statements of one compression run, on the connection that holds the job's lock. */
export class CompressionSession {
  constructor(private readonly sql: LockedSession) {}

  /** Chunks with rows outside compression (uncompressed or partially compressed), oldest first. */
  async findOpenChunks(): Promise<OpenChunk[]> {
    const { rows } = await translatePgErrors(() =>
      this.sql.query<{ name: string; range_start: Date; range_end: Date; partial: boolean }>(
        `SELECT format('%I.%I', c.chunk_schema, c.chunk_name) AS name,
                c.range_start, c.range_end,
                -- status bit 8: compressed, then written to
                s.status & 8 <> 0 AS partial
           FROM timescaledb_information.chunks c
           JOIN _timescaledb_catalog.chunk s
             ON s.schema_name = c.chunk_schema AND s.table_name = c.chunk_name
          WHERE c.hypertable_schema = current_schema() AND c.hypertable_name = 'market_data_ts'
            AND (NOT c.is_compressed OR s.status & 8 <> 0)
          ORDER BY c.range_start`,
      ),
    );
    return rows.map((r) => ({
      name: r.name,
      rangeStartMs: r.range_start.getTime(),
      rangeEndMs: r.range_end.getTime(),
      partial: r.partial,
    }));
  }

  /**
   * The chunks of the rollups' materialized hypertables (the continuous
   * aggregates of ROLLUP_LEVELS) with rows outside compression, finest
   * level first, oldest first within a level. A refresh into a compressed
   * chunk leaves it partial, like a write into a chunk of bars.
   */
  async findOpenRollupChunks(): Promise<OpenRollupChunk[]> {
    const { rows } = await translatePgErrors(() =>
      this.sql.query<{
        view: string;
        name: string;
        range_start: Date;
        range_end: Date;
        partial: boolean;
      }>(
        `SELECT a.user_view_name AS view, format('%I.%I', c.chunk_schema, c.chunk_name) AS name,
                c.range_start, c.range_end, s.status & 8 <> 0 AS partial
           FROM _timescaledb_catalog.continuous_agg a
           JOIN _timescaledb_catalog.hypertable h ON h.id = a.mat_hypertable_id
           JOIN timescaledb_information.chunks c
             ON c.hypertable_schema = h.schema_name AND c.hypertable_name = h.table_name
           JOIN _timescaledb_catalog.chunk s
             ON s.schema_name = c.chunk_schema AND s.table_name = c.chunk_name
          WHERE a.user_view_schema = current_schema() AND a.user_view_name = ANY ($1::text[])
            AND (NOT c.is_compressed OR s.status & 8 <> 0)
          ORDER BY array_position($1::text[], a.user_view_name::text), c.range_start`,
        [ROLLUP_LEVELS.map((l) => l.view)],
      ),
    );
    return rows.map((r) => ({
      level: ROLLUP_LEVELS.find((l) => l.view === r.view)!,
      name: r.name,
      rangeStartMs: r.range_start.getTime(),
      rangeEndMs: r.range_end.getTime(),
      partial: r.partial,
    }));
  }

  /**
   * Whether the chunk's time range holds rows of a series at one of
   * `levels`; a series without a configuration is at the default level.
   * Without the default among them this is one index probe per configured
   * series at those levels; with it, a scan that stops at the first row of
   * a series not configured otherwise.
   */
  async holdsSeriesAt(chunk: OpenChunk, levels: readonly CompressionLevel[]): Promise<boolean> {
    const stored = levels.map(toStoredLevel);
    const sql = levels.includes(DEFAULT_COMPRESSION_LEVEL)
      ? `SELECT EXISTS (
           SELECT 1 FROM market_data_ts d
            WHERE d."timestamp" >= $1 AND d."timestamp" < $2
              AND NOT EXISTS (SELECT 1 FROM storage_configurations c
                               WHERE c.instrument_id = d.instrument_id AND c.timeframe = d.timeframe
                                 AND c.compression_level <> ALL ($3::text[]))) AS found`
      : `SELECT EXISTS (
           SELECT 1 FROM storage_configurations c
            WHERE c.compression_level = ANY ($3::text[])
              AND EXISTS (SELECT 1 FROM market_data_ts d
                           WHERE d.instrument_id = c.instrument_id AND d.timeframe = c.timeframe
                             AND d."timestamp" >= $1 AND d."timestamp" < $2)) AS found`;
    const { rows } = await translatePgErrors(() =>
      this.sql.query<{ found: boolean }>(sql, [
        new Date(chunk.rangeStartMs).toISOString(),
        new Date(chunk.rangeEndMs).toISOString(),
        stored,
      ]),
    );
    return onlyRow(rows).found;
  }

  /** Compresses the chunk (recompresses a partial one); a compressed one is left as it is. */
  async compress(chunk: OpenChunk): Promise<void> {
    await translatePgErrors(() =>
      this.sql.query(`SELECT compress_chunk($1::regclass, if_not_compressed => true)`, [
        chunk.name,
      ]),
    );
  }
}

/** TimescaleDB chunk compression (bars and rollups) for the lifecycle task `compression`. */
@Injectable()
export class CompressionRepository {
  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {}

  /** Plain PostgreSQL has no compression at all. */
  get compressionAvailable(): boolean {
    return this.db.info.engine === 'timescaledb';
  }

  /** The compression task's statements on the session holding its lock (AdvisoryLock). */
  sessionOn(sql: LockedSession): CompressionSession {
    return new CompressionSession(sql);
  }
}
