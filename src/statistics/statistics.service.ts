import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { CACHE_TTL_MS, STATS_KEY } from '../cache/cache-keys';
import { QueryCache } from '../cache/query-cache.service';
import type { LockedSession } from '../database/advisory-lock';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import {
  StatisticsDayDto,
  StatisticsHistoryDto,
  StorageStatisticsDto,
  toStatisticsDayDto,
  toStorageStatisticsDto,
} from './dto/statistics-response.dto';
import {
  MeasurementSession,
  QueryFigures,
  StatisticsRepository,
  StorageMeasurement,
} from '../repositories/statistics.repository';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** Answered queries since the last flush. */
interface QueryCounters {
  count: number;
  totalMs: number;
  cacheHits: number;
}

function noQueries(): QueryCounters {
  return { count: 0, totalMs: 0, cacheHits: 0 };
}

function figuresOf(counters: QueryCounters): QueryFigures {
  return {
    queryCount: counters.count,
    avgQueryTimeMs: counters.totalMs / counters.count,
    cacheHitRatio: counters.cacheHits / counters.count,
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Keeps storage_statistics and storage_metadata_ts up to date. Queries are
 * counted in memory (recordQuery costs no I/O) and flushed by every instance
 * every STATS_REFRESH_INTERVAL_MS into the day's row: this timer stays here,
 * as each instance must flush its own counts, which no single-replica task
 * can do. The sizes and counts of market_data_ts are measured by the
 * lifecycle task `statistics` (measureOn, under its lock: one instance at a
 * time), or by a reader that finds nothing measured today or follows a write
 * or delete committed by this instance since its last measurement
 * (refreshNow): counts read after a store are current.
 */
@Injectable()
export class StatisticsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Statistics');
  private counters = noQueries();
  private timer?: NodeJS.Timeout;
  /** The refresh in flight on this instance; refreshes never overlap. */
  private refreshing: Promise<void> = Promise.resolve();
  private busy = false;
  /** A measurement asked for by readers, shared by every reader that finds none for today. */
  private readersMeasurement?: Promise<void>;
  /**
   * QueryCache.invalidationCount when this instance's newest measurement
   * began: a higher count means this instance committed a write or delete
   * since, and a reader measures before answering.
   */
  private measuredThrough = 0;

  constructor(
    private readonly statistics: StatisticsRepository,
    private readonly cache: QueryCache,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /** Counts one answered query; flushed with the next refresh. */
  recordQuery(durationMs: number, cacheHit: boolean): void {
    this.counters.count += 1;
    this.counters.totalMs += durationMs;
    if (cacheHit) this.counters.cacheHits += 1;
  }

  onApplicationBootstrap(): void {
    const interval = this.settings.statsRefreshIntervalMs;
    if (interval === 0) return;
    this.timer = setInterval(() => void this.flushOnSchedule(), interval);
    // The timer alone never keeps the process alive.
    this.timer.unref();
  }

  /** Before the database module closes the connection: the last counts are not lost. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.refreshing;
    try {
      await this.flushQueryCounters();
    } catch (error) {
      this.logger.warn(`query counters not flushed at shutdown: ${describe(error)}`);
    }
  }

  /**
   * Flushes this instance's counters and measures now, waiting for a
   * measurement by another instance to end first.
   */
  refreshNow(): Promise<void> {
    return this.serialized(() => this.refresh());
  }

  /**
   * The newest measurement with today's query figures; cached for a minute.
   * After a write or delete committed by this instance it measures first,
   * so the counts read right after a store or delete are current (other
   * instances' writes show at the next measurement; measured_at says when).
   */
  async current(): Promise<string> {
    const written = this.cache.invalidationCount > this.measuredThrough;
    if (written) {
      await this.measureForReaders();
    } else {
      const cached = await this.cache.get(STATS_KEY);
      if (cached !== undefined) return cached;
      // This instance's own counts are in the answer, flushed when it is built.
      await this.serialized(() => this.flushQueryCounters()).catch((error: unknown) => {
        this.logger.warn(`query counters not flushed: ${describe(error)}`);
      });
    }
    let answer = await this.readCurrent();
    if (answer === undefined || answer.measured_at.slice(0, 10) !== answer.today.date) {
      // Nothing measured yet today (the timer may be off): measure before answering.
      await this.measureForReaders();
      answer = await this.readCurrent();
      if (answer === undefined) throw new Error('no storage measurement after a refresh');
    }
    const text = JSON.stringify(answer);
    await this.cache.set(STATS_KEY, text, CACHE_TTL_MS.stats);
    return text;
  }

  /**
   * One measurement shared by every reader asking at the same time; a
   * second one when the shared one began before this reader's writes.
   */
  private async measureForReaders(): Promise<void> {
    const target = this.cache.invalidationCount;
    do {
      this.readersMeasurement ??= this.refreshNow().finally(() => {
        this.readersMeasurement = undefined;
      });
      await this.readersMeasurement;
    } while (this.measuredThrough < target);
  }

  /** The daily rows of [from, to], both validated 'YYYY-MM-DD' UTC days. */
  async history(from: string, to: string): Promise<StatisticsHistoryDto> {
    const days: StatisticsDayDto[] = (await this.statistics.findDays(from, to)).map(
      toStatisticsDayDto,
    );
    return { from, to, days };
  }

  /**
   * The lifecycle task `statistics`: flushes this instance's counters and
   * measures on `sql`, the session holding the measurement lock. On the
   * timer it leaves the measurement to another instance that measured within
   * half an interval (N replicas measure about once an interval).
   */
  measureOn(sql: LockedSession, scheduled: boolean): Promise<Record<string, unknown>> {
    return this.serialized(async () => {
      await this.flushQueryCounters();
      const session = this.statistics.sessionOn(sql);
      const measured = await this.measureUnlessRecent(session, scheduled);
      if (!measured) return { measured: false, reason: 'another instance measured recently' };
      await this.cacheCurrent();
      return {
        measured: true,
        measured_at: measured.measuredAt.toISOString(),
        total_records: measured.totalRecords,
        series: measured.series.length,
      };
    });
  }

  private async flushOnSchedule(): Promise<void> {
    // A flush slower than the interval is not queued up behind itself.
    if (this.busy) return;
    try {
      await this.serialized(() => this.flushQueryCounters());
    } catch (error) {
      this.logger.warn(`query counters not flushed: ${describe(error)}`);
    }
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.refreshing.then(async () => {
      this.busy = true;
      try {
        return await work();
      } finally {
        this.busy = false;
      }
    });
    this.refreshing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async refresh(): Promise<void> {
    await this.flushQueryCounters();
    await this.statistics.withMeasurementLock(true, (session) => this.measure(session));
    await this.cacheCurrent();
  }

  private async measureUnlessRecent(
    session: MeasurementSession,
    skipRecent: boolean,
  ): Promise<StorageMeasurement | undefined> {
    if (skipRecent) {
      const age = await session.msSinceLastMeasurement();
      if (age !== null && age < this.settings.statsRefreshIntervalMs / 2) return undefined;
    }
    return this.measure(session);
  }

  private async cacheCurrent(): Promise<void> {
    const answer = await this.readCurrent();
    if (answer) await this.cache.set(STATS_KEY, JSON.stringify(answer), CACHE_TTL_MS.stats);
  }

  /**
   * Counts, sizes and compression of market_data_ts, and the rollups'
   * size, saved as today's storage_statistics row and one
   * storage_metadata_ts row per series. A
   * series' storage_size_mb is its share by rows of the table's total size:
   * PostgreSQL sizes tables and chunks, not the rows of one series.
   */
  private async measure(session: MeasurementSession): Promise<StorageMeasurement> {
    // Read before counting: a write committed while counting leaves the count above it.
    const through = this.cache.invalidationCount;
    const measuredAt = await session.databaseTime();
    const series = await session.countSeries();
    const size = await session.measureTableSize();
    const totalRecords = series.reduce((sum, s) => sum + s.recordCount, 0);
    const measurement: StorageMeasurement = {
      measuredAt,
      date: measuredAt.toISOString().slice(0, 10),
      totalRecords,
      totalSizeGb: size.totalBytes / GIB,
      rollupsSizeGb: size.rollupsBytes / GIB,
      compressionRatio: size.compressionRatio,
      series: series.map((s) => ({
        ...s,
        storageSizeMb: (size.totalBytes * s.recordCount) / totalRecords / MIB,
      })),
    };
    await session.saveMeasurement(measurement);
    this.measuredThrough = Math.max(this.measuredThrough, through);
    return measurement;
  }

  /** Hands the counters over; they are put back when the write fails, so none are lost. */
  private async flushQueryCounters(): Promise<void> {
    const batch = this.counters;
    if (batch.count === 0) return;
    this.counters = noQueries();
    try {
      await this.statistics.addQueryFigures(figuresOf(batch));
    } catch (error) {
      this.counters.count += batch.count;
      this.counters.totalMs += batch.totalMs;
      this.counters.cacheHits += batch.cacheHits;
      throw error;
    }
  }

  private async readCurrent(): Promise<StorageStatisticsDto | undefined> {
    const [measurement, today] = await Promise.all([
      this.statistics.findLatestMeasurement(),
      this.statistics.findTodayQueryFigures(),
    ]);
    return measurement
      ? toStorageStatisticsDto(
          this.statistics.engine,
          measurement,
          today,
          this.settings.lifecycle.retentionDefaultDays,
        )
      : undefined;
  }
}
