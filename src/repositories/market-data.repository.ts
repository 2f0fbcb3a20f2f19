import { Inject, Injectable } from '@nestjs/common';
import { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SeriesKey, TimeFrame } from '../common/market-data.types';
import { COMPRESSED_CHUNKS_SQL } from './compressed-chunks.sql';
import { CopyColumn, CopyEncoder } from './copy-encoding';
import { DatabaseConnection } from '../database/database-connection';
import { KnownNewest } from './known-newest';
import { MarketDataPartitions, monthStart, partitionName } from './market-data-partitions';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { translatePgErrors } from '../database/pg-errors';
import { withClient, withTransaction } from '../database/sessions';

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

/** The columns every write sets, in COPY order, with where each value comes from. */
const WRITE_COLUMN_LIST: readonly CopyColumn<BarRow, SeriesKey>[] = [
  { name: 'timestamp', kind: 'epochMs', value: (b) => b.timestampMs },
  { name: 'instrument_id', kind: 'text', value: (_b, s) => s.instrumentId },
  { name: 'timeframe', kind: 'text', value: (_b, s) => s.timeframe },
  { name: 'open_price', kind: 'number', value: (b) => b.open },
  { name: 'high_price', kind: 'number', value: (b) => b.high },
  { name: 'low_price', kind: 'number', value: (b) => b.low },
  { name: 'close_price', kind: 'number', value: (b) => b.close },
  { name: 'volume', kind: 'decimal', value: (b) => b.volume },
  { name: 'dollar_volume', kind: 'number', value: (b) => b.dollarVolume },
  { name: 'trade_count', kind: 'integer', value: (b) => b.tradeCount },
  { name: 'quality_score', kind: 'number', value: (b) => b.qualityScore },
  { name: 'source', kind: 'text', value: (b) => b.source },
];

const WRITE_COLUMNS = WRITE_COLUMN_LIST.map((c) => `"${c.name}"`).join(', ');

/** An upsert replaces every value column; created_at keeps the first write. */
const UPSERT_SET = WRITE_COLUMN_LIST.slice(3)
  .map((c) => `${c.name} = EXCLUDED.${c.name}`)
  .join(', ');

/** Below this many rows a COPY costs more than it saves. */
const COPY_MIN_ROWS = 500;

const UNIQUE_VIOLATION = '23505';
/** A binary COPY that no longer matches the column types (invalid binary representation, wrong type). */
const BINARY_MISMATCH = new Set(['22P03', '42804']);

type BarEncoder = CopyEncoder<BarRow, SeriesKey>;

/**
 * Raw SQL on market_data_ts: the hot path. Values always travel as
 * parameters (columns as arrays); identifiers come from the whitelists above.
 */
@Injectable()
export class MarketDataRepository {
  private readonly partitions?: MarketDataPartitions;
  private readonly knownNewest = new KnownNewest();
  /** Connections whose session already holds the staging table. */
  private readonly stagingReady = new WeakSet<PoolClient>();
  private encoderReady: Promise<BarEncoder> | undefined;
  private encoder: BarEncoder | undefined;

  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {
    if (db.info.engine === 'postgresql') this.partitions = MarketDataPartitions.for(db.pool);
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
   *
   * On a server the batch is encoded for COPY once. Bars that start after
   * the newest row known for their series go in with one plain COPY (a
   * single atomic statement); if that meets an existing row (unique
   * violation) nothing of it stays and the same data is merged instead: COPY
   * into a per-connection staging table, then `INSERT ... ON CONFLICT DO
   * UPDATE`, in one transaction. A batch known to overwrite goes to the merge
   * at once. The embedded engine (no COPY there) and small batches upsert
   * from arrays.
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
    const series = written.map((b) => b.series);
    await translatePgErrors(async () => {
      // Before the transaction: a partition is created on a connection of its own.
      await this.partitions?.ensureFor(instantsOf(written));
      if (this.db.info.embedded || total < COPY_MIN_ROWS) {
        await withTransaction(this.db.pool, async (client) => {
          await this.allowDmlOnCompressedChunks(client);
          await this.upsertSeriesFromArrays(client, written);
        });
      } else {
        const encoder = await this.copyEncoder();
        const data = encoder.encode(written.map((b) => ({ group: b.series, rows: b.bars })));
        const overwrites = this.knownNewest.overlaps(
          series,
          spans.map((s) => s.min),
        );
        if (overwrites || !(await this.copyNewRows(encoder, data))) {
          const newest = await this.mergeCopied(encoder, data, overwrites ? undefined : series);
          newest.forEach((ms, i) => this.knownNewest.record(series[i], ms));
        }
      }
      spans.forEach((span, i) => this.knownNewest.record(series[i], span.max));
    });
  }

