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
          connectionTimeoutMillis: 5_000,
          ...timeouts,
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
        { max: settings.dbPoolSize, types: TYPE_PARSERS, keepAlive: true, ...timeouts },
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

  async close(): Promise<void> {
    if (OPENED.get(this.settings) === this) OPENED.delete(this.settings);
    await this.reads.close();
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
    await this.embedded?.stop();
  }
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
