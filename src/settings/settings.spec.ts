import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { InvalidSettingError, loadSettings, Settings } from './settings';
import { BUILT_IN_CALENDARS } from '../common/trading-session';

const MIB = 1024 * 1024;

/** The error loadSettings throws for `env`. */
function settingErrorOf(env: Record<string, string>): InvalidSettingError {
  try {
    loadSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidSettingError);
    return error as InvalidSettingError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('loadSettings', () => {
  it('should use the defaults when nothing is set', () => {
    expect(loadSettings({})).toEqual<Settings>({
      nodeEnv: 'development',
      port: 3000,
      host: '0.0.0.0',
      logLevel: 'log',
      databaseUrl: undefined,
      databaseReadUrls: [],
      dataDir: resolve('./data'),
      dbPoolSize: 10,
      dbStartupWaitMs: 30_000,
      statementTimeoutMs: 30_000,
      dbPoolWaitMs: 30_000,
      dbRandomPageCost: 1.1,
      bodyLimitBytes: 64 * MIB,
      bodyDiscardLimitBytes: 1024 * MIB,
      maxPointsPerRequest: 100_000,
      shutdownTimeoutMs: 25_000,
      redisUrl: undefined,
      cacheTimeoutMs: 100,
      cacheMemoryMaxBytes: 256 * MIB,
      cacheMaxEntryBytes: 16 * MIB,
      statsRefreshIntervalMs: 60_000,
      compressionJobIntervalMs: 300_000,
      rollupRefreshIntervalMs: 60_000,
      events: {
        natsUrl: undefined,
        redisUrl: undefined,
        natsStream: 'MARKET_DATA',
        natsConsumer: 'market-data-storage',
        natsSubjectPrefix: '',
        natsMaxDeliver: 0,
        natsAckWaitMs: 60_000,
        batchMax: 5_000,
        natsPullAhead: 0,
        batchWaitMs: 50,
        writeConcurrency: 1,
        workers: 1,
        retryBaseMs: 1_000,
        retryMaxMs: 30_000,
      },
      security: {
        apiKeys: [],
        rateLimitRequests: 1_000,
        rateLimitWindowMs: 1_000,
        maxQueryRangeDays: 3_660,
      },
      lifecycle: {
        chunkIntervalHours: 168,
        spacePartitions: 0,
        retentionDefaultDays: 730,
        retentionMaxDaysIgnored: false,
        maintenanceIntervalMs: 3_600_000,
      },
      sessionCalendars: BUILT_IN_CALENDARS,
    });
  });

  it('should wait for a pooled connection as long as a statement may run, unless told otherwise', () => {
    expect(loadSettings({ DB_STATEMENT_TIMEOUT_MS: '3000' }).dbPoolWaitMs).toBe(3_000);
    // No statement timeout: still a bound, the default one.
    expect(loadSettings({ DB_STATEMENT_TIMEOUT_MS: '0' }).dbPoolWaitMs).toBe(30_000);
    expect(
      loadSettings({ DB_STATEMENT_TIMEOUT_MS: '3000', DB_POOL_WAIT_MS: '60000' }).dbPoolWaitMs,
    ).toBe(60_000);
  });

  it('should treat empty and blank values as unset', () => {
    const settings = loadSettings({
      PORT: '',
      LOG_LEVEL: '   ',
      DATABASE_URL: ' ',
      DB_POOL_SIZE: '',
      HOST: '',
    });

    expect(settings).toEqual(loadSettings({}));
  });

  it('should read every variable that is set', () => {
    const settings = loadSettings({
      NODE_ENV: 'production',
      PORT: '8080',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
      DATABASE_URL: 'postgres://market:secret@db:5432/market',
      DATABASE_READ_URL: 'postgres://market:secret@replica:5432/market',
      DATA_DIR: '/var/lib/market',
      DB_POOL_SIZE: '25',
      DB_STARTUP_WAIT_MS: '0',
      DB_STATEMENT_TIMEOUT_MS: '0',
      DB_POOL_WAIT_MS: '45000',
      DB_RANDOM_PAGE_COST: '0',
      BODY_LIMIT_BYTES: '1024',
      BODY_DISCARD_LIMIT_BYTES: '0',
      MAX_POINTS_PER_REQUEST: '1000000',
      SHUTDOWN_TIMEOUT_MS: '600000',
      REDIS_URL: 'redis://cache:6379/2',
      CACHE_TIMEOUT_MS: '50',
      CACHE_MEMORY_MAX_BYTES: '1048576',
      CACHE_MAX_ENTRY_BYTES: '1024',
      STATS_REFRESH_INTERVAL_MS: '300000',
      COMPRESSION_JOB_INTERVAL_MS: '0',
      ROLLUP_REFRESH_INTERVAL_MS: '120000',
      NATS_URL: 'nats://bus:4222',
      EVENTS_REDIS_URL: 'rediss://events:6380/1',
      NATS_STREAM: 'MD_PROD',
      NATS_CONSUMER: 'storage_1',
      NATS_SUBJECT_PREFIX: 'prod.eu.',
      NATS_MAX_DELIVER: '20',
      NATS_ACK_WAIT_MS: '1000',
      EVENT_BATCH_MAX: '50000',
      NATS_PULL_AHEAD: '500',
      EVENT_BATCH_WAIT_MS: '0',
      EVENT_RETRY_BASE_MS: '10',
      EVENT_RETRY_MAX_MS: '10',
      EVENT_WRITE_CONCURRENCY: '3',
      EVENT_WORKERS: '4',
      API_KEYS: 'a-production-read-key=read',
      RATE_LIMIT_REQUESTS: '0',
      RATE_LIMIT_WINDOW_MS: '60000',
      MAX_QUERY_RANGE_DAYS: '31',
    });

    expect(settings).toEqual<Settings>({
      nodeEnv: 'production',
      port: 8080,
      host: '127.0.0.1',
      logLevel: 'debug',
      databaseUrl: 'postgres://market:secret@db:5432/market',
      databaseReadUrls: ['postgres://market:secret@replica:5432/market'],
      dataDir: '/var/lib/market',
      dbPoolSize: 25,
      dbStartupWaitMs: 0,
      statementTimeoutMs: 0,
      dbPoolWaitMs: 45_000,
      dbRandomPageCost: 0,
      bodyLimitBytes: 1024,
      bodyDiscardLimitBytes: 0,
      maxPointsPerRequest: 1_000_000,
      shutdownTimeoutMs: 600_000,
      redisUrl: 'redis://cache:6379/2',
      cacheTimeoutMs: 50,
      cacheMemoryMaxBytes: 1_048_576,
      cacheMaxEntryBytes: 1024,
      statsRefreshIntervalMs: 300_000,
      compressionJobIntervalMs: 0,
      rollupRefreshIntervalMs: 120_000,
      events: {
        natsUrl: 'nats://bus:4222',
        redisUrl: 'rediss://events:6380/1',
        natsStream: 'MD_PROD',
        natsConsumer: 'storage_1',
        natsSubjectPrefix: 'prod.eu.',
        natsMaxDeliver: 20,
        natsAckWaitMs: 1000,
        batchMax: 50_000,
        natsPullAhead: 500,
        batchWaitMs: 0,
        writeConcurrency: 3,
        workers: 4,
        retryBaseMs: 10,
        retryMaxMs: 10,
      },
      security: {
        apiKeys: [
          {
            digest: createHash('sha256').update('a-production-read-key').digest(),
            label: expect.stringMatching(/^key-[0-9a-f]{8}$/),
            scopes: new Set(['read']),
          },
        ],
        rateLimitRequests: 0,
        rateLimitWindowMs: 60_000,
        maxQueryRangeDays: 31,
      },
      lifecycle: {
        chunkIntervalHours: 168,
        spacePartitions: 0,
        retentionDefaultDays: 730,
        retentionMaxDaysIgnored: false,
        maintenanceIntervalMs: 3_600_000,
      },
      sessionCalendars: BUILT_IN_CALENDARS,
    });
  });

  it('should read the lifecycle variables, keep forever on RETENTION_DEFAULT_DAYS=forever and ignore RETENTION_MAX_DAYS', () => {
    expect(
      loadSettings({
        LAYOUT_CHUNK_INTERVAL_HOURS: '24',
        LAYOUT_SPACE_PARTITIONS: '16',
        RETENTION_DEFAULT_DAYS: '365',
        RETENTION_MAX_DAYS: '3000',
        MAINTENANCE_INTERVAL_MS: '0',
      }).lifecycle,
    ).toEqual({
      chunkIntervalHours: 24,
      spacePartitions: 16,
      retentionDefaultDays: 365,
      retentionMaxDaysIgnored: true,
      maintenanceIntervalMs: 0,
    });
    // No cap any more: a default above the old RETENTION_MAX_DAYS is what it says.
    expect(loadSettings({ RETENTION_DEFAULT_DAYS: '4000' }).lifecycle.retentionDefaultDays).toBe(
      4000,
    );
    expect(loadSettings({ RETENTION_DEFAULT_DAYS: 'forever' }).lifecycle.retentionDefaultDays).toBe(
      null,
    );
    expect(() => loadSettings({ RETENTION_DEFAULT_DAYS: '36501' })).toThrow(
      'Invalid setting RETENTION_DEFAULT_DAYS: 36501 is outside 1..36500',
    );
    expect(() => loadSettings({ LAYOUT_CHUNK_INTERVAL_HOURS: '0' })).toThrow(
      'Invalid setting LAYOUT_CHUNK_INTERVAL_HOURS: 0 is outside 1..8784',
    );
  });

  it('should trim whitespace around values', () => {
    const settings = loadSettings({ PORT: ' 8080 ', LOG_LEVEL: ' warn ', HOST: ' localhost ' });

    expect(settings).toMatchObject({ port: 8080, logLevel: 'warn', host: 'localhost' });
  });

  it('should resolve a relative DATA_DIR to an absolute path', () => {
    expect(loadSettings({ DATA_DIR: 'var/data' }).dataDir).toBe(resolve('var/data'));
  });

  it.each(['postgres://u:p@localhost:5432/db', 'postgresql://localhost/db'])(
    'should accept the DATABASE_URL %s',
    (url) => {
      expect(loadSettings({ DATABASE_URL: url }).databaseUrl).toBe(url);
    },
  );

  it.each(['error', 'warn', 'log', 'debug', 'verbose'])('should accept LOG_LEVEL=%s', (level) => {
    expect(loadSettings({ LOG_LEVEL: level }).logLevel).toBe(level);
  });

  it.each([
    ['PORT', 'abc', '"abc" is not a whole number'],
    ['PORT', '70000', '70000 is outside 0..65535'],
    ['PORT', '-1', '"-1" is not a whole number'],
    ['PORT', '3000.5', '"3000.5" is not a whole number'],
    ['PORT', '1e3', '"1e3" is not a whole number'],
    ['LOG_LEVEL', 'loud', '"loud" is not one of error, warn, log, debug, verbose'],
    ['LOG_LEVEL', 'DEBUG', '"DEBUG" is not one of error, warn, log, debug, verbose'],
    ['DATABASE_URL', 'mysql://x', 'protocol "mysql:" is not postgres: or postgresql:'],
    ['REDIS_URL', 'http://cache', 'protocol "http:" is not redis: or rediss:'],
    ['DATABASE_URL', 'not a url', 'is not a URL (postgres://user:password@host:5432/db)'],
    ['DB_POOL_SIZE', '0', '0 is outside 1..200'],
    ['DB_POOL_SIZE', '201', '201 is outside 1..200'],
    ['DB_STATEMENT_TIMEOUT_MS', '3600001', '3600001 is outside 0..3600000'],
    ['DB_POOL_WAIT_MS', '99', '99 is outside 100..3600000'],
    ['DB_RANDOM_PAGE_COST', '1,1', '"1,1" is not a decimal'],
    ['DB_RANDOM_PAGE_COST', '1001', '1001 is outside 0..1000'],
    ['BODY_LIMIT_BYTES', '1023', '1023 is outside 1024..1073741824'],
    ['MAX_POINTS_PER_REQUEST', '0', '0 is outside 1..1000000'],
    ['SHUTDOWN_TIMEOUT_MS', '600001', '600001 is outside 0..600000'],
    ['COMPRESSION_JOB_INTERVAL_MS', '86400001', '86400001 is outside 0..86400000'],
    ['COMPRESSION_JOB_INTERVAL_MS', '5m', '"5m" is not a whole number'],
    ['COMPRESSION_JOB_INTERVAL_MS', '999', '999 must be 0 (off) or at least 1000'],
    ['ROLLUP_REFRESH_INTERVAL_MS', '500', '500 must be 0 (off) or at least 1000'],
    ['STATS_REFRESH_INTERVAL_MS', '999', '999 must be 0 (off) or at least 1000'],
    ['STATS_REFRESH_INTERVAL_MS', '86400001', '86400001 is outside 0..86400000'],
    ['STATS_REFRESH_INTERVAL_MS', '1m', '"1m" is not a whole number'],
  ])('should refuse %s=%s naming the variable', (variable, value, reason) => {
    const error = settingErrorOf({ [variable]: value });

    expect(error.variable).toBe(variable);
    expect(error.message).toBe(`Invalid setting ${variable}: ${reason}`);
  });

  it.each([
    ['0', 0],
    ['1000', 1000],
    ['86400000', 86_400_000],
  ])('should accept STATS_REFRESH_INTERVAL_MS=%s (0 turns the timer off)', (raw, expected) => {
    expect(loadSettings({ STATS_REFRESH_INTERVAL_MS: raw }).statsRefreshIntervalMs).toBe(expected);
  });

  it('should not repeat the password of a refused DATABASE_URL', () => {
    const error = settingErrorOf({ DATABASE_URL: 'mysql://market:s3cr3t@db:3306/market' });

    expect(error.variable).toBe('DATABASE_URL');
    expect(error.message).not.toContain('s3cr3t');
  });

  it('should name the first bad variable when several are bad', () => {
    expect(settingErrorOf({ PORT: 'abc', DB_POOL_SIZE: '0' }).variable).toBe('PORT');
  });

  describe('event settings', () => {
    it.each([
      ['NATS_URL', 'http://bus:4222', 'protocol "http:" is not nats: or tls:'],
      ['NATS_URL', 'bus', 'is not a URL (nats://host:4222)'],
      ['EVENTS_REDIS_URL', 'nats://bus', 'protocol "nats:" is not redis: or rediss:'],
      ['NATS_STREAM', 'market.data', '"market.data" is not 1-64 of A-Z a-z 0-9 _ -'],
      ['NATS_CONSUMER', 'a b', '"a b" is not 1-64 of A-Z a-z 0-9 _ -'],
      [
        'NATS_SUBJECT_PREFIX',
        'prod',
        '"prod" is not subject tokens each followed by a dot, e.g. "prod."',
      ],
      [
        'NATS_SUBJECT_PREFIX',
        'prod.*.',
        '"prod.*." is not subject tokens each followed by a dot, e.g. "prod."',
      ],
      ['NATS_ACK_WAIT_MS', '999', '999 is outside 1000..3600000'],
      ['EVENT_BATCH_MAX', '0', '0 is outside 1..50000'],
      ['EVENT_BATCH_MAX', '50001', '50001 is outside 1..50000'],
      ['EVENT_BATCH_WAIT_MS', '60001', '60001 is outside 0..60000'],
      ['EVENT_RETRY_BASE_MS', '9', '9 is outside 10..600000'],
    ])('should refuse %s=%s naming the variable', (variable, value, reason) => {
      const error = settingErrorOf({ [variable]: value });

      expect(error.variable).toBe(variable);
      expect(error.message).toBe(`Invalid setting ${variable}: ${reason}`);
    });

    it('should write two event batches at once on a server and one on the embedded engine', () => {
      const server = { DATABASE_URL: 'postgres://u@db:5432/m' };

      expect(loadSettings(server).events.writeConcurrency).toBe(2);
      expect(loadSettings({ EVENT_WRITE_CONCURRENCY: '4' }).events.writeConcurrency).toBe(1);
      expect(settingErrorOf({ ...server, EVENT_WRITE_CONCURRENCY: '17' }).message).toBe(
        'Invalid setting EVENT_WRITE_CONCURRENCY: 17 is outside 1..16',
      );
    });

    it('should run one event consumer process by default and refuse workers where they cannot share', () => {
      const server = { DATABASE_URL: 'postgres://u@db:5432/m', NATS_URL: 'nats://bus:4222' };

      expect(loadSettings(server).events.workers).toBe(1);
      expect(loadSettings({ ...server, EVENT_WORKERS: '16' }).events.workers).toBe(16);
      expect(settingErrorOf({ ...server, EVENT_WORKERS: '17' }).message).toBe(
        'Invalid setting EVENT_WORKERS: 17 is outside 1..16',
      );
      expect(settingErrorOf({ NATS_URL: 'nats://bus:4222', EVENT_WORKERS: '2' }).message).toBe(
        'Invalid setting EVENT_WORKERS: 2 needs DATABASE_URL: the embedded database lives in one process',
      );
      expect(
        settingErrorOf({ DATABASE_URL: 'postgres://u@db:5432/m', EVENT_WORKERS: '2' }).message,
      ).toBe(
        'Invalid setting EVENT_WORKERS: 2 needs NATS_URL: the workers share the JetStream durable consumer',
      );
    });

    it('should refuse a retry ceiling below the first retry delay', () => {
      const error = settingErrorOf({ EVENT_RETRY_BASE_MS: '5000', EVENT_RETRY_MAX_MS: '1000' });

      expect(error.variable).toBe('EVENT_RETRY_MAX_MS');
      expect(error.message).toBe(
        'Invalid setting EVENT_RETRY_MAX_MS: 1000 is below EVENT_RETRY_BASE_MS (5000)',
      );
    });

    it('should not take REDIS_URL (the cache) as the Redis event transport', () => {
      expect(loadSettings({ REDIS_URL: 'redis://cache:6379' }).events.redisUrl).toBeUndefined();
    });
  });

  describe('read replicas (DATABASE_READ_URL)', () => {
    const primary = { DATABASE_URL: 'postgres://u@db:5432/m' };

    it('should read one URL or a comma list, trimmed', () => {
      expect(
        loadSettings({ ...primary, DATABASE_READ_URL: 'postgres://u@r1:5432/m' }).databaseReadUrls,
      ).toEqual(['postgres://u@r1:5432/m']);
      expect(
        loadSettings({
          ...primary,
          DATABASE_READ_URL: ' postgres://u@r1:5432/m , postgresql://u@r2:5433/m ',
        }).databaseReadUrls,
      ).toEqual(['postgres://u@r1:5432/m', 'postgresql://u@r2:5433/m']);
    });

    it.each([
      ['redis://r1:6379', 'protocol "redis:" is not postgres: or postgresql:'],
      ['replica', 'is not a URL (postgres://user:password@replica:5432/db)'],
      [
        'postgres://u@r1/m,mysql://u:s3cr3t@r2/m',
        'entry 2 protocol "mysql:" is not postgres: or postgresql:',
      ],
      ['postgres://u@r1/m,,postgres://u@r2/m', 'entry 2 is empty'],
    ])('should refuse DATABASE_READ_URL=%s in one line naming it', (value, reason) => {
      const error = settingErrorOf({ ...primary, DATABASE_READ_URL: value });

      expect(error.variable).toBe('DATABASE_READ_URL');
      expect(error.message).toBe(`Invalid setting DATABASE_READ_URL: ${reason}`);
      expect(error.message).not.toContain('s3cr3t');
    });

    it('should refuse read replicas without DATABASE_URL (the embedded engine)', () => {
      const error = settingErrorOf({ DATABASE_READ_URL: 'postgres://u@r1:5432/m' });

      expect(error.variable).toBe('DATABASE_READ_URL');
      expect(error.message).toBe(
        'Invalid setting DATABASE_READ_URL: needs DATABASE_URL (read replicas are of a server; the embedded engine has none)',
      );
    });
  });
});
