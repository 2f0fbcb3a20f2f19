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
