import { resolve } from 'node:path';
import { loadSecuritySettings, SecuritySettings } from '../security/security-settings';
import {
  BUILT_IN_CALENDARS,
  parseSessionCalendars,
  TradingSession,
} from '../common/trading-session';
import {
  decimal,
  Env,
  integer,
  InvalidSettingError,
  matching,
  oneOf,
  refreshInterval,
  text,
  url,
} from './setting-values';

export { InvalidSettingError } from './setting-values';
export type { Env } from './setting-values';

export type LogLevel = 'error' | 'warn' | 'log' | 'debug' | 'verbose';

/** Every setting the service reads, parsed and validated once at boot. */
export interface Settings {
  readonly nodeEnv: string;
  readonly port: number;
  readonly host: string;
  readonly logLevel: LogLevel;
  /** Unset: the embedded TimescaleDB under `dataDir`. */
  readonly databaseUrl: string | undefined;
  /**
   * Read replicas of DATABASE_URL (DATABASE_READ_URL, a comma list): reads of
   * market data go to them, except read-your-writes (docs/scaling.md). Empty: none.
   */
  readonly databaseReadUrls: readonly string[];
  readonly dataDir: string;
  readonly dbPoolSize: number;
  /** How long start-up waits for an unreachable database server. */
  readonly dbStartupWaitMs: number;
  readonly statementTimeoutMs: number;
  /**
   * How long a request waits for a pooled connection (one free, or a new one
   * opened) before it answers 503. Defaults to the statement timeout.
   */
  readonly dbPoolWaitMs: number;
  /**
   * The planner's random_page_cost in the service's own sessions on a server
   * (docs/decisions.md, "Planner cost of the service's sessions"); 0: the server's.
   */
  readonly dbRandomPageCost: number;
  readonly bodyLimitBytes: number;
  /** A body above bodyLimitBytes but at most this long is read and dropped after its 413, so the client reads the answer. */
  readonly bodyDiscardLimitBytes: number;
  readonly maxPointsPerRequest: number;
  readonly shutdownTimeoutMs: number;
  /** Unset: an in-process memory cache. */
  readonly redisUrl: string | undefined;
  /** A cache call slower than this is given up and answered from the database. */
  readonly cacheTimeoutMs: number;
  readonly cacheMemoryMaxBytes: number;
  /** Answers larger than this are not cached. */
  readonly cacheMaxEntryBytes: number;
  /** How often storage statistics are measured and query counters flushed; 0: never on a timer. */
  readonly statsRefreshIntervalMs: number;
  /** Period of the compression policy job (src/configuration); 0: no timer, on demand only. */
  readonly compressionJobIntervalMs: number;
  /** Period of the rollup refresh (src/rollups; TimescaleDB); 0: no timer, on demand only. */
  readonly rollupRefreshIntervalMs: number;
  /** Event transports (src/events): NATS JetStream and/or Redis; both off by default. */
  readonly events: EventSettings;
  /** API keys, rate limit, range cap (src/security, docs/security.md). */
  readonly security: SecuritySettings;
  /** Chunk layout, retention and the maintenance scheduler (docs/lifecycle.md). */
  readonly lifecycle: LifecycleSettings;
  /** Named sessions for calendar= (the built-in ones and SESSION_CALENDARS; docs/research-reads.md). */
  readonly sessionCalendars: Readonly<Record<string, TradingSession>>;
}

/** Data lifecycle settings (docs/lifecycle.md). */
export interface LifecycleSettings {
  /** TimescaleDB chunk length in hours (new chunks). */
  readonly chunkIntervalHours: number;
  /** Hash partitions on instrument_id; 0: none. Added only while market_data_ts is empty. */
  readonly spacePartitions: number;
  /**
   * Days a series without a configured retention_days keeps its bars ("raw
   * data 2 years"), and trades and quotes theirs; null: kept forever.
   */
  readonly retentionDefaultDays: number | null;
  /** RETENTION_MAX_DAYS is set: it is ignored (no cap any more), said once at start. */
  readonly retentionMaxDaysIgnored: boolean;
  /** Period of the retention and partition tasks; 0: only on POST /maintenance/run. */
  readonly maintenanceIntervalMs: number;
}

