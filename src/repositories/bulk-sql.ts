import { PoolClient } from 'pg';

/** SQL pieces shared by the repositories of market_data_ts, market_trades_ts and market_quotes_ts. */

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
