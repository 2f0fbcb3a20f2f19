import {
  DynamicModule,
  Global,
  Inject,
  Logger,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { DataSource } from 'typeorm';
import { MetricsService } from '../metrics/metrics.service';
import { DatabaseConnection } from './database-connection';
import { DatabaseHealthIndicator } from './database.health';
import { DATABASE_CONNECTION } from './database.tokens';
import { MarketDataRepository } from './market-data.repository';
import { QuotesRepository } from './quotes.repository';
import { TradesRepository } from './trades.repository';

/** Months of partitions kept ready ahead of now on plain PostgreSQL. */
const PARTITION_MONTHS_AHEAD = 3;

/**
 * Owns the connection (embedded engine or server), opened and migrated by
 * createApp before Nest starts, and closes it last on shutdown.
 */
@Global()
@Module({
  imports: [TerminusModule],
  providers: [
    {
      provide: DataSource,
      inject: [DATABASE_CONNECTION],
      useFactory: (db: DatabaseConnection) => db.dataSource,
    },
    MarketDataRepository,
    TradesRepository,
    QuotesRepository,
    DatabaseHealthIndicator,
  ],
  exports: [
    DataSource,
    MarketDataRepository,
    TradesRepository,
    QuotesRepository,
    DatabaseHealthIndicator,
  ],
})
export class DatabaseModule implements OnApplicationBootstrap, OnApplicationShutdown {
  static forRoot(connection: DatabaseConnection): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [{ provide: DATABASE_CONNECTION, useValue: connection }],
      exports: [DATABASE_CONNECTION],
    };
  }

  private readonly logger = new Logger('Database');

  constructor(
    @Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection,
    private readonly marketData: MarketDataRepository,
    private readonly metrics: MetricsService,
    private readonly trades: TradesRepository,
    private readonly quotes: QuotesRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { pool } = this.db;
    this.metrics.watchDatabasePool(() => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    }));
    await this.marketData.preparePartitionsAhead(Date.now(), PARTITION_MONTHS_AHEAD);
    await this.trades.maintenance.preparePartitionsAhead(Date.now(), PARTITION_MONTHS_AHEAD);
    await this.quotes.maintenance.preparePartitionsAhead(Date.now(), PARTITION_MONTHS_AHEAD);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
    this.logger.log('connections closed');
  }
}
