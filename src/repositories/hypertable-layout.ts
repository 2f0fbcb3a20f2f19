import { Logger } from '@nestjs/common';
import { Pool } from 'pg';
import { withTransaction } from '../database/sessions';
import { onlyRow } from '../database/rows';

/** How market_data_ts is cut into chunks on TimescaleDB (LAYOUT_* settings). */
export interface HypertableLayout {
  /** Length of a chunk's time range. */
  readonly chunkIntervalHours: number;
  /** Hash partitions on instrument_id; 0: no space dimension. */
  readonly spacePartitions: number;
}

/** What applyHypertableLayout found and did. */
export interface LayoutOutcome {
  readonly chunkIntervalHours: number;
  readonly spacePartitions: number;
  /** Why a wanted change was not made (the table keeps its layout), if one was not. */
  readonly warning?: string;
}

const COMPRESSION_OPTIONS = `timescaledb.compress,
  timescaledb.compress_segmentby = 'instrument_id, timeframe',
  timescaledb.compress_orderby = '"timestamp"'`;

/**
 * Brings the hypertable to `layout` (TimescaleDB only; a no-op elsewhere).
 * A new chunk interval applies to chunks created from now on. A space
 * dimension can only be added while the table is empty (TimescaleDB cannot
 * re-partition existing chunks) and never removed; its partition count can
 * change at any time, again for new chunks only.
 */
export async function applyHypertableLayout(
  pool: Pool,
  layout: HypertableLayout,
): Promise<LayoutOutcome | undefined> {
  const timescale = await pool.query(`SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'`);
  if (timescale.rowCount === 0) return undefined;
  const { rows } = await pool.query<{
    hours: number | null;
    partitions: number | null;
    empty: boolean;
  }>(
    `SELECT (SELECT extract(epoch FROM time_interval) / 3600 FROM timescaledb_information.dimensions
              WHERE hypertable_name = 'market_data_ts' AND dimension_type = 'Time')::float8 AS hours,
            (SELECT num_partitions FROM timescaledb_information.dimensions
              WHERE hypertable_name = 'market_data_ts' AND dimension_type = 'Space') AS partitions,
            NOT EXISTS (SELECT 1 FROM market_data_ts) AS empty`,
  );
  const current = onlyRow(rows);
  if (current.hours !== layout.chunkIntervalHours) {
    await pool.query(
      `SELECT set_chunk_time_interval('market_data_ts', make_interval(hours => $1))`,
      [layout.chunkIntervalHours],
    );
  }
  let partitions = current.partitions ?? 0;
  let warning: string | undefined;
  if (layout.spacePartitions !== partitions) {
    if (partitions > 0 && layout.spacePartitions > 0) {
      await pool.query(
        `SELECT set_number_partitions('market_data_ts', $1::int2, 'instrument_id')`,
        [layout.spacePartitions],
      );
      partitions = layout.spacePartitions;
    } else if (partitions === 0 && current.empty) {
      await addSpaceDimension(pool, layout.spacePartitions);
      partitions = layout.spacePartitions;
    } else {
      warning =
        partitions === 0
          ? `LAYOUT_SPACE_PARTITIONS=${layout.spacePartitions} not applied: a space dimension can only be added to an empty market_data_ts`
          : `LAYOUT_SPACE_PARTITIONS=0 not applied: TimescaleDB cannot remove the space dimension (${partitions} partitions)`;
      new Logger('Layout').warn(warning);
    }
  }
  return { chunkIntervalHours: layout.chunkIntervalHours, spacePartitions: partitions, warning };
}

/** add_dimension refuses a hypertable with compression on: off, add, on again (the table is empty). */
async function addSpaceDimension(pool: Pool, partitions: number): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query(`ALTER TABLE market_data_ts SET (timescaledb.compress = false)`);
    await client.query(
      `SELECT add_dimension('market_data_ts', by_hash('instrument_id', $1::int))`,
      [partitions],
    );
    await client.query(`ALTER TABLE market_data_ts SET (${COMPRESSION_OPTIONS})`);
  });
}
