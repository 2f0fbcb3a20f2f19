import { Inject, Injectable } from '@nestjs/common';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { MarketDataRepository } from '../repositories/market-data.repository';
import { QuotesRepository } from '../repositories/quotes.repository';
import { TradesRepository } from '../repositories/trades.repository';
import { ADVISORY_LOCKS } from '../database/advisory-locks';
import { LifecycleTask, TaskRun } from './lifecycle-task';

/** Months of partitions kept ready ahead of now on plain PostgreSQL. */
export const PARTITION_MONTHS_AHEAD = 3;

/** The tables whose partitions the task keeps ahead, in report order. */
export const PARTITIONED_TABLES = ['market_data_ts', 'market_trades_ts', 'market_quotes_ts'];

/**
 * Plain PostgreSQL: keeps the monthly partitions of the next
 * PARTITION_MONTHS_AHEAD months created for bars, trades and quotes, so live
 * writes never wait for a CREATE TABLE (writes into other months create
 * theirs on demand). TimescaleDB creates its chunks itself.
 */
@Injectable()
export class PartitionsTask implements LifecycleTask {
  readonly name = 'partitions';
  readonly lockKey = ADVISORY_LOCKS.partitionsAhead;

  constructor(
    @Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection,
    private readonly marketData: MarketDataRepository,
    private readonly trades: TradesRepository,
    private readonly quotes: QuotesRepository,
  ) {}

  async run({ now }: TaskRun): Promise<Record<string, unknown>> {
    if (this.db.info.engine !== 'postgresql') {
      return { created_partitions: [], note: 'TimescaleDB creates chunks as rows arrive' };
    }
    const nowMs = now.getTime();
    // One table after the other: each holds its own partition lock while it creates.
    const created = [
      ...(await this.marketData.preparePartitionsAhead(nowMs, PARTITION_MONTHS_AHEAD)),
      ...(await this.trades.maintenance.preparePartitionsAhead(nowMs, PARTITION_MONTHS_AHEAD)),
      ...(await this.quotes.maintenance.preparePartitionsAhead(nowMs, PARTITION_MONTHS_AHEAD)),
    ];
    return {
      created_partitions: created,
      months_ahead: PARTITION_MONTHS_AHEAD,
      tables: PARTITIONED_TABLES,
    };
  }
}
