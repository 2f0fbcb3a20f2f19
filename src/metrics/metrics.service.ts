import { Injectable, OnModuleInit } from '@nestjs/common';
import {
  InjectMetric,
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
} from '@willsoto/nestjs-prometheus';
import { Counter, Gauge, Histogram, register } from 'prom-client';

/** Where a point arrived from. */
export type Transport = 'rest' | 'nats' | 'redis';
/** What a read was: a stored range, a range derived from a finer timeframe, or the newest point. */
export type QueryShape = 'range' | 'derived' | 'latest';
export type CacheResult = 'hit' | 'miss' | 'error' | 'bypass';

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Why an event went to the dead-letter subject. */
export type DeadLetterReason = 'invalid' | 'undeliverable' | 'storage_error';

/** The events module's metrics (DESIGN 5): intake, outcomes, batches, consumer lag. */
const EVENT_METRIC_PROVIDERS = [
  makeCounterProvider({
    name: 'mds_events_received_total',
    help: 'normalized_market_data events received, by transport',
    labelNames: ['transport'],
  }),
  makeCounterProvider({
    name: 'mds_events_redelivered_total',
    help: 'Events received again after a failed or unacknowledged delivery, by transport',
    labelNames: ['transport'],
  }),
  makeCounterProvider({
    name: 'mds_events_stored_total',
    help: 'Events whose bar was committed (and, on NATS, acknowledged), by transport',
    labelNames: ['transport'],
  }),
  makeCounterProvider({
    name: 'mds_events_dead_lettered_total',
    help: 'Events sent to the dead-letter subject, by transport and reason (invalid, undeliverable, storage_error)',
    labelNames: ['transport', 'reason'],
  }),
  makeCounterProvider({
    name: 'mds_events_retried_total',
    help: 'Events handed back for a later redelivery because the write failed (NATS nak with delay)',
    labelNames: ['transport'],
  }),
  makeCounterProvider({
    name: 'mds_events_dropped_total',
    help: 'Events lost because the write failed on an at-most-once transport (Redis)',
    labelNames: ['transport'],
  }),
  makeCounterProvider({
    name: 'mds_event_outputs_total',
    help: 'market_data_stored events published, by transport and result (ok, error)',
    labelNames: ['transport', 'result'],
  }),
  makeHistogramProvider({
    name: 'mds_event_batch_size',
    help: 'Events stored by one commit, by transport',
    labelNames: ['transport'],
    buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000, 50000],
  }),
  makeGaugeProvider({
    name: 'mds_event_consumer_pending',
    help: 'Messages in the JetStream stream not yet delivered to the durable consumer (its lag)',
  }),
];

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
    name: 'mds_db_reads_total',
    help: 'Reads of market data by where they ran (target: primary, replica) and why (no_replicas, caught_up, read_your_writes, replica_unavailable)',
    labelNames: ['target', 'reason'],
  }),
  makeCounterProvider({
    name: 'mds_cache_operations_total',
    help: 'Cache lookups by result: hit, miss, error (timeout or unreachable, answered from the database)',
    labelNames: ['result'],
  }),
  makeCounterProvider({
    name: 'mds_rate_limit_local_total',
    help: 'Rate-limit decisions this replica made alone because Redis (the shared counts) was unreachable or slow',
  }),
  ...EVENT_METRIC_PROVIDERS,
];

/**
 * prom-client's default metrics include three gauges named like counters,
 * which `promtool check metrics` rejects (non-counter metrics should not have
 * "_total" suffix). Each is only the sum of the per-type gauge of the same
 * name without `_total` (nodejs_active_handles{type} and so on), so dropping
 * them loses nothing (prometheus/client_js#283).
 */
