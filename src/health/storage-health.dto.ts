import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { DatabaseStatus } from '../database/database.health';
import { EventsStatus } from '../events/events.health';

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

class PoolStatusDto {
  @ApiProperty({ type: 'integer', example: 1, description: 'Connections open' })
  total: number;

  @ApiProperty({ type: 'integer', example: 1 })
  idle: number;

  @ApiProperty({ type: 'integer', example: 0, description: 'Queries waiting for a connection' })
  waiting: number;
}

class DatabaseStatusDto implements DatabaseStatus {
  @ApiProperty({ example: true })
  up: boolean;

  @ApiProperty({ enum: ['timescaledb', 'postgresql'], example: 'timescaledb' })
  engine: string;

  @ApiProperty({ example: true, description: 'The in-process engine (no DATABASE_URL)' })
  embedded: boolean;

  @ApiProperty({ example: '17.5' })
  server_version: string;

  @ApiProperty({ type: String, nullable: true, example: '2.23.0-dev' })
  timescaledb_version: string | null;

  @ApiProperty({ example: 0.4 })
  latency_ms: number;

  @ApiProperty({ type: PoolStatusDto })
  pool: PoolStatusDto;

  @ApiPropertyOptional({ enum: ['unreachable'], description: 'Present when up is false' })
  error?: string;
}

class CacheStatusDto {
  @ApiProperty({ enum: ['up', 'down'] })
  status: 'up' | 'down';

  @ApiProperty({ enum: ['redis', 'memory'] })
  kind: 'redis' | 'memory';

  @ApiProperty({ example: 0.3 })
  latency_ms: number;
}

export class StorageHealthDto {
  @ApiProperty({ enum: ['healthy', 'degraded', 'unhealthy'] })
  status: HealthStatus;

  @ApiProperty({ example: '0.1.0' })
  version: string;

  @ApiProperty({ example: 3600 })
  uptime_s: number;

  @ApiProperty({ type: DatabaseStatusDto })
  database: DatabaseStatus;

  @ApiProperty({ type: CacheStatusDto })
  cache: CacheStatusDto;

  @ApiProperty({ type: EventsStatus })
  events: EventsStatus;
}