/** Settings of the event transports (DESIGN 5). */
export interface EventSettings {
  /** Unset: no NATS (no JetStream input, no NATS outputs). */
  readonly natsUrl: string | undefined;
  /** Unset: no Redis event transport. Not REDIS_URL: taking writes from a Redis is opted into. */
  readonly redisUrl: string | undefined;
  readonly natsStream: string;
  /** Durable pull consumer of the input subject. */
  readonly natsConsumer: string;
  /** Put before every subject (normalized_market_data, market_data_stored, the dead letters). */
  readonly natsSubjectPrefix: string;
  /** Deliveries of a message that cannot be written before it is dead-lettered; 0: no limit. */
  readonly natsMaxDeliver: number;
  /** How long JetStream waits for an ack before redelivering. */
  readonly natsAckWaitMs: number;
  /** Most events stored by one commit (a batch event counts its bars). */
  readonly batchMax: number;
  /** NATS messages pulled ahead of the lanes; 0: EVENT_BATCH_MAX x (EVENT_WRITE_CONCURRENCY + 1). */
  readonly natsPullAhead: number;
  /** How long a batch waits to fill after its first event. */
  readonly batchWaitMs: number;
  /**
   * Event batches written at once, each on its own connection (a series
   * always in the same lane, so its rows keep stream order); 1 on the
   * embedded engine, which has one connection.
   */
  readonly writeConcurrency: number;
  /**
   * Processes consuming the durable JetStream consumer: this one and
   * `workers - 1` event workers it starts (src/workers/event-workers.ts).
   */
  readonly workers: number;
  /** First redelivery delay after a failed write; doubles per delivery up to retryMaxMs. */
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
}

const MIB = 1024 * 1024;

export function loadSettings(env: Env = process.env): Settings {
  const statementTimeoutMs = integer(env, 'DB_STATEMENT_TIMEOUT_MS', 30_000, 0, 3_600_000);
  return {
    nodeEnv: text(env, 'NODE_ENV', 'development'),
    port: integer(env, 'PORT', 3000, 0, 65535),
    host: text(env, 'HOST', '0.0.0.0'),
    logLevel: oneOf<LogLevel>(env, 'LOG_LEVEL', 'log', [
      'error',
      'warn',
      'log',
      'debug',
      'verbose',
    ]),
    databaseUrl: url(
      env,
      'DATABASE_URL',
      ['postgres:', 'postgresql:'],
      'postgres://user:password@host:5432/db',
    ),
    databaseReadUrls: readReplicaUrls(env),
    dataDir: resolve(text(env, 'DATA_DIR', './data')),
    dbPoolSize: integer(env, 'DB_POOL_SIZE', 10, 1, 200),
    dbStartupWaitMs: integer(env, 'DB_STARTUP_WAIT_MS', 30_000, 0, 600_000),
    statementTimeoutMs,
    dbPoolWaitMs: integer(env, 'DB_POOL_WAIT_MS', statementTimeoutMs || 30_000, 100, 3_600_000),
    dbRandomPageCost: decimal(env, 'DB_RANDOM_PAGE_COST', 1.1, 0, 1_000),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 64 * MIB, 1024, 1024 * MIB),
    bodyDiscardLimitBytes: integer(env, 'BODY_DISCARD_LIMIT_BYTES', 1024 * MIB, 0, 16 * 1024 * MIB),
    maxPointsPerRequest: integer(env, 'MAX_POINTS_PER_REQUEST', 100_000, 1, 1_000_000),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 25_000, 0, 600_000),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:'], 'redis://host:6379/0'),
    cacheTimeoutMs: integer(env, 'CACHE_TIMEOUT_MS', 100, 1, 60_000),
    cacheMemoryMaxBytes: integer(env, 'CACHE_MEMORY_MAX_BYTES', 256 * MIB, MIB, 64 * 1024 * MIB),
    cacheMaxEntryBytes: integer(env, 'CACHE_MAX_ENTRY_BYTES', 16 * MIB, 1024, 512 * MIB),
    statsRefreshIntervalMs: refreshInterval(env, 'STATS_REFRESH_INTERVAL_MS', 60_000),
    compressionJobIntervalMs: refreshInterval(env, 'COMPRESSION_JOB_INTERVAL_MS', 300_000),
    rollupRefreshIntervalMs: refreshInterval(env, 'ROLLUP_REFRESH_INTERVAL_MS', 60_000),
    events: loadEventSettings(env, !env.DATABASE_URL?.trim()),
    security: loadSecuritySettings(env, text(env, 'NODE_ENV', 'development')),
    lifecycle: loadLifecycleSettings(env),
    sessionCalendars: sessionCalendars(env),
  };
}

/** SESSION_CALENDARS: `NAME=Zone/Name@HH:MM-HH:MM,...` beside (or replacing) the built-in calendars. */
function sessionCalendars(env: Env): Record<string, TradingSession> {
  const raw = text(env, 'SESSION_CALENDARS', '');
  if (raw === '') return { ...BUILT_IN_CALENDARS };
  try {
    return { ...BUILT_IN_CALENDARS, ...parseSessionCalendars(raw) };
  } catch (error) {
    throw new InvalidSettingError('SESSION_CALENDARS', (error as Error).message);
  }
}

const POSTGRES_URL_EXAMPLE = 'postgres://user:password@replica:5432/db';

