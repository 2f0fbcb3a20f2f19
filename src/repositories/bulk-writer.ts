import { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DatabaseConnection } from '../database/database-connection';
import { translatePgErrors } from '../database/pg-errors';
import { withClient, withTransaction } from '../database/sessions';
import { allowDmlOnCompressedChunks } from './bulk-sql';
import {
  CopyColumn,
  CopyData,
  CopyEncoder,
  CopyGroup,
  CopyValue,
  CopyValueKind,
} from './copy-encoding';
import { isoUs } from './instants';
import { KnownNewest } from './known-newest';
import { MarketDataPartitions } from './market-data-partitions';

/** The tables written in bulk (a whitelist: their names go into SQL text). */
export type WrittenTable = 'market_data_ts' | 'market_trades_ts' | 'market_quotes_ts';

/** A written column: its COPY value, and the array type the upsert from arrays casts it to. */
export interface WriteColumn<R, G> extends CopyColumn<R, G> {
  readonly arrayType: string;
}

/**
 * One table's write shape: its columns, its conflict key, the columns that
 * name a group of rows, and how a row is timed (in the table's unit).
 */
export interface WriteTable<R, G> {
  readonly name: WrittenTable;
  readonly columns: readonly WriteColumn<R, G>[];
  /** The unique key an upsert conflicts on; every other column is replaced. */
  readonly conflictKey: readonly string[];
  /** When set, an existing row is replaced only where this holds (SQL over EXCLUDED and the table). */
  readonly replaceOnlyIf?: string;
  /** The columns a group (a series, an instrument) is named by, with their value. */
  readonly groupColumns: readonly { readonly name: string; readonly value: (group: G) => string }[];
  readonly instantOf: (row: R) => number;
  /** The unit of instantOf: 1 (ms) or 1000 (µs). */
  readonly unitsPerMs: 1 | 1000;
}

/** Below this many rows a COPY costs more than it saves. */
const COPY_MIN_ROWS = 500;
/** Rows per array statement (the embedded engine's memory, not a bind limit, bounds it). */
const ARRAY_BATCH_ROWS = 50_000;
const UNIQUE_VIOLATION = '23505';
/** A binary COPY that no longer matches the column types (invalid binary representation, wrong type). */
const BINARY_MISMATCH = new Set(['22P03', '42804']);

interface GroupSpan {
  readonly key: string;
  readonly oldest: number;
  readonly newest: number;
}

/**
 * The one write path of market_data_ts, market_trades_ts and
 * market_quotes_ts: groups of rows written all or nothing, an existing key
 * replaced.
 *
 * On a server the batch is encoded for COPY once (binary where the column
 * types allow). Rows that start after the newest row known for their group
 * go in with one plain COPY (a single atomic statement); if that meets an
 * existing row (unique violation) nothing of it stays and the same data is
 * merged instead: COPY into a per-connection staging table, then
 * `INSERT ... ON CONFLICT DO UPDATE`, in one transaction. A batch known to
 * overwrite goes to the merge at once. The embedded engine (no COPY there)
 * and small batches upsert from arrays.
 */
export class BulkWriter<R, G> {
  private readonly knownNewest = new KnownNewest();
  /** Connections whose session already holds the staging table. */
  private readonly stagingReady = new WeakSet<PoolClient>();
  private encoderReady: Promise<CopyEncoder<R, G>> | undefined;
  private encoder: CopyEncoder<R, G> | undefined;
  private readonly staging: string;
  private readonly columnList: string;
  private readonly conflictSql: string;

  constructor(
    private readonly db: DatabaseConnection,
    private readonly table: WriteTable<R, G>,
    private readonly partitions: MarketDataPartitions | undefined,
  ) {
    this.staging = table.name.replace(/_ts$/, '_staging');
    this.columnList = table.columns.map((c) => `"${c.name}"`).join(', ');
    const set = table.columns
      .filter((c) => !table.conflictKey.includes(c.name))
      .map((c) => `"${c.name}" = EXCLUDED."${c.name}"`)
      .join(', ');
    const key = table.conflictKey.map((c) => `"${c}"`).join(', ');
    const where = table.replaceOnlyIf ? ` WHERE ${table.replaceOnlyIf}` : '';
    this.conflictSql = `ON CONFLICT (${key}) DO UPDATE SET ${set}${where}`;
  }

