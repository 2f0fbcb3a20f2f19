import { Logger } from '@nestjs/common';
import { QueryCache } from '../cache/query-cache.service';
import { STATS_KEY, CACHE_TTL_MS } from '../cache/cache-keys';
import { StorageStatisticsEntity } from '../database/entities';
import { loadSettings } from '../settings/settings';
import {
  DayQueryFigures,
  MeasurementSession,
  QueryFigures,
  SeriesCount,
  StatisticsRepository,
  StorageMeasurement,
} from '../repositories/statistics.repository';
import { StatisticsService } from './statistics.service';

const MIB = 1024 * 1024;
const MEASURED_AT = new Date('2026-11-26T13:00:00.123Z');
const TODAY: DayQueryFigures = {
  date: '2026-11-26',
  readAt: new Date('2026-11-26T13:00:00.456Z'),
  queryCount: 7,
  avgQueryTimeMs: 3.5,
  cacheHitRatio: 0.25,
};

function seriesCount(overrides: Partial<SeriesCount> = {}): SeriesCount {
  return {
    instrumentId: 'AAPL',
    timeframe: 'ONE_MINUTE',
    recordCount: 300,
    dataQuality: 0.9,
    lastUpdated: new Date('2026-11-26T12:59:00Z'),
    compressionRatio: 0,
    ...overrides,
  };
}

/** A database of one lock: what the service saves lands in `saved` and `flushed`. */
class FakeStatistics {
  readonly flushed: QueryFigures[] = [];
  readonly saved: StorageMeasurement[] = [];
  /** Another instance holds the lock: a waiting-free attempt gets nothing. */
  lockBusy = false;
  msSinceLastMeasurement: number | null = null;
  failFlushes = 0;
  series: SeriesCount[] = [
    seriesCount(),
    seriesCount({ instrumentId: 'MSFT', recordCount: 100, dataQuality: 1 }),
  ];
  totalBytes = 4 * MIB;
  rollupsBytes = 2 * MIB;
  latest: StorageMeasurement | null = null;

  readonly engine = 'timescaledb' as const;

  async addQueryFigures(batch: QueryFigures): Promise<void> {
    if (this.failFlushes > 0) {
      this.failFlushes -= 1;
      throw new Error('database unavailable');
    }
    this.flushed.push(batch);
  }

  async withMeasurementLock<T>(
    wait: boolean,
    work: (session: MeasurementSession) => Promise<T>,
  ): Promise<T | undefined> {
    if (this.lockBusy && !wait) return undefined;
    return work(this.sessionOn());
  }

  /** The session the measurement runs on (the lifecycle task's, or the lock's). */
  sessionOn(): MeasurementSession {
    return {
      databaseTime: async () => MEASURED_AT,
      msSinceLastMeasurement: async () => this.msSinceLastMeasurement,
      countSeries: async () => this.series,
      measureTableSize: async () => ({
        totalBytes: this.totalBytes,
        rollupsBytes: this.rollupsBytes,
        compressionRatio: 0.5,
      }),
      saveMeasurement: async (m) => {
        this.saved.push(m);
        this.latest = m;
      },
    };
  }

  async findLatestMeasurement(): Promise<StorageMeasurement | null> {
    return this.latest;
  }

  async findTodayQueryFigures(): Promise<DayQueryFigures> {
    return TODAY;
  }

  days: StorageStatisticsEntity[] = [];
  async findDays(): Promise<StorageStatisticsEntity[]> {
    return this.days;
  }
}

class FakeCache {
  readonly entries = new Map<string, { value: string; ttlMs: number }>();
  /** As QueryCache's: a write or delete committed by this instance adds one. */
  invalidationCount = 0;
  async get(key: string): Promise<string | undefined> {
    return this.entries.get(key)?.value;
  }
  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.entries.set(key, { value, ttlMs });
  }
}

