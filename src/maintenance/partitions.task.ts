import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { DatabaseConnection } from '../database/database-connection';
import { MarketDataPartitions } from '../database/market-data-partitions';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { translatePgErrors } from '../database/pg-errors';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { MaintenanceScheduler } from './maintenance.scheduler';
import { MaintenanceTask } from './maintenance-task';

/** Months of partitions kept ready ahead of now on plain PostgreSQL. */
export const PARTITION_MONTHS_AHEAD = 3;

/**
 * Plain PostgreSQL: keeps the monthly partitions of the next
 * PARTITION_MONTHS_AHEAD months created, so live writes never wait for a
 * CREATE TABLE (writes into other months create theirs on demand).
 * TimescaleDB creates its chunks itself.
 */
@Injectable()
export class PartitionsTask implements MaintenanceTask, OnModuleInit {
  readonly name = 'partitions';

  constructor(
    @Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection,
    private readonly scheduler: MaintenanceScheduler,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onModuleInit(): void {
    this.scheduler.register(this, this.settings.lifecycle.maintenanceIntervalMs);
  }

  async run(now: Date): Promise<Record<string, unknown>> {
    if (this.db.info.engine !== 'postgresql') {
      return { created_partitions: [], note: 'TimescaleDB creates chunks as rows arrive' };
    }
    const ahead = new Date(now);
    ahead.setUTCMonth(ahead.getUTCMonth() + PARTITION_MONTHS_AHEAD);
    const created = await translatePgErrors(() =>
      MarketDataPartitions.for(this.db.pool).ensureCovering(now.getTime(), ahead.getTime()),
    );
    return { created_partitions: created, months_ahead: PARTITION_MONTHS_AHEAD };
  }
}