  private get timescale(): boolean {
    return this.db.info.engine === 'timescaledb';
  }

  /** Writes the groups in one commit; each group must hold each key once. */
  async upsert(groups: readonly CopyGroup<R, G>[]): Promise<void> {
    const written = groups.filter((g) => g.rows.length > 0);
    if (written.length === 0) return;
    const spans = written.map((g) => this.spanOf(g));
    const total = written.reduce((n, g) => n + g.rows.length, 0);
    await translatePgErrors(async () => {
      // Before the transaction: a partition is created on a connection of its own.
      await this.partitions?.ensureFor(this.instantsMs(written));
      if (this.db.info.embedded || total < COPY_MIN_ROWS) {
        await withTransaction(this.db.pool, async (client) => {
          await allowDmlOnCompressedChunks(client, this.timescale);
          await this.upsertFromArrays(client, written);
        });
      } else {
        const encoder = await this.copyEncoder();
        const data = encoder.encode(written);
        const overwrites = this.knownNewest.overlaps(spans);
        if (overwrites || !(await this.copyNewRows(encoder, data))) {
          const collided = overwrites ? [] : written.map((g) => g.group);
          const newest = await this.mergeCopied(encoder, data, collided);
          newest.forEach((instant, i) => {
            const span = spans[i];
            if (span) this.knownNewest.record(span.key, instant);
          });
        }
      }
      for (const span of spans) this.knownNewest.record(span.key, span.newest);
    });
    // Committed: reads of these instruments stay on the primary until a replica has it.
    await this.db.reads.noteWrite(written.map((g) => this.instrumentOf(g.group)));
  }

  private instrumentOf(group: G): string {
    const column = this.table.groupColumns.find((c) => c.name === 'instrument_id');
    if (!column) throw new Error(`${this.table.name}: no instrument_id among the group columns`);
    return column.value(group);
  }

  private spanOf({ group, rows }: CopyGroup<R, G>): GroupSpan {
    let oldest = Infinity;
    let newest = -Infinity;
    for (const row of rows) {
      const instant = this.table.instantOf(row);
      if (instant < oldest) oldest = instant;
      if (instant > newest) newest = instant;
    }
    return {
      key: this.table.groupColumns.map((c) => c.value(group)).join('\u0000'),
      oldest,
      newest,
    };
  }

  private *instantsMs(groups: readonly CopyGroup<R, G>[]): Generator<number> {
    const { instantOf, unitsPerMs } = this.table;
    for (const { rows } of groups) {
      for (const row of rows) yield Math.floor(instantOf(row) / unitsPerMs);
    }
  }

