import { Injectable } from '@nestjs/common';
import { DatabaseHealthIndicator } from '../database/database.health';
import { StorageHealthDto } from './storage-health.dto';
import { APP_VERSION } from '../common/app-version';

@Injectable()
export class HealthService {
  private readonly startedAt = Date.now();

  constructor(private readonly database: DatabaseHealthIndicator) {}

  /** unhealthy: the database is down. The cache and event modules add degraded states as they land. */
  async report(): Promise<StorageHealthDto> {
    const database = await this.database.status();
    return {
      status: database.up ? 'healthy' : 'unhealthy',
      version: APP_VERSION,
      uptime_s: Math.floor((Date.now() - this.startedAt) / 1000),
      database,
      cache: { status: 'not configured' },
      events: { status: 'not configured' },
    };
  }
}
