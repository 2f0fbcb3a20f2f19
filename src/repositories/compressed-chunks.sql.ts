/** The hypertables whose compression is measured. */
export type MeasuredTable = 'market_data_ts' | 'market_trades_ts' | 'market_quotes_ts';

/**
 * The compressed chunks of `table` with their time range and sizes
 * (TimescaleDB only), for the CTE `compressed` that every compression-ratio
 * figure is measured from: 1 - sum(after_bytes) / sum(before_bytes). The
 * table name comes from the type above, never from a request.
 */
export function compressedChunksSql(table: MeasuredTable): string {
  return `
  SELECT c.range_start, c.range_end,
         s.before_compression_total_bytes AS before_bytes,
         s.after_compression_total_bytes AS after_bytes
    FROM chunk_compression_stats('${table}') s
    JOIN timescaledb_information.chunks c
      ON c.chunk_schema = s.chunk_schema AND c.chunk_name = s.chunk_name
   WHERE c.hypertable_name = '${table}' AND s.compression_status = 'Compressed'`;
}

/** The compressed chunks of the bars' table. */
export const COMPRESSED_CHUNKS_SQL = compressedChunksSql('market_data_ts');