/** DATABASE_READ_URL: one or more server URLs, comma separated; only beside DATABASE_URL. */
function readReplicaUrls(env: Env): string[] {
  const raw = env.DATABASE_READ_URL?.trim();
  if (!raw) return [];
  if (!env.DATABASE_URL?.trim()) {
    throw new InvalidSettingError(
      'DATABASE_READ_URL',
      'needs DATABASE_URL (read replicas are of a server; the embedded engine has none)',
    );
  }
  const entries = raw.split(',').map((entry) => entry.trim());
  return entries.map((entry, i) => {
    const where = entries.length > 1 ? `entry ${i + 1} ` : '';
    if (entry === '') throw new InvalidSettingError('DATABASE_READ_URL', `${where}is empty`);
    // The one-URL check, its message naming this variable and the entry (never the password).
    try {
      return url(
        { DATABASE_READ_URL: entry },
        'DATABASE_READ_URL',
        ['postgres:', 'postgresql:'],
        POSTGRES_URL_EXAMPLE,
      )!;
    } catch (error) {
      if (!(error instanceof InvalidSettingError) || !where) throw error;
      throw new InvalidSettingError(
        'DATABASE_READ_URL',
        `${where}${error.message.replace('Invalid setting DATABASE_READ_URL: ', '')}`,
      );
    }
  });
}

function loadLifecycleSettings(env: Env): LifecycleSettings {
  const rawDefault = text(env, 'RETENTION_DEFAULT_DAYS', '730');
  if (rawDefault !== 'forever' && !/^\d+$/.test(rawDefault)) {
    throw new InvalidSettingError(
      'RETENTION_DEFAULT_DAYS',
      `"${rawDefault}" is neither a whole number of days 1..36500 nor forever`,
    );
  }
  const retentionDefaultDays =
    rawDefault === 'forever' ? null : integer(env, 'RETENTION_DEFAULT_DAYS', 730, 1, 36_500);
  return {
    chunkIntervalHours: integer(env, 'LAYOUT_CHUNK_INTERVAL_HOURS', 168, 1, 8784),
    spacePartitions: integer(env, 'LAYOUT_SPACE_PARTITIONS', 0, 0, 256),
    retentionDefaultDays,
    retentionMaxDaysIgnored: text(env, 'RETENTION_MAX_DAYS', '') !== '',
    maintenanceIntervalMs: refreshInterval(env, 'MAINTENANCE_INTERVAL_MS', 3_600_000),
  };
}

const NATS_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function loadEventSettings(env: Env, embedded: boolean): EventSettings {
  const retryBaseMs = integer(env, 'EVENT_RETRY_BASE_MS', 1_000, 10, 600_000);
  const retryMaxMs = integer(env, 'EVENT_RETRY_MAX_MS', 30_000, 10, 3_600_000);
  if (retryMaxMs < retryBaseMs) {
    throw new InvalidSettingError(
      'EVENT_RETRY_MAX_MS',
      `${retryMaxMs} is below EVENT_RETRY_BASE_MS (${retryBaseMs})`,
    );
  }
  return {
    natsUrl: url(env, 'NATS_URL', ['nats:', 'tls:'], 'nats://host:4222'),
    redisUrl: url(env, 'EVENTS_REDIS_URL', ['redis:', 'rediss:'], 'redis://host:6379'),
    natsStream: matching(env, 'NATS_STREAM', 'MARKET_DATA', NATS_NAME, '1-64 of A-Z a-z 0-9 _ -'),
    natsConsumer: matching(
      env,
      'NATS_CONSUMER',
      'market-data-storage',
      NATS_NAME,
      '1-64 of A-Z a-z 0-9 _ -',
    ),
    natsSubjectPrefix: matching(
      env,
      'NATS_SUBJECT_PREFIX',
      '',
      /^([A-Za-z0-9_-]+\.)+$/,
      'subject tokens each followed by a dot, e.g. "prod."',
    ),
    natsMaxDeliver: integer(env, 'NATS_MAX_DELIVER', 0, 0, 1_000_000),
    natsAckWaitMs: integer(env, 'NATS_ACK_WAIT_MS', 60_000, 1_000, 3_600_000),
    batchMax: integer(env, 'EVENT_BATCH_MAX', 5_000, 1, 50_000),
    natsPullAhead: integer(env, 'NATS_PULL_AHEAD', 0, 0, 1_000_000),
    batchWaitMs: integer(env, 'EVENT_BATCH_WAIT_MS', 50, 0, 60_000),
    writeConcurrency: embedded ? 1 : integer(env, 'EVENT_WRITE_CONCURRENCY', 2, 1, 16),
    workers: eventWorkers(env, embedded),
    retryBaseMs,
    retryMaxMs,
  };
}

/** EVENT_WORKERS: more than one needs a database server (the embedded one lives in one process) and NATS. */
function eventWorkers(env: Env, embedded: boolean): number {
  const workers = integer(env, 'EVENT_WORKERS', 1, 1, 16);
  if (workers > 1 && embedded) {
    throw new InvalidSettingError(
      'EVENT_WORKERS',
      `${workers} needs DATABASE_URL: the embedded database lives in one process`,
    );
  }
  if (workers > 1 && !env.NATS_URL?.trim()) {
    throw new InvalidSettingError(
      'EVENT_WORKERS',
      `${workers} needs NATS_URL: the workers share the JetStream durable consumer`,
    );
  }
  return workers;
}

/** Injection token: the validated settings object. */
export const SETTINGS = Symbol('SETTINGS');
