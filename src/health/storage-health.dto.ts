import { ApiProperty } from '@nestjs/swagger';
import type { DatabaseStatus } from '../database/database.health';
import { EventsStatus } from '../events/events.health';

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

export class StorageHealthDto {
  @ApiProperty({ enum: ['healthy', 'degraded', 'unhealthy'] })
  status: HealthStatus;

  @ApiProperty({ example: '0.1.0' })
  version: string;

  @ApiProperty({ example: 3600 })
  uptime_s: number;

  @ApiProperty({
    example: {
      up: true,
      engine: 'timescaledb',
      embedded: true,
      server_version: '17.5',
      timescaledb_version: '2.23.0-dev',
      latency_ms: 0.4,
      pool: { total: 1, idle: 1, waiting: 0 },
    },
  })
  database: DatabaseStatus;

  @ApiProperty({ example: { status: 'up', kind: 'redis', latency_ms: 0.3 } })
  cache: { status: 'up' | 'down'; kind: 'redis' | 'memory'; latency_ms: number };

  @ApiProperty({ type: EventsStatus })
  events: EventsStatus;
}
