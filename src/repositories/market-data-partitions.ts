import { Logger } from '@nestjs/common';
import { Pool } from 'pg';
import { ADVISORY_LOCKS } from '../database/advisory-locks';
import { withTransaction } from '../database/sessions';
import { NATIVE_ROLLUPS_TABLE } from './native-rollups.sql';

/** How long a replica trusts its list of partitions before reading it again (another may drop one). */
const KNOWN_TTL_MS = 60_000;

const PARTITION_NAME = /_y(\d{4})m(\d{2})$/;

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

/** The month a partition name stands for; undefined for a name this class did not make. */
function monthOf(name: string): Date | undefined {
  const match = PARTITION_NAME.exec(name);
  return match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1)) : undefined;
}

const shared = new WeakMap<Pool, Map<PartitionedTable, MarketDataPartitions>>();

/**
 * Monthly partitions of a partitioned table (market_data_ts, market_trades_ts,
 * market_quotes_ts) on plain PostgreSQL (no TimescaleDB).
 * Created ahead of the data and on demand for any month a write touches
 * (1900 works as well as 2199), each in its own short transaction so the
 * parent's lock is never held while rows are written; dropped whole by
 * retention. One instance per pool and table (MarketDataPartitions.for), so that a
 * partition dropped by retention is forgotten by the writers of the same
 * process at once; other replicas re-read the list within KNOWN_TTL_MS.
 */
export class MarketDataPartitions {
  private readonly logger = new Logger('Partitions');
  private readonly known = new Set<string>();
  private loadedAt = -Infinity;

  private constructor(
    private readonly pool: Pool,
    private readonly table: PartitionedTable,
  ) {}

  static for(pool: Pool, table: PartitionedTable = 'market_data_ts'): MarketDataPartitions {
    let tables = shared.get(pool);
    if (!tables) shared.set(pool, (tables = new Map<PartitionedTable, MarketDataPartitions>()));
    let partitions = tables.get(table);
    if (!partitions) tables.set(table, (partitions = new MarketDataPartitions(pool, table)));
    return partitions;
  }

  /** Makes sure every month touched by [fromMs, toMs] has its partition; returns those created. */
  async ensureCovering(fromMs: number, toMs: number): Promise<string[]> {
    const months: Date[] = [];
    for (let month = monthStart(fromMs); month.getTime() <= toMs; month = nextMonth(month)) {
      months.push(month);
    }
    return this.ensureMonths(months);
  }

  /**
   * Makes sure the month of each timestamp has its partition: only the
   * months holding rows, so a batch with one bar in 1900 and one in 2199
   * creates two partitions, not 3,600.
   */
  async ensureFor(timestampsMs: Iterable<number>): Promise<string[]> {
    const months = new Map<number, Date>();
    // The month of the timestamp before: [from, to). A batch is mostly one month after another,
    // so most timestamps cost two comparisons instead of two Dates (3 ms per 10,000 bars).
    let from = Infinity;
    let to = -Infinity;
    for (const ms of timestampsMs) {
      if (ms >= from && ms < to) continue;
      const month = monthStart(ms);
      from = month.getTime();
      to = nextMonth(month).getTime();
      months.set(from, month);
    }
    return this.ensureMonths([...months.values()]);
  }

  /** Every partition of the table with its month, oldest first. */
  async list(): Promise<{ name: string; month: Date }[]> {
    await this.load();
    return [...this.known]
      .map((name) => ({ name, month: monthOf(name) }))
      .filter((p): p is { name: string; month: Date } => p.month !== undefined)
      .sort((a, b) => a.month.getTime() - b.month.getTime());
  }

  /**
   * Detaches and drops every partition whose month ended at or before
   * `cutoffMs` (retention); returns their names. Under the creators' lock,
   * so a replica cannot create a partition being dropped.
   */
  async dropEndingBy(cutoffMs: number): Promise<string[]> {
    await this.load();
    const due = await this.listEndingBy(cutoffMs);
    const dropped: string[] = [];
    for (const { name, month } of due) {
      await this.locked(async (sql) => {
        const { rowCount } = await sql(`SELECT 1 FROM pg_class WHERE relname = $1`, [name]);
        if (rowCount) {
          // The name comes from the catalog and matched PARTITION_NAME: no input reaches it.
          await sql(`ALTER TABLE ${this.table} DETACH PARTITION ${name}`);
          await sql(`DROP TABLE ${name}`);
          // A dropped month fires no trigger: its rollups go with it, in the same transaction.
          if (this.table === 'market_data_ts') {
            await sql(`DELETE FROM ${NATIVE_ROLLUPS_TABLE} WHERE bucket >= $1 AND bucket < $2`, [
              month.toISOString(),
              nextMonth(month).toISOString(),
            ]);
          }
        }
      });
      this.known.delete(name);
      dropped.push(name);
      this.logger.log(`dropped partition ${name} (retention)`);
    }
    return dropped;
  }

  /** The partitions dropEndingBy(cutoffMs) would drop (a retention dry run). */
  async listEndingBy(cutoffMs: number): Promise<{ name: string; month: Date }[]> {
    return (await this.list()).filter((p) => nextMonth(p.month).getTime() <= cutoffMs);
  }

  private async ensureMonths(months: readonly Date[]): Promise<string[]> {
    if (Date.now() - this.loadedAt > KNOWN_TTL_MS) await this.load(true);
    const created: string[] = [];
    for (const month of months) {
      const name = partitionName(month, this.table);
      if (!this.known.has(name)) {
        await this.create(name, month);
        created.push(name);
      }
    }
    return created;
  }

  private async load(force = false): Promise<void> {
    if (!force && Date.now() - this.loadedAt <= KNOWN_TTL_MS) return;
    const { rows } = await this.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = $1::regclass`,
      [this.table],
    );
    this.known.clear();
    rows.forEach((r) => this.known.add(r.name));
    this.loadedAt = Date.now();
  }

  private async create(name: string, month: Date): Promise<void> {
    await this.locked((sql) =>
      // The name is built from a date, never from input; bounds are ISO literals of that date.
      sql(
        `CREATE TABLE IF NOT EXISTS ${name} PARTITION OF ${this.table}
           FOR VALUES FROM ('${month.toISOString()}') TO ('${nextMonth(month).toISOString()}')`,
      ),
    );
    this.known.add(name);
    this.logger.log(`created partition ${name}`);
  }

  /** One transaction holding the partition lock: serializes creators and droppers across instances. */
  private async locked(
    work: (
      sql: (text: string, values?: unknown[]) => Promise<{ rowCount: number | null }>,
    ) => Promise<unknown>,
  ): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCKS.partitions]);
      await work((text, values) => client.query(text, values));
    });
  }
}
