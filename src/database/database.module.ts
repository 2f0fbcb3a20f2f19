import {
  Inject,
  Logger,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { DataSource } from 'typeorm';
import { MetricsService } from '../metrics/metrics.service';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { AdvisoryLock } from './advisory-lock';
import { DatabaseConnection } from './database-connection';
import { DATABASE_CONNECTION } from './database.tokens';

/**
 * The connection (embedded engine or server), opened and migrated by
 * createApp before Nest starts; this module hands it to the repositories
 * and the infrastructure that import it, and closes it last on shutdown (it
 * is the deepest module, so Nest shuts it down after every module above it).
 */
@Module({
  providers: [
    {
      provide: DATABASE_CONNECTION,
      inject: [SETTINGS],
      useFactory: (settings: Settings) => DatabaseConnection.openedWith(settings),
    },
    {
      provide: DataSource,
      inject: [DATABASE_CONNECTION],
      useFactory: (db: DatabaseConnection) => db.dataSource,
    },
    AdvisoryLock,
  ],
  exports: [DATABASE_CONNECTION, DataSource, AdvisoryLock],
})
export class DatabaseModule implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Database');

  constructor(
    @Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    const { pool } = this.db;
    this.metrics.watchDatabasePool(() => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    }));
    this.db.reads.countReadsWith((target, reason) => this.metrics.databaseRead(target, reason));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
    this.logger.log('connections closed');
  }
}