  /** One COPY of `data` straight into the table; false when it met an existing row (then nothing of it was stored). */
  private async copyNewRows(encoder: CopyEncoder<R, G>, data: CopyData): Promise<boolean> {
    const copy = (client: PoolClient) =>
      this.sendCopy(client, encoder, encoder.statement(this.table.name), data);
    try {
      // A COPY is atomic by itself; TimescaleDB needs its per-transaction setting.
      if (this.timescale) {
        await withTransaction(this.db.pool, async (client) => {
          await allowDmlOnCompressedChunks(client, true);
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
   * CONFLICT, in one transaction. After a collision (`collided`: the groups
   * of the batch) also reads the newest stored row of each of those groups,
   * so their next batches that still overwrite skip the COPY attempt;
   * returns those instants (empty otherwise).
   */
  private async mergeCopied(
    encoder: CopyEncoder<R, G>,
    data: CopyData,
    collided: readonly G[],
  ): Promise<number[]> {
    let prepared: PoolClient | undefined;
    const newest = await withTransaction(this.db.pool, async (client) => {
      await allowDmlOnCompressedChunks(client, this.timescale);
      if (!this.stagingReady.has(client)) {
        await client.query(
          `CREATE TEMP TABLE IF NOT EXISTS ${this.staging}
             (LIKE ${this.table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
        );
        prepared = client;
      }
      await this.sendCopy(client, encoder, encoder.statement(this.staging), data);
      await client.query(
        `INSERT INTO ${this.table.name} (${this.columnList})
         SELECT ${this.columnList} FROM ${this.staging} ${this.conflictSql}`,
      );
      return collided.length > 0 ? this.findNewest(client, collided) : [];
    });
    // Created by a committed transaction: it stays for the connection's life.
    if (prepared) this.stagingReady.add(prepared);
    return newest;
  }

  /** The newest stored instant of each group, in order (-Infinity for none). */
  private async findNewest(client: PoolClient, groups: readonly G[]): Promise<number[]> {
    const names = this.table.groupColumns.map((c) => `"${c.name}"`);
    const params = names.map((_n, i) => `$${i + 1}::text[]`).join(', ');
    const match = names.map((n) => `m.${n} = k.${n}`).join(' AND ');
    const { rows } = await client.query<{ newest: number | null }>(
      `SELECT (SELECT extract(epoch FROM max("timestamp")) * ${1000 * this.table.unitsPerMs}
                 FROM ${this.table.name} m WHERE ${match})::float8 AS newest
         FROM unnest(${params}) WITH ORDINALITY AS k(${names.join(', ')}, ord)
        ORDER BY k.ord`,
      this.table.groupColumns.map((c) => groups.map((g) => c.value(g))),
    );
    return rows.map((r) => r.newest ?? -Infinity);
  }

  private async sendCopy(
    client: PoolClient,
    encoder: CopyEncoder<R, G>,
    statement: string,
    data: CopyData,
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

  /** The COPY encoder for the table's current column types (binary where they allow). */
  private async copyEncoder(): Promise<CopyEncoder<R, G>> {
    this.encoderReady ??= (async () => {
      const { rows } = await this.db.pool.query<{ name: string; type: string }>(
        `SELECT a.attname AS name, t.typname AS type
           FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
          WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
        [this.table.name],
      );
      this.encoder = new CopyEncoder(
        this.table.columns,
        new Map(rows.map((r) => [r.name, r.type])),
      );
      return this.encoder;
    })();
    try {
      return await this.encoderReady;
    } catch (error) {
      this.encoderReady = undefined;
      throw error;
    }
  }

  /** `INSERT ... SELECT FROM unnest(<one array per column>) ON CONFLICT`, in parts. */
  private async upsertFromArrays(client: PoolClient, groups: readonly CopyGroup<R, G>[]) {
    const columns = this.table.columns;
    const names = columns.map((_c, i) => `c${i}`);
    const selected = columns.map((c, i) =>
      // A list travels as JSON text: unnest cannot take an array of arrays of different lengths.
      c.kind === 'textArray'
        ? `CASE WHEN c${i} IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(c${i}::jsonb)) END`
        : `c${i}`,
    );
    const unnested = columns.map((c, i) => `$${i + 1}::${c.arrayType}[]`).join(', ');
    const sql = `INSERT INTO ${this.table.name} (${this.columnList})
       SELECT ${selected.join(', ')} FROM unnest(${unnested}) AS u(${names.join(', ')})
       ${this.conflictSql}`;
    const arrays: (CopyValue | null)[][] = columns.map(() => []);
    const flush = async () => {
      await client.query(sql, arrays);
      for (const values of arrays) values.length = 0;
    };
    for (const { group, rows } of groups) {
      for (const row of rows) {
        columns.forEach((c, i) => arrays[i]?.push(arrayValue(c.kind, c.value(row, group))));
        if ((arrays[0]?.length ?? 0) === ARRAY_BATCH_ROWS) await flush();
      }
    }
    if ((arrays[0]?.length ?? 0) > 0) await flush();
  }
}

/** A value as the array upsert's parameter: instants as exact ISO text, lists as JSON. */
function arrayValue(kind: CopyValueKind, value: CopyValue | null): CopyValue | null {
  if (value === null) return null;
  switch (kind) {
    case 'epochMs':
      return new Date(value as number).toISOString();
    case 'epochUs':
      return isoUs(value as number);
    case 'textArray':
      return JSON.stringify(value);
    default:
      return value;
  }
}
