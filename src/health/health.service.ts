import { Injectable } from '@nestjs/common';
import { QueryCache } from '../cache/query-cache.service';
import { APP_VERSION } from '../common/app-version';
import { DatabaseHealthIndicator } from './database.health';
import { EventsHealthIndicator } from '../events/events.health';
import { HealthStatus, StorageHealthDto } from './storage-health.dto';

@Injectable()
export class HealthService {
  private readonly startedAt = Date.now();

  constructor(
    private readonly database: DatabaseHealthIndicator,
    private readonly cache: QueryCache,
    private readonly events: EventsHealthIndicator,
  ) {}

  /**
   * unhealthy: the database is down; degraded: the cache is (reads go to the
   * database), a configured event transport is, or a read replica is (reads
   * go to the primary).
   */
  async report(): Promise<StorageHealthDto> {
    const [database, cache, events] = await Promise.all([
      this.database.status(),
      this.cache.isHealthy(),
      this.events.status(),
    ]);
    const status: HealthStatus = !database.up
      ? 'unhealthy'
      : !cache.up ||
          events.status === 'down' ||
          (database.read_replicas ?? []).some((replica) => !replica.up)
        ? 'degraded'
        : 'healthy';
    return {
      status,
      version: APP_VERSION,
      uptime_s: Math.floor((Date.now() - this.startedAt) / 1000),
      database,
      cache: {
        status: cache.up ? 'up' : 'down',
        kind: this.cache.kind,
        latency_ms: cache.latency_ms,
      },
      events,
    };
  }
}
