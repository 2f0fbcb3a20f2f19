import { Injectable } from '@nestjs/common';
import {
  InjectMetric,
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
} from '@willsoto/nestjs-prometheus';
import { Counter, Gauge, Histogram } from 'prom-client';

/** Where a point arrived from. */
export type Transport = 'rest' | 'nats' | 'redis';
/** What a read was: a stored range, a range derived from a finer timeframe, or the newest point. */
export type QueryShape = 'range' | 'derived' | 'latest';
export type CacheResult = 'hit' | 'miss' | 'error' | 'bypass';

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every metric the service exports: stable names, help texts, label sets. */
export const METRIC_PROVIDERS = [
  makeHistogramProvider({
    name: 'mds_http_request_duration_seconds',
    help: 'HTTP request duration by method, route template and status code',
    labelNames: ['method', 'route', 'status'],
    buckets: SECONDS,
  }),
  makeCounterProvider({
    name: 'mds_points_stored_total',
    help: 'Points written to the database, by timeframe and transport',
    labelNames: ['timeframe', 'transport'],
  }),
  makeCounterProvider({
    name: 'mds_points_failed_total',
    help: 'Points rejected by validation, by timeframe and transport',
    labelNames: ['timeframe', 'transport'],
  }),
  makeHistogramProvider({
    name: 'mds_store_duration_seconds',
    help: 'Duration of a store (validation, write, bookkeeping), by transport',
    labelNames: ['transport'],
    buckets: SECONDS,
  }),
  makeHistogramProvider({
    name: 'mds_query_duration_seconds',
    help: 'Duration of a read by shape (range, derived, latest) and cache result',
    labelNames: ['shape', 'cache'],
    buckets: SECONDS,
  }),
  makeGaugeProvider({
    name: 'mds_db_pool_connections',
    help: 'Database pool connections by state: total, idle, waiting (requests queued for one)',
    labelNames: ['state'],
  }),
  makeCounterProvider({
    name: 'mds_cache_operations_total',
    help: 'Cache lookups by result: hit, miss, error (timeout or unreachable, answered from the database)',
    labelNames: ['result'],
  }),
];

/** The one wrapper services use to record what they do; nothing else touches prom-client. */
@Injectable()
export class MetricsService {
  constructor(
    @InjectMetric('mds_http_request_duration_seconds') private readonly http: Histogram<string>,
    @InjectMetric('mds_points_stored_total') private readonly stored: Counter<string>,
    @InjectMetric('mds_points_failed_total') private readonly failed: Counter<string>,
    @InjectMetric('mds_store_duration_seconds') private readonly storeDuration: Histogram<string>,
    @InjectMetric('mds_query_duration_seconds') private readonly queryDuration: Histogram<string>,
    @InjectMetric('mds_cache_operations_total') private readonly cache: Counter<string>,
    @InjectMetric('mds_db_pool_connections') private readonly pool: Gauge<string>,
  ) {}

  /** Reads the pool's counts at every scrape. */
  watchDatabasePool(read: () => { total: number; idle: number; waiting: number }): void {
    const gauge = this.pool;
    // prom-client calls collect() on the gauge itself before each scrape.
    (gauge as unknown as { collect: () => void }).collect = () => {
      const counts = read();
      gauge.set({ state: 'total' }, counts.total);
      gauge.set({ state: 'idle' }, counts.idle);
      gauge.set({ state: 'waiting' }, counts.waiting);
    };
  }

  httpRequest(method: string, route: string, status: number, seconds: number): void {
    this.http.observe({ method, route, status: String(status) }, seconds);
  }

  storeCompleted(
    transport: Transport,
    timeframe: string,
    stored: number,
    failed: number,
    seconds: number,
  ): void {
    if (stored > 0) this.stored.inc({ timeframe, transport }, stored);
    if (failed > 0) this.failed.inc({ timeframe, transport }, failed);
    this.storeDuration.observe({ transport }, seconds);
  }

  queryCompleted(shape: QueryShape, cache: CacheResult, seconds: number): void {
    this.queryDuration.observe({ shape, cache }, seconds);
  }

  cacheOperation(result: Exclude<CacheResult, 'bypass'>): void {
    this.cache.inc({ result });
  }
}