export const MISNAMED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** The one wrapper services use to record what they do; nothing else touches prom-client. */
@Injectable()
export class MetricsService implements OnModuleInit {
  constructor(
    @InjectMetric('mds_http_request_duration_seconds') private readonly http: Histogram<string>,
    @InjectMetric('mds_points_stored_total') private readonly stored: Counter<string>,
    @InjectMetric('mds_points_failed_total') private readonly failed: Counter<string>,
    @InjectMetric('mds_store_duration_seconds') private readonly storeDuration: Histogram<string>,
    @InjectMetric('mds_query_duration_seconds') private readonly queryDuration: Histogram<string>,
    @InjectMetric('mds_cache_operations_total') private readonly cache: Counter<string>,
    @InjectMetric('mds_rate_limit_local_total') private readonly rateLimitLocal: Counter<string>,
    @InjectMetric('mds_db_pool_connections') private readonly pool: Gauge<string>,
    @InjectMetric('mds_db_reads_total') private readonly reads: Counter<string>,
    @InjectMetric('mds_events_received_total') private readonly eventsIn: Counter<string>,
    @InjectMetric('mds_events_redelivered_total') private readonly eventsAgain: Counter<string>,
    @InjectMetric('mds_events_stored_total') private readonly eventsStored: Counter<string>,
    @InjectMetric('mds_events_dead_lettered_total') private readonly eventsDead: Counter<string>,
    @InjectMetric('mds_events_retried_total') private readonly eventsRetried: Counter<string>,
    @InjectMetric('mds_events_dropped_total') private readonly eventsDropped: Counter<string>,
    @InjectMetric('mds_event_outputs_total') private readonly eventOutputs: Counter<string>,
    @InjectMetric('mds_event_batch_size') private readonly batchSize: Histogram<string>,
    @InjectMetric('mds_event_consumer_pending') private readonly consumerPending: Gauge<string>,
  ) {}

  /** After PrometheusModule registered the default metrics. */
  onModuleInit(): void {
    for (const name of MISNAMED_DEFAULT_METRICS) register.removeSingleMetric(name);
  }

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

  /** One read of market data ran on `target` (the primary or a read replica), for `reason`. */
  databaseRead(target: string, reason: string): void {
    this.reads.inc({ target, reason });
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

  /** A rate-limit decision taken without the shared counts (Redis down). */
  rateLimitCountedLocally(): void {
    this.rateLimitLocal.inc();
  }

  cacheOperation(result: Exclude<CacheResult, 'bypass'>): void {
    this.cache.inc({ result });
  }

  /** One event batch committed: its points by timeframe, its duration and size. */
  eventBatchStored(
    transport: Transport,
    size: number,
    storedByTimeframe: ReadonlyMap<string, number>,
    failedByTimeframe: ReadonlyMap<string, number>,
    seconds: number,
  ): void {
    for (const [timeframe, n] of storedByTimeframe) this.stored.inc({ timeframe, transport }, n);
    for (const [timeframe, n] of failedByTimeframe) this.failed.inc({ timeframe, transport }, n);
    this.storeDuration.observe({ transport }, seconds);
    this.batchSize.observe({ transport }, size);
  }

  eventsReceived(transport: Transport, count: number, redelivered: number): void {
    if (count > 0) this.eventsIn.inc({ transport }, count);
    if (redelivered > 0) this.eventsAgain.inc({ transport }, redelivered);
  }

  eventsSettled(
    transport: Transport,
    outcome: { stored?: number; retried?: number; dropped?: number },
  ): void {
    if (outcome.stored) this.eventsStored.inc({ transport }, outcome.stored);
    if (outcome.retried) this.eventsRetried.inc({ transport }, outcome.retried);
    if (outcome.dropped) this.eventsDropped.inc({ transport }, outcome.dropped);
  }

  eventDeadLettered(transport: Transport, reason: DeadLetterReason): void {
    this.eventsDead.inc({ transport, reason });
  }

  eventOutputsPublished(transport: Transport, ok: boolean, count: number): void {
    if (count > 0) this.eventOutputs.inc({ transport, result: ok ? 'ok' : 'error' }, count);
  }

  eventConsumerPending(pending: number): void {
    this.consumerPending.set(pending);
  }
}
