import { DatabaseConnection } from '../database/database-connection';
import { translatePgErrors } from '../database/pg-errors';
import type { ReadSource } from '../read-routing/read-replicas';
import { ISO_US_SQL } from './bulk-sql';
import { onlyRow } from '../database/rows';
import { isoUs, MicroRange, TickPage, TickPosition, TickTable } from './tick-tables';

/** `expr AS "field", ...`: the select list of a projection; row_to_json names the keys. */
export function selectList<F extends string>(
  fields: readonly F[],
  sql: Readonly<Record<F, string>>,
): string {
  return fields.map((f) => `${sql[f]} AS "${f}"`).join(', ');
}

export function quotedNames(fields: readonly string[]): string {
  return fields.map((f) => `"${f}"`).join(', ');
}

/** How a tick table is read: its whitelisted names, the only identifiers put into SQL text. */
export interface TickTableReads<F extends string> {
  readonly table: TickTable;
  /** The second column of the keyset order, after the timestamp. */
  readonly keyColumn: 'trade_id' | 'source';
  /** Column expressions per response field over the table as `m`. */
  readonly fieldSql: Readonly<Record<F, string>>;
  /** A join the fields need (over `m`), or ''. */
  readonly joinFor: (fields: readonly F[]) => string;
}

interface TickPageRow {
  points: string;
  more: boolean;
  last_ts: string | null;
  last_key: string | null;
  total: string | null;
}

/**
 * The reads of one tick table (trades or quotes): keyset pages in
 * (timestamp, key) order, and the newest point. Answers are JSON text built
 * by PostgreSQL.
 */
export abstract class TickReader<F extends string> {
  protected constructor(
    protected readonly db: DatabaseConnection,
    private readonly reads: TickTableReads<F>,
  ) {}

  /**
   * One page in [range) after `after`, ascending by (timestamp, key): the
   * keyset walk behind next_cursor. `withTotal` adds the count of the whole
   * range.
   */
  async findPage(
    instrumentId: string,
    range: MicroRange,
    fields: readonly F[],
    limit: number,
    after: TickPosition | undefined,
    withTotal: boolean,
  ): Promise<TickPage> {
    const { table, keyColumn, fieldSql, joinFor } = this.reads;
    const where = `m.instrument_id = $1 AND m."timestamp" >= $2 AND m."timestamp" < $3`;
    const params: unknown[] = [instrumentId, isoUs(range.fromUs), isoUs(range.toUs), limit];
    let keyset = '';
    if (after) {
      params.push(isoUs(after.timestampUs), after.key);
      keyset = `AND (m."timestamp", m.${keyColumn}) > ($5::timestamptz, $6::text)`;
    }
    const { rows } = await this.read(instrumentId, (source) =>
      source.query<TickPageRow>(
        `WITH page AS MATERIALIZED (
           SELECT m."timestamp" AS ts, m.${keyColumn} AS k, ${selectList(fields, fieldSql)}
             FROM ${table} m ${joinFor(fields)}
            WHERE ${where} ${keyset}
            -- Qualified: the bare names would mean the output columns of the same name.
            ORDER BY m."timestamp", m.${keyColumn} LIMIT $4 + 1),
         shown AS (SELECT * FROM page ORDER BY ts, k LIMIT $4),
         last AS (SELECT ts, k FROM shown ORDER BY ts DESC, k DESC LIMIT 1)
         SELECT '[' || coalesce((SELECT string_agg(row_to_json(p)::text, ',') FROM (
                  SELECT ${quotedNames(fields)} FROM shown ORDER BY ts, k) p), '') || ']' AS points,
                (SELECT count(*) FROM page) > $4 AS more,
                (SELECT to_char(ts AT TIME ZONE 'UTC', ${ISO_US_SQL}) FROM last) AS last_ts,
                (SELECT k FROM last) AS last_key,
                ${withTotal ? `(SELECT count(*) FROM ${table} m WHERE ${where})` : 'NULL'} AS total`,
        params,
      ),
    );
    return toTickPage(onlyRow(rows));
  }

  /** The newest point of the instrument as a JSON object, or null when it has none. */
  async findLatest(instrumentId: string, fields: readonly F[]): Promise<string | null> {
    const { table, keyColumn, fieldSql, joinFor } = this.reads;
    const { rows } = await this.read(instrumentId, (source) =>
      source.query<{ point: string }>(
        `SELECT row_to_json(p)::text AS point FROM (
           SELECT ${selectList(fields, fieldSql)} FROM ${table} m ${joinFor(fields)}
            WHERE m.instrument_id = $1 ORDER BY m."timestamp" DESC, m.${keyColumn} DESC LIMIT 1) p`,
        [instrumentId],
      ),
    );
    return rows[0]?.point ?? null;
  }

  /** A read of the instrument's ticks, on a read replica when one is fit for it (ReadReplicas). */
  protected read<T>(instrumentId: string, work: (source: ReadSource) => Promise<T>): Promise<T> {
    return translatePgErrors(() => this.db.reads.read(instrumentId, work));
  }
}

/** The page, and where the next one starts when there is one. */
export function toTickPage(row: TickPageRow): TickPage {
  return {
    pointsJson: row.points,
    totalCount: row.total === null ? undefined : Number(row.total),
    next:
      row.more && row.last_ts !== null && row.last_key !== null
        ? { timestampUs: parseIsoMicros(row.last_ts), key: row.last_key }
        : undefined,
  };
}

/** Epoch microseconds of PostgreSQL's own `YYYY-MM-DDTHH:MI:SS.USZ` text. */
function parseIsoMicros(text: string): number {
  const ms = Date.parse(text.slice(0, 23) + 'Z');
  return ms * 1000 + Number(text.slice(23, 26));
}
