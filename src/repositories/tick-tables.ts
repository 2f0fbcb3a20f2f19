import { DatabaseConnection } from '../database/database-connection';
import { compressedChunksSql } from './compressed-chunks.sql';
import { MarketDataPartitions, monthStart, partitionName } from './market-data-partitions';
import { translatePgErrors } from '../database/pg-errors';
import { isoUs } from './instants';

export { isoUs };

export type TickTable = 'market_trades_ts' | 'market_quotes_ts';

/**
 * The `timeframe` under which storage_configurations holds an instrument's
 * compression level for the table (trades and quotes have no timeframe; a
 * TICK is a trade).
 */
export const TICK_CONFIGURATION_KEY = {
  market_trades_ts: 'TRADE',
  market_quotes_ts: 'QUOTE',
} as const satisfies Record<TickTable, string>;

/** A chunk of a tick table with rows outside compression. */
export interface OpenTickChunk {
  /** Schema-qualified name, e.g. _timescaledb_internal._hyper_3_7_chunk. */
  readonly name: string;
  readonly rangeStartMs: number;
  readonly rangeEndMs: number;
}

/** Half-open [fromUs, toUs) in epoch microseconds. */
export interface MicroRange {
  readonly fromUs: number;
  readonly toUs: number;
}

/** A keyset position: the last row of a page, by (timestamp, key). */
export interface TickPosition {
  readonly timestampUs: number;
  readonly key: string;
}

/** One page of trades or quotes, serialized by PostgreSQL. */
export interface TickPage {
  readonly pointsJson: string;
  /** The rows of the whole range; only when asked for (it costs a count of the range). */
  readonly totalCount?: number;
  /** Where the next page starts; absent on the last page. */
  readonly next?: TickPosition;
}

/**
 * What the trades and quotes repositories share: partitions on plain
 * PostgreSQL, chunk compression and its measure on TimescaleDB, retention.
 * `table` comes from the TickTable whitelist only.
 */
export class TickTableMaintenance {
  readonly partitions?: MarketDataPartitions;

  constructor(
    private readonly db: DatabaseConnection,
    private readonly table: TickTable,
  ) {
    if (db.info.engine === 'postgresql') this.partitions = MarketDataPartitions.for(db.pool, table);
  }

  get timescale(): boolean {
    return this.db.info.engine === 'timescaledb';
  }

  get tableName(): TickTable {
    return this.table;
  }

  /** Creates the monthly partitions [nowMs, nowMs + months] needs (plain PostgreSQL only); returns those it created. */
  async preparePartitionsAhead(nowMs: number, months: number): Promise<string[]> {
    const ahead = new Date(nowMs);
    ahead.setUTCMonth(ahead.getUTCMonth() + months);
    return translatePgErrors(
      async () => (await this.partitions?.ensureCovering(nowMs, ahead.getTime())) ?? [],
    );
  }

