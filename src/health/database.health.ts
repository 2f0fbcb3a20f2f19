import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import type { ReadReplicaStatus } from '../read-routing/read-replicas';

const PING_TIMEOUT_MS = 2_000;

export interface DatabaseStatus {
  readonly up: boolean;
  readonly engine: string;
  readonly embedded: boolean;
  readonly server_version: string;
  readonly timescaledb_version: string | null;
  readonly latency_ms: number;
  readonly pool: { total: number; idle: number; waiting: number };
  readonly error?: string;
  /** Present with DATABASE_READ_URL: each replica (one down makes the service degraded, not unready). */
  readonly read_replicas?: ReadReplicaStatus[];
}

/**
 * Database health from what the connection exposes (its ping, engine, pool
 * and replicas): the health module reads it; the ping itself belongs to the
 * connection (src/database).
 */
@Injectable()
export class DatabaseHealthIndicator {
  constructor(
    @Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection,
    private readonly indicators: HealthIndicatorService,
  ) {}

  /** Pings with a timeout; never throws. */
  async status(): Promise<DatabaseStatus> {
    const started = performance.now();
    let error: string | undefined;
    const replicas = this.db.reads.configured ? this.db.reads.status() : undefined;
    try {
      await this.db.ping(PING_TIMEOUT_MS);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    const latencyMs = Math.round((performance.now() - started) * 100) / 100;
    const { info, pool } = this.db;
    return {
      up: error === undefined,
      engine: info.engine,
      embedded: info.embedded,
      server_version: info.serverVersion,
      timescaledb_version: info.timescaleVersion,
      latency_ms: latencyMs,
      pool: { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount },
      ...(error === undefined ? {} : { error: 'unreachable' }),
      ...(replicas ? { read_replicas: await replicas } : {}),
    };
  }

  /** Terminus form, for the readiness probe. */
  async isHealthy(key = 'database'): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(key);
    const { up, engine, latency_ms } = await this.status();
    return up ? indicator.up({ engine, latency_ms }) : indicator.down({ engine, latency_ms });
  }
}
