import { resolve } from 'node:path';

export type LogLevel = 'error' | 'warn' | 'log' | 'debug' | 'verbose';

/** Every setting the service reads, parsed and validated once at boot. */
export interface Settings {
  readonly nodeEnv: string;
  readonly port: number;
  readonly host: string;
  readonly logLevel: LogLevel;
  /** Unset: the embedded TimescaleDB under `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly dbPoolSize: number;
  /** How long start-up waits for an unreachable database server. */
  readonly dbStartupWaitMs: number;
  readonly statementTimeoutMs: number;
  readonly bodyLimitBytes: number;
  readonly maxPointsPerRequest: number;
  readonly shutdownTimeoutMs: number;
  /** Unset: an in-process memory cache. */
  readonly redisUrl: string | undefined;
  /** A cache call slower than this is given up and answered from the database. */
  readonly cacheTimeoutMs: number;
  readonly cacheMemoryMaxBytes: number;
  /** Answers larger than this are not cached. */
  readonly cacheMaxEntryBytes: number;
}

/** A setting with a bad value; main.ts prints its message as one line and exits. */
export class InvalidSettingError extends Error {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`Invalid setting ${variable}: ${reason}`);
  }
}

type Env = Record<string, string | undefined>;

function text(env: Env, name: string, fallback: string): string {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? fallback : value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new InvalidSettingError(name, `"${raw}" is not a whole number`);
  const value = Number(raw);
  if (value < min || value > max) {
    throw new InvalidSettingError(name, `${value} is outside ${min}..${max}`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const value = text(env, name, fallback);
  if (!allowed.includes(value as T)) {
    throw new InvalidSettingError(name, `"${value}" is not one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function url(env: Env, name: string, protocols: string[], example: string): string | undefined {
  const value = env[name]?.trim();
  if (!value) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new InvalidSettingError(name, `is not a URL (${example})`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new InvalidSettingError(
      name,
      `protocol "${parsed.protocol}" is not ${protocols.join(' or ')}`,
    );
  }
  return value;
}

const MIB = 1024 * 1024;

export function loadSettings(env: Env = process.env): Settings {
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
    dataDir: resolve(text(env, 'DATA_DIR', './data')),
    dbPoolSize: integer(env, 'DB_POOL_SIZE', 10, 1, 200),
    dbStartupWaitMs: integer(env, 'DB_STARTUP_WAIT_MS', 30_000, 0, 600_000),
    statementTimeoutMs: integer(env, 'DB_STATEMENT_TIMEOUT_MS', 30_000, 0, 3_600_000),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 32 * MIB, 1024, 1024 * MIB),
    maxPointsPerRequest: integer(env, 'MAX_POINTS_PER_REQUEST', 100_000, 1, 1_000_000),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 25_000, 0, 600_000),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:'], 'redis://host:6379/0'),
    cacheTimeoutMs: integer(env, 'CACHE_TIMEOUT_MS', 100, 1, 60_000),
    cacheMemoryMaxBytes: integer(env, 'CACHE_MEMORY_MAX_BYTES', 256 * MIB, MIB, 64 * 1024 * MIB),
    cacheMaxEntryBytes: integer(env, 'CACHE_MAX_ENTRY_BYTES', 16 * MIB, 1024, 512 * MIB),
  };
}

/** Injection token: the validated settings object. */
export const SETTINGS = Symbol('SETTINGS');