  /**
   * 1 - compressed/uncompressed bytes over the compressed chunks that hold
   * the instrument's time span; 0 when none is (or on plain PostgreSQL).
   */
  async measureCompressionRatio(instrumentId: string): Promise<number> {
    if (!this.timescale) return 0;
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ ratio: number | null }>(
        `WITH span AS (
           SELECT min("timestamp") AS lo, max("timestamp") AS hi FROM ${this.table}
            WHERE instrument_id = $1),
         compressed AS (${compressedChunksSql(this.table)})
         SELECT 1 - sum(c.after_bytes)::float8 / nullif(sum(c.before_bytes), 0) AS ratio
           FROM compressed c CROSS JOIN span
          WHERE c.range_end > span.lo AND c.range_start <= span.hi`,
        [instrumentId],
      ),
    );
    return rows[0]?.ratio ?? 0;
  }

  /**
   * The chunk (TimescaleDB, from the row's tableoid) or monthly partition
   * (plain PostgreSQL, from the timestamp: every partition is made before a
   * write into it) holding the instrument's row at `timestampUs`; the table
   * where no such row is found.
   */
  async findRowPlace(instrumentId: string, timestampUs: number): Promise<string> {
    if (this.partitions)
      return partitionName(monthStart(Math.floor(timestampUs / 1000)), this.table);
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ location: string }>(
        `SELECT t.tableoid::regclass::text AS location FROM ${this.table} t
          WHERE t.instrument_id = $1 AND t."timestamp" = $2 LIMIT 1`,
        [instrumentId, isoUs(timestampUs)],
      ),
    );
    return rows[0]?.location ?? this.table;
  }

  /**
   * Compresses every chunk whose range ended before `cutoffMs` and is not
   * (wholly) compressed yet, whatever the instruments' levels; returns their
   * names. TimescaleDB only (benches and tests; the lifecycle job goes by
   * configuration).
   */
  async compressChunksEndedBefore(cutoffMs: number): Promise<string[]> {
    const chunks = await this.findOpenChunksEndedBy(cutoffMs);
    for (const chunk of chunks) await this.compressChunk(chunk);
    return chunks.map((c) => c.name);
  }

  /** Chunks with rows outside compression whose range ended by `cutoffMs`, oldest first. TimescaleDB only. */
  async findOpenChunksEndedBy(cutoffMs: number): Promise<OpenTickChunk[]> {
    if (!this.timescale) return [];
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ name: string; range_start: Date; range_end: Date }>(
        `SELECT format('%I.%I', c.chunk_schema, c.chunk_name) AS name, c.range_start, c.range_end
           FROM timescaledb_information.chunks c
           JOIN _timescaledb_catalog.chunk s
             ON s.schema_name = c.chunk_schema AND s.table_name = c.chunk_name
          WHERE c.hypertable_schema = current_schema() AND c.hypertable_name = $1
            AND c.range_end <= $2 AND (NOT c.is_compressed OR s.status & 8 <> 0)
          ORDER BY c.range_start`,
        [this.table, new Date(cutoffMs).toISOString()],
      ),
    );
    return rows.map((r) => ({
      name: r.name,
      rangeStartMs: r.range_start.getTime(),
      rangeEndMs: r.range_end.getTime(),
    }));
  }

  /**
   * Whether the chunk's range holds rows of an instrument whose compression
   * level (storage_configurations under TICK_CONFIGURATION_KEY) is one of
   * `storedLevels`; `includesDefault`: an instrument without a configuration
   * counts as one of them.
   */
  async holdsInstrumentsAt(
    chunk: OpenTickChunk,
    storedLevels: readonly string[],
    includesDefault: boolean,
  ): Promise<boolean> {
    const sql = includesDefault
      ? `SELECT EXISTS (
           SELECT 1 FROM ${this.table} d
            WHERE d."timestamp" >= $1 AND d."timestamp" < $2
              AND NOT EXISTS (SELECT 1 FROM storage_configurations c
                               WHERE c.instrument_id = d.instrument_id AND c.timeframe = $4
                                 AND c.compression_level <> ALL ($3::text[]))) AS found`
      : `SELECT EXISTS (
           SELECT 1 FROM storage_configurations c
            WHERE c.timeframe = $4 AND c.compression_level = ANY ($3::text[])
              AND EXISTS (SELECT 1 FROM ${this.table} d
                           WHERE d.instrument_id = c.instrument_id
                             AND d."timestamp" >= $1 AND d."timestamp" < $2)) AS found`;
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ found: boolean }>(sql, [
        new Date(chunk.rangeStartMs).toISOString(),
        new Date(chunk.rangeEndMs).toISOString(),
        storedLevels,
        TICK_CONFIGURATION_KEY[this.table],
      ]),
    );
    return rows[0]?.found ?? false;
  }

  /** Compresses the chunk (recompresses a partial one). */
  async compressChunk(chunk: OpenTickChunk): Promise<void> {
    await translatePgErrors(() =>
      this.db.pool.query(`SELECT compress_chunk($1::regclass, if_not_compressed => true)`, [
        chunk.name,
      ]),
    );
  }

  /**
   * Retention: removes every chunk (TimescaleDB) or monthly partition (plain
   * PostgreSQL) that lies wholly before `cutoffMs`; returns how many.
   */
  /** The chunks or partitions dropDataBefore(cutoffMs) would drop (a retention dry run). */
  async findDataBefore(cutoffMs: number): Promise<string[]> {
    if (this.timescale) {
      const { rows } = await translatePgErrors(() =>
        this.db.pool.query<{ chunk: string }>(
          `SELECT show_chunks($1::regclass, older_than => $2::timestamptz)::text AS chunk`,
          [this.table, new Date(cutoffMs).toISOString()],
        ),
      );
      return rows.map((r) => r.chunk);
    }
    return translatePgErrors(async () =>
      ((await this.partitions?.listEndingBy(cutoffMs)) ?? []).map((p) => p.name),
    );
  }

  async dropDataBefore(cutoffMs: number): Promise<number> {
    const cutoff = new Date(cutoffMs).toISOString();
    if (this.timescale) {
      const { rows } = await translatePgErrors(() =>
        this.db.pool.query<{ chunk: string }>(
          `SELECT drop_chunks($1::regclass, older_than => $2::timestamptz)::text AS chunk`,
          [this.table, cutoff],
        ),
      );
      return rows.length;
    }
    const dropped = await translatePgErrors(
      async () => (await this.partitions?.dropEndingBy(cutoffMs)) ?? [],
    );
    return dropped.length;
  }
}
