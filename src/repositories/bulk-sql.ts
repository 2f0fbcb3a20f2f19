import { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * COPY plumbing shared by the trades and quotes repositories (the bars
 * repository keeps its own, tuned copy); their transactions go through
 * sessions.ts.
 */

/** Streams COPY text lines (each ending in \n) into `table (columns)`, 1,000 lines a chunk. */
export async function copyLines(
  client: PoolClient,
  table: string,
  columns: string,
  lines: Iterable<string>,
): Promise<void> {
  function* chunks(): Generator<string> {
    let batch: string[] = [];
    for (const line of lines) {
      batch.push(line);
      if (batch.length === 1000) {
        yield batch.join('');
        batch = [];
      }
    }
    if (batch.length) yield batch.join('');
  }
  await pipeline(
    Readable.from(chunks()),
    client.query(copyFrom(`COPY ${table} (${columns}) FROM STDIN`)),
  );
}

/** COPY text format escapes. */
export function copyText(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}

/**
 * Writes new rows with a plain COPY when none of them can exist yet, else
 * through a staging table merged by `mergeSql` (an INSERT ... SELECT FROM
 * the staging table ... ON CONFLICT). A unique violation of the plain COPY
 * (a concurrent writer came first) falls back to the merge.
 */
export async function copyOrMerge(
  client: PoolClient,
  options: {
    readonly table: string;
    readonly staging: string;
    readonly columns: string;
    readonly mayExist: boolean;
    readonly lines: () => Iterable<string>;
    readonly mergeSql: string;
  },
): Promise<void> {
  if (!options.mayExist) {
    await client.query('SAVEPOINT before_copy');
    try {
      return await copyLines(client, options.table, options.columns, options.lines());
    } catch (error) {
      if ((error as { code?: string }).code !== '23505') throw error;
      await client.query('ROLLBACK TO SAVEPOINT before_copy');
    }
  }
  // The staging name is a constant of the caller; the table it copies is whitelisted.
  await client.query(
    `CREATE TEMP TABLE IF NOT EXISTS ${options.staging}
       (LIKE ${options.table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
  );
  await copyLines(client, options.staging, options.columns, options.lines());
  await client.query(options.mergeSql);
}

/** TimescaleDB caps rows decompressed per statement; a bulk upsert or delete may pass it. */
export async function allowDmlOnCompressedChunks(
  client: PoolClient,
  timescale: boolean,
): Promise<void> {
  if (timescale) {
    await client.query(`SET LOCAL timescaledb.max_tuples_decompressed_per_dml_transaction = 0`);
  }
}

/** ISO text PostgreSQL reads exactly as the instant: microseconds kept. */
export const ISO_US_SQL = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
export const ISO_MS_SQL = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/**
 * The compressed chunks of a trades or quotes hypertable with their range
 * and sizes (TimescaleDB only): the same measure as COMPRESSED_CHUNKS_SQL
 * gives for market_data_ts.
 */
export function compressedChunksSql(table: 'market_trades_ts' | 'market_quotes_ts'): string {
  return `
  SELECT c.range_start, c.range_end,
         s.before_compression_total_bytes AS before_bytes,
         s.after_compression_total_bytes AS after_bytes
    FROM chunk_compression_stats('${table}') s
    JOIN timescaledb_information.chunks c
      ON c.chunk_schema = s.chunk_schema AND c.chunk_name = s.chunk_name
   WHERE c.hypertable_name = '${table}' AND s.compression_status = 'Compressed'`;
}
