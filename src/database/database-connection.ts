import { Logger } from '@nestjs/common';
import { Client, Pool, types as pgTypes } from 'pg';
import { DataSource } from 'typeorm';
import { Settings } from '../settings/settings';
import { EmbeddedEngine } from './embedded-engine';
import { METADATA_ENTITIES } from './entities';
import { MigrationRunner } from './migration-runner';
import { guardPoolErrors, isUnavailable } from './pg-errors';
import { ReadReplicas } from '../read-routing/read-replicas';
import { SharedWritePositions } from '../read-routing/shared-write-positions';
import { onlyRow } from './rows';
import { withTimeout } from '../common/with-timeout';

export type StorageEngine = 'timescaledb' | 'postgresql';

export interface EngineInfo {
  readonly engine: StorageEngine;
  readonly embedded: boolean;
  readonly serverVersion: string;
  readonly timescaleVersion: string | null;
}

const OID = { INT8: 20, NUMERIC: 1700, DATE: 1082 } as const;

/**
 * Parsing decided once, at the connection: bigint and numeric stay strings
 * (no silent rounding past 2^53), dates stay 'YYYY-MM-DD' (no zone shift).
 * The hot read path builds its JSON in SQL and parses no rows at all.
 */
const TYPE_PARSERS = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === OID.INT8 || oid === OID.NUMERIC || oid === OID.DATE) {
      return (value: string) => value;
    }
    return pgTypes.getTypeParser(oid, format) as (value: string) => unknown;
  },
};

/** Open connections by the settings they were opened with (see openedWith). */
const OPENED = new WeakMap<Settings, DatabaseConnection>();

/**
 * One DataSource serves both the TypeORM metadata entities and, through its
 * pool, the raw SQL hot path: one set of connections, one SQL path for the
 * embedded engine and a server alike.
 */
export class DatabaseConnection {
  private readonly logger = new Logger('Database');
  /** The health ping's own session on a server (see ping). */
  private pingPool: Pool | undefined;

  private constructor(
    readonly dataSource: DataSource,
    readonly pool: Pool,
    readonly info: EngineInfo,
    /** Where reads of market data run (DATABASE_READ_URL), and the writes they must see. */
    readonly reads: ReadReplicas,
    private readonly embedded: EmbeddedEngine | undefined,
    private readonly settings: Settings,
  ) {}

  /**
   * The connection createApp opened with these settings: DatabaseModule
   * provides it to Nest, so that an unreachable database is reported before
   * Nest starts (one line, no provider stack trace) and yet reaches the
   * modules through their imports, not through a global module.
   */
  static openedWith(settings: Settings): DatabaseConnection {
    const connection = OPENED.get(settings);
    if (!connection)
      throw new Error('no open database connection for these settings (createApp opens it)');
    return connection;
  }

