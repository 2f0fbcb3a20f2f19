import { Logger } from '@nestjs/common';
import { Pool } from 'pg';

const PARTITION_LOCK_KEY = 7_340_112_212;

export function monthStart(ms: number): Date {
  const d = new Date(ms);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
}

function nextMonth(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
}

/** The range-partitioned tables on plain PostgreSQL: the only names put into partition DDL. */
export type PartitionedTable = 'market_data_ts' | 'market_trades_ts' | 'market_quotes_ts';

/** market_data_ts_y2025m06: the same month naming a reader sees in storage locations. */
export function partitionName(month: Date, table: PartitionedTable = 'market_data_ts'): string {
  const mm = String(month.getUTCMonth() + 1).padStart(2, '0');
  return `${table}_y${month.getUTCFullYear()}m${mm}`;
}

/**
 * Monthly partitions of a partitioned table (market_data_ts by default) on
 * plain PostgreSQL (no TimescaleDB). Created ahead of the data, each in its
 * own short transaction so the parent's lock is never held while rows are
 * written.
 */
export class MarketDataPartitions {
  private readonly logger = new Logger('Partitions');
  private readonly known = new Set<string>();
  private loaded = false;

  constructor(
    private readonly pool: Pool,
    private readonly table: PartitionedTable = 'market_data_ts',
  ) {}

  /** Makes sure every month touched by [fromMs, toMs] has its partition. */
  async ensureCovering(fromMs: number, toMs: number): Promise<void> {
    if (!this.loaded) await this.loadExisting();
    for (let month = monthStart(fromMs); month.getTime() <= toMs; month = nextMonth(month)) {
      const name = partitionName(month, this.table);
      if (!this.known.has(name)) await this.create(name, month);
    }
  }

  /**
   * Makes sure the months holding these instants have their partitions, and
   * no others: two bars centuries apart must not create every month between.
   */
  async ensureHolding(instantsMs: Iterable<number>): Promise<void> {
    const months = new Map<string, Date>();
    let from = Infinity;
    let to = -Infinity;
    for (const ms of instantsMs) {
      // Most bars of a batch fall in the month of the bar before.
      if (ms >= from && ms < to) continue;
      const month = monthStart(ms);
      from = month.getTime();
      to = nextMonth(month).getTime();
      months.set(partitionName(month, this.table), month);
    }
    if (!this.loaded) await this.loadExisting();
    for (const [name, month] of months) {
      if (!this.known.has(name)) await this.create(name, month);
    }
  }

  /** Partitions dropped (by retention): created again if data for their month comes back. */
  forget(names: readonly string[]): void {
    names.forEach((name) => this.known.delete(name));
  }

  private async loadExisting(): Promise<void> {
    const { rows } = await this.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = $1::regclass`,
      [this.table],
    );
    rows.forEach((r) => this.known.add(r.name));
    this.loaded = true;
  }

  private async create(name: string, month: Date): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Serializes creators across instances; IF NOT EXISTS then makes the loser a no-op.
      await client.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK_KEY]);
      // The name is built from a date, never from input; bounds are ISO literals of that date.
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${name} PARTITION OF ${this.table}
           FOR VALUES FROM ('${month.toISOString()}') TO ('${nextMonth(month).toISOString()}')`,
      );
      await client.query('COMMIT');
      this.known.add(name);
      this.logger.log(`created partition ${name}`);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
