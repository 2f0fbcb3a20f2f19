import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { DatabaseStatus } from './database.health';
import type { ReadReplicaStatus } from '../read-routing/read-replicas';
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

class ReadReplicaStatusDto implements ReadReplicaStatus {
  @ApiProperty({ example: 'replica-1:5432/market', description: 'host:port/database' })
  name: string;

  @ApiProperty({
    example: true,
    description: 'It answers and is a standby; false: reads go to the primary',
  })
  up: boolean;

  @ApiProperty({
    type: Boolean,
    nullable: true,
    example: true,
    description: 'pg_is_in_recovery(); null when unreachable',
  })
  standby: boolean | null;

  @ApiProperty({
    type: Boolean,
    nullable: true,
    example: false,
    description: 'pg_is_wal_replay_paused(); null when unreachable',
  })
  replay_paused: boolean | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: '0/3000060',
    description: 'pg_last_wal_replay_lsn() (the last one seen when unreachable)',
  })
  replay_lsn: string | null;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    example: 0,
    description: 'WAL bytes the primary wrote that the replica has not replayed',
  })
  lag_bytes: number | null;

  @ApiProperty({ example: 0.4 })
  latency_ms: number;

  @ApiProperty({ type: PoolStatusDto })
  pool: PoolStatusDto;

  @ApiPropertyOptional({
    enum: ['unreachable', 'query failed', 'not a standby'],
    description: 'Present when up is false',
  })
  error?: string;
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

  @ApiPropertyOptional({
    type: [ReadReplicaStatusDto],
    description:
      'With DATABASE_READ_URL: each read replica; one down makes the status degraded (reads go to the primary)',
  })
  read_replicas?: ReadReplicaStatus[];
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
