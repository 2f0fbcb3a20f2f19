import { Module, OnApplicationBootstrap } from '@nestjs/common';
import { DatabaseModule } from '../database/database.module';
import { BarsReader } from './bars.reader';
import { CompressionRepository } from './compression.repository';
import { ConfigurationRepository } from './configuration.repository';
import { InstrumentSessionsRepository } from './instrument-sessions.repository';
import { IntegrityRepository } from './integrity.repository';
import { MarketDataRepository } from './market-data.repository';
import { QuotesReader } from './quotes.reader';
import { QuotesRepository } from './quotes.repository';
import { RetentionRepository } from './retention.repository';
import { RollupRefreshRepository } from './rollup-refresh.repository';
import { RollupsRepository } from './rollups.repository';
import { StatisticsRepository } from './statistics.repository';
import { TradesReader } from './trades.reader';
import { TradesRepository } from './trades.repository';

/** Months of partitions kept ready ahead of now on plain PostgreSQL. */
const PARTITION_MONTHS_AHEAD = 3;

const REPOSITORIES = [
  CompressionRepository,
  ConfigurationRepository,
  InstrumentSessionsRepository,
  IntegrityRepository,
  MarketDataRepository,
  QuotesRepository,
  RetentionRepository,
  RollupRefreshRepository,
  RollupsRepository,
  StatisticsRepository,
  TradesRepository,
];

/** The read side: one reader per data kind (bars, trades, quotes), beside the rollups. */
const READERS = [BarsReader, QuotesReader, TradesReader];

/**
 * Every class that holds SQL, in one place: a feature module imports this
 * one and injects the repositories it uses; the services above hold no SQL.
 */
@Module({
  imports: [DatabaseModule],
  providers: [...REPOSITORIES, ...READERS],
  exports: [...REPOSITORIES, ...READERS],
})
export class RepositoriesModule implements OnApplicationBootstrap {
  constructor(
    private readonly marketData: MarketDataRepository,
    private readonly trades: TradesRepository,
    private readonly quotes: QuotesRepository,
  ) {}

  /** Writes of the next months never wait for a partition to be created (plain PostgreSQL). */
  async onApplicationBootstrap(): Promise<void> {
    const now = Date.now();
    await this.marketData.preparePartitionsAhead(now, PARTITION_MONTHS_AHEAD);
    await this.trades.maintenance.preparePartitionsAhead(now, PARTITION_MONTHS_AHEAD);
    await this.quotes.maintenance.preparePartitionsAhead(now, PARTITION_MONTHS_AHEAD);
  }
}
