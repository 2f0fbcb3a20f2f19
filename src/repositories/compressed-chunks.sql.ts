/**
 * The compressed chunks of market_data_ts with their time range and sizes
 * (TimescaleDB only), for the CTE `compressed` that every compression-ratio
 * figure is measured from: 1 - sum(after_bytes) / sum(before_bytes).
 */
export const COMPRESSED_CHUNKS_SQL = `
  SELECT c.range_start, c.range_end,
         s.before_compression_total_bytes AS before_bytes,
         s.after_compression_total_bytes AS after_bytes
    FROM chunk_compression_stats('market_data_ts') s
    JOIN timescaledb_information.chunks c
      ON c.chunk_schema = s.chunk_schema AND c.chunk_name = s.chunk_name
   WHERE c.hypertable_name = 'market_data_ts' AND s.compression_status = 'Compressed'`;