describe('StatisticsService', () => {
  let repository: FakeStatistics;
  let cache: FakeCache;
  let service: StatisticsService;

  function createService(env: Record<string, string> = {}): StatisticsService {
    return new StatisticsService(
      repository as unknown as StatisticsRepository,
      cache as unknown as QueryCache,
      loadSettings(env),
    );
  }

  beforeEach(() => {
    repository = new FakeStatistics();
    cache = new FakeCache();
    service = createService();
  });

  afterEach(async () => {
    await service.beforeApplicationShutdown();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  describe('recordQuery', () => {
    it('should flush the count, the average time and the cache hit ratio of the queries', async () => {
      service.recordQuery(10, true);
      service.recordQuery(20, false);
      service.recordQuery(60, true);

      await service.refreshNow();

      expect(repository.flushed).toHaveLength(1);
      expect(repository.flushed[0]?.queryCount).toBe(3);
      expect(repository.flushed[0]?.avgQueryTimeMs).toBeCloseTo(30, 10);
      expect(repository.flushed[0]?.cacheHitRatio).toBeCloseTo(2 / 3, 10);
    });

    it('should reset the counters after a flush', async () => {
      service.recordQuery(10, true);
      await service.refreshNow();

      await service.refreshNow();
      service.recordQuery(4, false);
      await service.refreshNow();

      expect(repository.flushed).toEqual([
        { queryCount: 1, avgQueryTimeMs: 10, cacheHitRatio: 1 },
        { queryCount: 1, avgQueryTimeMs: 4, cacheHitRatio: 0 },
      ]);
    });

    it('should keep the counters of a failed flush for the next one', async () => {
      service.recordQuery(10, true);
      repository.failFlushes = 1;

      await expect(service.refreshNow()).rejects.toThrow('database unavailable');
      service.recordQuery(40, false);
      await service.refreshNow();

      expect(repository.flushed).toEqual([
        { queryCount: 2, avgQueryTimeMs: 25, cacheHitRatio: 0.5 },
      ]);
    });
  });

  describe('refreshNow', () => {
    it("should save the measurement with each series' share by rows of the total size", async () => {
      await service.refreshNow();

      expect(repository.saved).toEqual([
        {
          measuredAt: MEASURED_AT,
          date: '2026-11-26',
          totalRecords: 400,
          totalSizeGb: 4 / 1024,
          rollupsSizeGb: 2 / 1024,
          compressionRatio: 0.5,
          series: [
            { ...repository.series[0], storageSizeMb: 3 },
            { ...repository.series[1], storageSizeMb: 1 },
          ],
        },
      ]);
    });

    it('should save a measurement of an empty table without series', async () => {
      repository.series = [];
      repository.totalBytes = 16_384;

      await service.refreshNow();

      expect(repository.saved[0]).toMatchObject({
        totalRecords: 0,
        totalSizeGb: 16_384 / 1024 ** 3,
        series: [],
      });
    });

    it('should measure even when another instance measured a moment ago', async () => {
      repository.msSinceLastMeasurement = 10;

      await service.refreshNow();

      expect(repository.saved).toHaveLength(1);
    });

    it('should put the new figures in the cache', async () => {
      await service.refreshNow();

      const entry = cache.entries.get(STATS_KEY);
      expect(entry?.ttlMs).toBe(CACHE_TTL_MS.stats);
      expect(JSON.parse(entry!.value)).toMatchObject({
        measured_at: '2026-11-26T13:00:00.123Z',
        total_records: 400,
      });
    });
  });

  describe('measureOn (the lifecycle task statistics)', () => {
    const SESSION = {} as never;

    it('should flush and measure on the given session, and cache the new figures', async () => {
      service.recordQuery(8, false);

      const report = await service.measureOn(SESSION, true);

      expect(report).toEqual({
        measured: true,
        measured_at: MEASURED_AT.toISOString(),
        total_records: 400,
        series: 2,
      });
      expect(repository.flushed).toEqual([{ queryCount: 1, avgQueryTimeMs: 8, cacheHitRatio: 0 }]);
      expect(repository.saved).toHaveLength(1);
      expect(cache.entries.get(STATS_KEY)).toBeDefined();
    });

    it('should not measure again on the timer within half an interval of any measurement', async () => {
      service = createService({ STATS_REFRESH_INTERVAL_MS: '5000' });
      repository.msSinceLastMeasurement = 2499;
      await expect(service.measureOn(SESSION, true)).resolves.toEqual({
        measured: false,
        reason: 'another instance measured recently',
      });
      repository.msSinceLastMeasurement = 2500;
      await service.measureOn(SESSION, true);

      expect(repository.saved).toHaveLength(1);
    });

    it('should measure on demand whenever the last measurement was', async () => {
      service = createService({ STATS_REFRESH_INTERVAL_MS: '5000' });
      repository.msSinceLastMeasurement = 10;

      await expect(service.measureOn(SESSION, false)).resolves.toMatchObject({ measured: true });
    });
  });

  describe('on the timer', () => {
    beforeEach(() => {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
    });

    it('should only flush every STATS_REFRESH_INTERVAL_MS: measuring is the lifecycle task', async () => {
      service = createService({ STATS_REFRESH_INTERVAL_MS: '5000' });
      service.onApplicationBootstrap();
      service.recordQuery(8, false);

      await jest.advanceTimersByTimeAsync(5000);
      service.recordQuery(4, true);
      await jest.advanceTimersByTimeAsync(5000);

      expect(repository.flushed).toEqual([
        { queryCount: 1, avgQueryTimeMs: 8, cacheHitRatio: 0 },
        { queryCount: 1, avgQueryTimeMs: 4, cacheHitRatio: 1 },
      ]);
      expect(repository.saved).toEqual([]);
    });

    it('should keep flushing after a failed flush, with a warning', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      service = createService({ STATS_REFRESH_INTERVAL_MS: '5000' });
      repository.failFlushes = 1;
      service.onApplicationBootstrap();
      service.recordQuery(8, false);

      await jest.advanceTimersByTimeAsync(5000);
      await jest.advanceTimersByTimeAsync(5000);

      expect(repository.flushed).toEqual([{ queryCount: 1, avgQueryTimeMs: 8, cacheHitRatio: 0 }]);
      expect(warn).toHaveBeenCalledWith('query counters not flushed: database unavailable');
    });

    it('should not run with STATS_REFRESH_INTERVAL_MS=0', async () => {
      service = createService({ STATS_REFRESH_INTERVAL_MS: '0' });
      service.onApplicationBootstrap();
      service.recordQuery(8, false);

      await jest.advanceTimersByTimeAsync(24 * 60 * 60_000);

      expect(repository.flushed).toEqual([]);
      expect(repository.saved).toEqual([]);
    });

    it('should stop at shutdown after flushing the last counts', async () => {
      service = createService({ STATS_REFRESH_INTERVAL_MS: '5000' });
      service.onApplicationBootstrap();
      service.recordQuery(12, true);

      await service.beforeApplicationShutdown();
      await jest.advanceTimersByTimeAsync(20_000);

      expect(repository.flushed).toEqual([{ queryCount: 1, avgQueryTimeMs: 12, cacheHitRatio: 1 }]);
      expect(repository.saved).toEqual([]);
    });
  });

  describe('beforeApplicationShutdown', () => {
    it('should not throw when the last flush fails, and say so', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      service.recordQuery(12, true);
      repository.failFlushes = 1;

      await expect(service.beforeApplicationShutdown()).resolves.toBeUndefined();
      expect(repository.flushed).toEqual([]);
      expect(warn).toHaveBeenCalledWith(
        'query counters not flushed at shutdown: database unavailable',
      );
    });
  });

  describe('current', () => {
    it('should answer the cached figures as they are', async () => {
      await cache.set(STATS_KEY, '{"cached":true}', 60_000);

      await expect(service.current()).resolves.toBe('{"cached":true}');
      expect(repository.saved).toEqual([]);
    });

    it("should measure first when nothing was measured yet, then answer with today's figures", async () => {
      const body = JSON.parse(await service.current());

      expect(repository.saved).toHaveLength(1);
      expect(body).toEqual({
        measured_at: '2026-11-26T13:00:00.123Z',
        engine: 'timescaledb',
        total_records: 400,
        total_size_gb: 4 / 1024,
        rollups_size_gb: 2 / 1024,
        compression_ratio: 0.5,
        compression_note: '1 - compressed/uncompressed bytes over the compressed chunks only',
        today: {
          date: '2026-11-26',
          measured_at: '2026-11-26T13:00:00.456Z',
          query_count: 7,
          avg_query_time_ms: 3.5,
          cache_hit_ratio: 0.25,
        },
        series: [
          {
            instrument_id: 'AAPL',
            timeframe: 'ONE_MINUTE',
            record_count: 300,
            storage_size_mb: 3,
            compression_ratio: 0,
            last_updated: '2026-11-26T12:59:00.000Z',
            data_quality: 0.9,
            // A fake without the oldest bar: nothing to drop.
            retention_days: 730,
            next_drop_at: null,
          },
          {
            instrument_id: 'MSFT',
            timeframe: 'ONE_MINUTE',
            record_count: 100,
            storage_size_mb: 1,
            compression_ratio: 0,
            last_updated: '2026-11-26T12:59:00.000Z',
            data_quality: 1,
            retention_days: 730,
            next_drop_at: null,
          },
        ],
        next_drop_at: null,
      });
      expect(cache.entries.get(STATS_KEY)?.value).toBe(JSON.stringify(body));
    });

    it('should measure once for readers that find nothing measured at the same time', async () => {
      const bodies = await Promise.all([service.current(), service.current(), service.current()]);

      expect(repository.saved).toHaveLength(1);
      expect(new Set(bodies).size).toBe(1);
    });

    it('should answer a measurement made today without measuring again', async () => {
      repository.latest = {
        measuredAt: new Date('2026-11-26T00:00:01.000Z'),
        date: '2026-11-26',
        totalRecords: 5,
        totalSizeGb: 0.5,
        rollupsSizeGb: 0.25,
        compressionRatio: 0,
        series: [],
      };

      const body = JSON.parse(await service.current());

      expect(body).toMatchObject({
        measured_at: '2026-11-26T00:00:01.000Z',
        total_records: 5,
        rollups_size_gb: 0.25,
      });
      expect(repository.saved).toEqual([]);
    });

    it('should measure before answering after a write or delete by this instance, past the cache', async () => {
      await service.current();
      await cache.set(STATS_KEY, '{"cached":true}', 60_000);
      cache.invalidationCount += 1;

      const body = JSON.parse(await service.current());

      expect(repository.saved).toHaveLength(2);
      expect(body).toMatchObject({ total_records: 400 });
      // Measured through that write: the next read is the cached answer again.
      await cache.set(STATS_KEY, '{"cached":true}', 60_000);
      await expect(service.current()).resolves.toBe('{"cached":true}');
    });

    it("should measure again when a shared measurement began before the reader's write", async () => {
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const countSeries = repository.sessionOn().countSeries;
      let calls = 0;
      jest.spyOn(repository, 'sessionOn').mockImplementation(() => ({
        ...FakeStatistics.prototype.sessionOn.call(repository),
        countSeries: async () => {
          calls += 1;
          if (calls === 1) await gate;
          return countSeries();
        },
      }));
      cache.invalidationCount = 1;
      const first = service.current();
      await new Promise((resolve) => setImmediate(resolve));
      cache.invalidationCount = 2;
      const second = service.current();
      release();

      await Promise.all([first, second]);

      expect(calls).toBe(2);
    });

    it('should flush its own counted queries into an answer it builds', async () => {
      service.recordQuery(8, false);

      await service.current();

      expect(repository.flushed).toEqual([{ queryCount: 1, avgQueryTimeMs: 8, cacheHitRatio: 0 }]);
    });

    it('should measure again when the newest measurement is from an earlier day', async () => {
      repository.latest = {
        measuredAt: new Date('2026-11-25T23:59:59.000Z'),
        date: '2026-11-25',
        totalRecords: 5,
        totalSizeGb: 0.5,
        rollupsSizeGb: 0.25,
        compressionRatio: 0,
        series: [],
      };

      const body = JSON.parse(await service.current());

      expect(body).toMatchObject({ measured_at: '2026-11-26T13:00:00.123Z', total_records: 400 });
    });
  });

  describe('history', () => {
    it('should answer the daily rows in API form', async () => {
      repository.days = [
        Object.assign(new StorageStatisticsEntity(), {
          id: 'a',
          date: '2026-11-25',
          totalRecords: '9007199254740',
          totalSizeGb: 1.5,
          rollupsSizeGb: 0.25,
          compressionRatio: 0.7,
          queryCount: 10,
          avgQueryTimeMs: 2.5,
          cacheHitRatio: 0.4,
          measuredAt: new Date('2026-11-25T23:59:00Z'),
          createdAt: new Date('2026-11-25T00:00:30Z'),
        }),
        Object.assign(new StorageStatisticsEntity(), {
          id: 'b',
          date: '2026-11-26',
          totalRecords: null,
          totalSizeGb: null,
          rollupsSizeGb: null,
          compressionRatio: null,
          queryCount: 3,
          avgQueryTimeMs: 1,
          cacheHitRatio: 0,
          measuredAt: null,
          createdAt: new Date('2026-11-26T00:00:30Z'),
        }),
      ];

      await expect(service.history('2026-11-20', '2026-11-30')).resolves.toEqual({
        from: '2026-11-20',
        to: '2026-11-30',
        days: [
          {
            date: '2026-11-25',
            total_records: 9_007_199_254_740,
            total_size_gb: 1.5,
            rollups_size_gb: 0.25,
            compression_ratio: 0.7,
            query_count: 10,
            avg_query_time_ms: 2.5,
            cache_hit_ratio: 0.4,
            measured_at: '2026-11-25T23:59:00.000Z',
          },
          {
            date: '2026-11-26',
            total_records: null,
            total_size_gb: null,
            rollups_size_gb: null,
            compression_ratio: null,
            query_count: 3,
            avg_query_time_ms: 1,
            cache_hit_ratio: 0,
            measured_at: null,
          },
        ],
      });
    });
  });
});