  /**
   * One COPY of `data` straight into market_data_ts; false when it met an
   * existing row (then nothing of it was stored).
   */
  private async copyNewRows(encoder: BarEncoder, data: readonly Buffer[]): Promise<boolean> {
    const copy = (client: PoolClient) =>
      this.sendCopy(client, encoder, encoder.statement('market_data_ts'), data);
    try {
      // A COPY is atomic by itself; TimescaleDB needs its per-transaction setting.
      if (this.db.info.engine === 'timescaledb') {
        await withTransaction(this.db.pool, async (client) => {
          await this.allowDmlOnCompressedChunks(client);
          await copy(client);
        });
      } else {
        await withClient(this.db.pool, copy);
      }
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) return false;
      throw error;
    }
  }

  /**
   * `data` COPYed into the connection's staging table and merged with ON
   * CONFLICT, in one transaction. After a collision (`collided`: the series
   * of the batch) also reads the newest stored row of each of those series,
   * so their next batches that still overwrite skip the COPY attempt;
   * returns those timestamps (empty otherwise).
   */
  private async mergeCopied(
    encoder: BarEncoder,
    data: readonly Buffer[],
    collided: readonly SeriesKey[] | undefined,
  ): Promise<number[]> {
    let prepared: PoolClient | undefined;
    const newest = await withTransaction(this.db.pool, async (client) => {
      await this.allowDmlOnCompressedChunks(client);
      if (!this.stagingReady.has(client)) {
        await client.query(
          `CREATE TEMP TABLE IF NOT EXISTS market_data_staging
             (LIKE market_data_ts INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
        );
        prepared = client;
      }
      await this.sendCopy(client, encoder, encoder.statement('market_data_staging'), data);
      await client.query(
        `INSERT INTO market_data_ts (${WRITE_COLUMNS})
         SELECT ${WRITE_COLUMNS} FROM market_data_staging
         ON CONFLICT (instrument_id, timeframe, "timestamp") DO UPDATE SET ${UPSERT_SET}`,
      );
      if (!collided) return [];
      const { rows } = await client.query<{ newest_ms: number | null }>(
        `SELECT (SELECT extract(epoch FROM max("timestamp")) * 1000 FROM market_data_ts m
                  WHERE m.instrument_id = k.instrument_id AND m.timeframe = k.timeframe)::float8 AS newest_ms
           FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(instrument_id, timeframe, ord)
          ORDER BY k.ord`,
        [collided.map((s) => s.instrumentId), collided.map((s) => s.timeframe)],
      );
      return rows.map((r) => r.newest_ms ?? -Infinity);
    });
    // Created by a committed transaction: it stays for the connection's life.
    if (prepared) this.stagingReady.add(prepared);
    return newest;
  }

  private async sendCopy(
    client: PoolClient,
    encoder: BarEncoder,
    statement: string,
    data: readonly Buffer[],
  ): Promise<void> {
    try {
      await pipeline(Readable.from(data), client.query(copyFrom(statement)));
    } catch (error) {
      // The table's column types changed under a running service: learn them again.
      if (BINARY_MISMATCH.has((error as { code?: string }).code ?? '')) {
        if (this.encoder === encoder) this.encoderReady = undefined;
      }
      throw error;
    }
  }

  /** The COPY encoder for market_data_ts's current column types (binary where they allow). */
  private async copyEncoder(): Promise<BarEncoder> {
    this.encoderReady ??= (async () => {
      const { rows } = await this.db.pool.query<{ name: string; type: string }>(
        `SELECT a.attname AS name, t.typname AS type
           FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
          WHERE a.attrelid = 'market_data_ts'::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
      );
      this.encoder = new CopyEncoder(WRITE_COLUMN_LIST, new Map(rows.map((r) => [r.name, r.type])));
      return this.encoder;
    })();
    try {
      return await this.encoderReady;
    } catch (error) {
      this.encoderReady = undefined;
      throw error;
    }
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
         -- Prices as numeric straight from their shortest decimal text: exact (a float8 step would round).
         FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::numeric[], $5::numeric[],
                     $6::numeric[], $7::numeric[], $8::bigint[], $9::numeric[], $10::int[],
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

  /** Deletes the rows of an instrument (one timeframe, or all) in `range`; returns how many. */
  async deleteRange(
    instrumentId: string,
    timeframe: TimeFrame | undefined,
    range: TimeRange,
  ): Promise<number> {
    return translatePgErrors(() =>
      withTransaction(this.db.pool, async (client) => {
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

  /** TimescaleDB caps rows decompressed per statement; a bulk upsert or delete may pass it. */
  private async allowDmlOnCompressedChunks(client: PoolClient): Promise<void> {
    if (this.db.info.engine === 'timescaledb') {
      await client.query(`SET LOCAL timescaledb.max_tuples_decompressed_per_dml_transaction = 0`);
    }
  }
}

function* instantsOf(batches: readonly SeriesBars[]): Generator<number> {
  for (const { bars } of batches) for (const bar of bars) yield bar.timestampMs;
}

function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}