  /**
   * Opens the connection, retrying while the server is unreachable for up to
   * DB_STARTUP_WAIT_MS (a database starting beside the service in compose or
   * Kubernetes); any other error fails at once.
   */
  static async openWhenReachable(settings: Settings): Promise<DatabaseConnection> {
    const logger = new Logger('Database');
    const deadline = Date.now() + settings.dbStartupWaitMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await DatabaseConnection.open(settings);
      } catch (error) {
        if (!isUnavailable(error) || Date.now() >= deadline) throw error;
        logger.warn(`database unreachable (${(error as Error).message}); retry ${attempt}`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000 * attempt, 5000)));
      }
    }
  }

  static async open(settings: Settings): Promise<DatabaseConnection> {
    if (OPENED.has(settings))
      throw new Error('these settings already have an open database connection: close it first');
    const embedded = settings.databaseUrl
      ? undefined
      : await EmbeddedEngine.start(settings.dataDir);
    let reads: ReadReplicas | undefined;
    try {
      const timeouts =
        embedded || !settings.statementTimeoutMs
          ? {}
          : {
              statement_timeout: settings.statementTimeoutMs,
              // The client gives up a little after the server would have: a
              // server that does not answer at all (a network partition) must
              // not hold a request forever.
              query_timeout: settings.statementTimeoutMs + 2_000,
            };
      const session = { ...timeouts, ...(embedded ? {} : plannerOptions(settings)) };
      const dataSource = new DataSource({
        type: 'postgres',
        url: settings.databaseUrl ?? embedded!.connectionString,
        entities: METADATA_ENTITIES,
        synchronize: false,
        migrationsRun: false,
        logging: false,
        extra: {
          // PGlite runs one session: a second connection would interleave transactions.
          max: embedded ? 1 : settings.dbPoolSize,
          // The embedded session is kept for the process's life. Closed when idle (pg's
          // 10 s default), its replacement could reach the socket server before the
          // server had let the old one go, and be refused: the request failed with 503.
          ...(embedded ? { idleTimeoutMillis: 0 } : {}),
          types: TYPE_PARSERS,
          application_name: 'market-data-storage',
          // pg uses it both for a free connection and for opening a new one: at
          // 32 clients of 30-day reads the last in line waits 10-15 s, and a 503
          // for waiting its turn is an error the client did not cause.
          connectionTimeoutMillis: settings.dbPoolWaitMs,
          ...session,
          keepAlive: true,
        },
      });
      await dataSource.initialize();
      const pool = (dataSource.driver as unknown as { master: Pool }).master;
      const logger = new Logger('Database');
      guardPoolErrors(pool, (message) => logger.warn(message));

      await new MigrationRunner(pool, undefined, Boolean(embedded)).up();
      const info = await detectEngine(pool, Boolean(embedded));
      const shared =
        settings.redisUrl && settings.databaseReadUrls.length > 0
          ? new SharedWritePositions(settings.redisUrl, settings.cacheTimeoutMs, (message) =>
              logger.warn(message),
            )
          : undefined;
      await shared?.connect();
      reads = ReadReplicas.open(
        pool,
        settings.databaseReadUrls,
        { max: settings.dbPoolSize, types: TYPE_PARSERS, keepAlive: true, ...session },
        (message) => logger.warn(message),
        // With several service processes, their writes' positions are shared through Redis.
        shared,
      );
      const connection = new DatabaseConnection(dataSource, pool, info, reads, embedded, settings);
      OPENED.set(settings, connection);
      connection.logger.log(
        `engine ${info.engine}${info.timescaleVersion ? ` ${info.timescaleVersion}` : ''} on PostgreSQL ${info.serverVersion}` +
          (embedded ? ` (embedded, data in ${settings.dataDir})` : '') +
          (reads.configured ? `, ${settings.databaseReadUrls.length} read replica(s)` : ''),
      );
      return connection;
    } catch (error) {
      await reads?.close();
      await embedded?.stop();
      throw error;
    }
  }

  /**
   * A new, unconnected session outside the pool (a server only, undefined
   * on the embedded engine): for a session advisory lock held through a long
   * job (AdvisoryLock). Parsed as the pool's, without the statement timeout.
   */
  lockClient(): Client | undefined {
    if (this.embedded || !this.settings.databaseUrl) return undefined;
    return new Client({
      connectionString: this.settings.databaseUrl,
      types: TYPE_PARSERS,
      application_name: 'market-data-storage lock',
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
    });
  }

  /**
   * `SELECT 1` within timeoutMs. On a server it runs on a session of its own,
   * not in the pool's queue: a pool busy with long reads is load, not an
   * outage, and must not turn the readiness probe red (every replica would
   * leave the load balancer at once). The embedded engine has one session.
   */
  async ping(timeoutMs: number): Promise<void> {
    if (this.embedded || !this.settings.databaseUrl) {
      await withTimeout(this.pool.query('SELECT 1'), timeoutMs);
      return;
    }
    if (!this.pingPool) {
      this.pingPool = new Pool({
        connectionString: this.settings.databaseUrl,
        max: 1,
        application_name: 'market-data-storage health',
        connectionTimeoutMillis: timeoutMs,
        query_timeout: timeoutMs,
        // Kept between probes (every 5-10 s), not reopened for each one.
        idleTimeoutMillis: 60_000,
        keepAlive: true,
      });
      guardPoolErrors(this.pingPool, (message) => this.logger.warn(`health ping: ${message}`));
    }
    await withTimeout(this.pingPool.query('SELECT 1'), timeoutMs);
  }

  async close(): Promise<void> {
    if (OPENED.get(this.settings) === this) OPENED.delete(this.settings);
    await this.pingPool?.end();
    await this.reads.close();
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
    await this.embedded?.stop();
  }
}

/**
 * The service's sessions plan with random_page_cost DB_RANDOM_PAGE_COST: its
 * reads are index range scans of pages that are cached (or on SSD), and at
 * the server's default of 4 PostgreSQL read a 30-day range with a parallel
 * bitmap heap scan and a sort, 6x slower than the index scan it picks at 1.1
 * (docs/decisions.md). `options` in DATABASE_URL replaces this.
 */
function plannerOptions(settings: Settings): { options?: string } {
  return settings.dbRandomPageCost > 0
    ? { options: `-c random_page_cost=${settings.dbRandomPageCost}` }
    : {};
}

async function detectEngine(pool: Pool, embedded: boolean): Promise<EngineInfo> {
  const { rows } = await pool.query<{ server_version: string; timescale: string | null }>(
    `SELECT current_setting('server_version') AS server_version,
            (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS timescale`,
  );
  const { server_version, timescale } = onlyRow(rows);
  return {
    engine: timescale ? 'timescaledb' : 'postgresql',
    embedded,
    serverVersion: server_version,
    timescaleVersion: timescale,
  };
}
