import { Logger } from '@nestjs/common';
import cluster, { Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/**
 * EVENT_WORKERS: the service process starts `count` event workers (Node
 * cluster workers), each a copy of the service that only consumes the
 * JetStream durable consumer: no HTTP, no Redis events, no background jobs.
 * JetStream shares the messages between all of them and the service itself;
 * the later event for a bar wins whichever commits first (docs/scaling.md).
 * A worker that dies is started again; on SIGTERM each one drains as the
 * service does. `/metrics` shows every process, labelled `worker`.
 */

const WORKER_ROLE = 'MDS_EVENT_WORKER';
const METRICS_REQUEST = 'mds:metrics';
const METRICS_REPLY = 'mds:metrics:reply';
const WORKER_READY = 'mds:worker-ready';
const METRICS_TIMEOUT_MS = 2_000;
const RESTART_BASE_MS = 1_000;
const RESTART_MAX_MS = 30_000;

type ProcessMetrics = MetricObjectWithValues<MetricValue<string>>[];

interface MetricsReply {
  readonly type: typeof METRICS_REPLY;
  readonly id: string;
  readonly metrics: ProcessMetrics;
}

/** This process is an event worker started by the service. */
export function isEventWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_ROLE] === '1';
}

/** In an event worker: tells the service it consumes. */
export function reportWorkerReady(): void {
  process.send?.({ type: WORKER_READY });
}

/** In an event worker: answers the service's requests for this process's metrics. */
export function answerMetricsRequests(collect: () => Promise<ProcessMetrics>): void {
  process.on('message', (message: { type?: string; id?: string }) => {
    if (message?.type !== METRICS_REQUEST || !message.id) return;
    void collect().then(
      (metrics) => process.send?.({ type: METRICS_REPLY, id: message.id, metrics }),
      () => undefined,
    );
  });
}

export class EventWorkers {
  private readonly log = new Logger('EventWorkers');
  /** By slot (1..count): a restarted worker takes the slot of the one it replaces. */
  private readonly workers = new Map<number, Worker>();
  private readonly ready = new WeakSet<Worker>();
  private stopping = false;
  private restarts = 0;

  /** Starts `count` workers (none for 0). */
  static start(count: number): EventWorkers {
    const pool = new EventWorkers();
    for (let slot = 1; slot <= count; slot++) pool.fork(slot);
    if (count > 0) pool.log.log(`starting ${count} event worker(s)`);
    return pool;
  }

  /** Workers alive and consuming. */
  get running(): number {
    return [...this.workers.values()].filter((w) => !w.isDead() && this.ready.has(w)).length;
  }

  /** SIGTERM to every worker; resolves true when all of them exited 0. */
  async stop(): Promise<boolean> {
    this.stopping = true;
    const exits = [...this.workers.values()].map(
      (worker) =>
        new Promise<boolean>((done) => {
          if (worker.isDead()) return done(worker.process.exitCode === 0);
          worker.once('exit', (code) => done(code === 0));
          worker.process.kill('SIGTERM');
        }),
    );
    return (await Promise.all(exits)).every(Boolean);
  }

  /**
   * This process's metrics and every worker's that answers within
   * METRICS_TIMEOUT_MS, each series labelled `worker` (0: the service, then
   * the slot): a sum across processes would hide a restarted worker's
   * counter reset from rate().
   */
  async metrics(own: ProcessMetrics): Promise<ProcessMetrics[]> {
    const answers = [...this.workers.entries()]
      .filter(([, w]) => w.isConnected())
      .map(async ([slot, worker]) => labelled(await this.metricsOf(worker), slot));
    return [labelled(own, 0), ...(await Promise.all(answers))];
  }

  private metricsOf(worker: Worker): Promise<ProcessMetrics> {
    const id = randomUUID();
    return new Promise((done) => {
      const timer = setTimeout(() => finish([]), METRICS_TIMEOUT_MS);
      const onMessage = (message: MetricsReply) => {
        if (message?.type === METRICS_REPLY && message.id === id) finish(message.metrics);
      };
      const finish = (metrics: ProcessMetrics) => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        done(metrics);
      };
      worker.on('message', onMessage);
      try {
        worker.send({ type: METRICS_REQUEST, id });
      } catch {
        finish([]);
      }
    });
  }

  private fork(slot: number): void {
    const worker = cluster.fork({ [WORKER_ROLE]: '1' });
    this.workers.set(slot, worker);
    worker.on('message', (message: { type?: string }) => {
      if (message?.type === WORKER_READY) this.ready.add(worker);
    });
    worker.once('exit', (code, signal) => {
      if (this.stopping) return;
      // A crash loop (the database refusing every worker) backs off instead of spinning.
      const delay = Math.min(RESTART_BASE_MS * 2 ** this.restarts, RESTART_MAX_MS);
      this.restarts++;
      this.log.warn(
        `event worker ${worker.process.pid} exited (${signal ?? `code ${code}`}); starting another in ${delay} ms`,
      );
      setTimeout(() => {
        if (!this.stopping) this.fork(slot);
      }, delay).unref();
    });
    // A worker that kept running a while resets the back-off.
    setTimeout(() => {
      if (!worker.isDead()) this.restarts = 0;
    }, RESTART_MAX_MS).unref();
  }
}

function labelled(metrics: ProcessMetrics, worker: number): ProcessMetrics {
  const label = String(worker);
  return metrics.map((metric) => ({
    ...metric,
    // One series per process: nothing to combine, nothing to omit (process_start_time_seconds).
    aggregator: 'sum',
    values: metric.values.map((v) => ({ ...v, labels: { ...v.labels, worker: label } })),
  }));
}

let current: EventWorkers | undefined;

/** The workers this process started, for /metrics (undefined in a worker or with EVENT_WORKERS=1). */
export function eventWorkers(): EventWorkers | undefined {
  return current;
}

export function startEventWorkers(count: number): EventWorkers {
  current = EventWorkers.start(count);
  return current;
}
