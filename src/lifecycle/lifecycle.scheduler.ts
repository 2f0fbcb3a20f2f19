import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { DatabaseUnavailableError, InvalidRequestError } from '../common/errors';
import { formatInstant } from '../common/time';
import { AdvisoryLock } from '../database/advisory-lock';
import { LifecycleTask } from './lifecycle-task';

/** What one task did in a run. */
export interface TaskReport {
  readonly name: string;
  /** done: it ran; skipped: another replica was running it; failed: it threw (see error). */
  readonly status: 'done' | 'skipped' | 'failed';
  readonly took_ms: number;
  readonly result?: Record<string, unknown>;
  readonly reason?: string;
}

export interface MaintenanceReport {
  readonly started_at: string;
  readonly finished_at: string;
  readonly tasks: TaskReport[];
}

interface Entry {
  readonly task: LifecycleTask;
  readonly intervalMs: number;
  timer?: NodeJS.Timeout;
  current?: Promise<TaskReport>;
}

/**
 * The one scheduler of the service's background work: runs the registered
 * lifecycle tasks, each on its own timer and all of them on demand
 * (POST /api/v1/storage/maintenance/run), in the service itself: the
 * embedded engine and plain PostgreSQL have no background job workers, and
 * on a TimescaleDB server it keeps one behaviour everywhere. A task runs
 * under its one advisory lock (one replica at a time; the others report it
 * skipped) and at most once at a time in this process: a second caller
 * joins the run in progress. LifecycleModule registers the tasks in order.
 */
@Injectable()
export class LifecycleScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Lifecycle');
  private readonly entries: Entry[] = [];
  private started = false;

  constructor(private readonly lock: AdvisoryLock) {}

  /** Adds a task; `intervalMs` 0 runs it only on demand (or where another timer drives it). */
  register(task: LifecycleTask, intervalMs: number): void {
    if (this.entries.some((e) => e.task.name === task.name)) {
      throw new Error(`lifecycle task "${task.name}" registered twice`);
    }
    const entry: Entry = { task, intervalMs };
    this.entries.push(entry);
    if (this.started) this.schedule(entry);
  }

  get taskNames(): string[] {
    return this.entries.map((e) => e.task.name);
  }

  onApplicationBootstrap(): void {
    this.started = true;
    this.entries.forEach((entry) => this.schedule(entry));
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.started = false;
    for (const entry of this.entries) clearInterval(entry.timer);
    for (const entry of this.entries) entry.task.stop?.();
    for (const entry of this.entries) await entry.current?.catch(() => undefined);
  }

  /**
   * Runs every task (or only `only`) now, in registration order, and reports
   * each; `dryRun`: only `only`, which must be able to, and nothing changes.
   */
  async runNow(now: Date = new Date(), only?: string, dryRun = false): Promise<MaintenanceReport> {
    if (only !== undefined && !this.taskNames.includes(only)) {
      throw new InvalidRequestError('task', `must be one of ${this.taskNames.join(', ')}`);
    }
    const dryRunnable = this.entries.filter((e) => e.task.canDryRun).map((e) => e.task.name);
    if (dryRun && (only === undefined || !dryRunnable.includes(only))) {
      throw new InvalidRequestError(
        'dry_run',
        `is for task=${dryRunnable.join(' or task=')} only` +
          (only === undefined ? ': name the task' : `; ${only} cannot dry-run`),
      );
    }
    const started = new Date();
    const tasks: TaskReport[] = [];
    for (const entry of this.entries) {
      if (only === undefined || entry.task.name === only) {
        // A dry run never joins (or stands in for) a real run in progress.
        tasks.push(
          dryRun
            ? await this.execute(entry.task, now, false, true)
            : await this.run(entry, now, false),
        );
      }
    }
    return {
      started_at: formatInstant(started.getTime()),
      finished_at: formatInstant(Date.now()),
      tasks,
    };
  }

  private schedule(entry: Entry): void {
    if (entry.intervalMs === 0) return;
    entry.timer = setInterval(() => void this.runOnSchedule(entry), entry.intervalMs);
    entry.timer.unref();
    this.logger.log(`${entry.task.name} every ${entry.intervalMs} ms`);
  }

  private async runOnSchedule(entry: Entry): Promise<void> {
    let report: TaskReport;
    try {
      report = await this.run(entry, new Date(), true);
    } catch (error) {
      this.logger.warn(`${entry.task.name} could not run: ${(error as Error).message}`);
      return;
    }
    if (report.status === 'failed') {
      this.logger.warn(`${entry.task.name} is retried in ${entry.intervalMs} ms`);
    } else if (report.status === 'done') {
      this.logger.log(`${entry.task.name}: ${JSON.stringify(report.result)}`);
    }
  }

  private run(entry: Entry, now: Date, scheduled: boolean): Promise<TaskReport> {
    entry.current ??= this.execute(entry.task, now, scheduled, false).finally(
      () => (entry.current = undefined),
    );
    return entry.current;
  }

  private async execute(
    task: LifecycleTask,
    now: Date,
    scheduled: boolean,
    dryRun: boolean,
  ): Promise<TaskReport> {
    const started = performance.now();
    const took = () => Math.round(performance.now() - started);
    try {
      const result = await this.lock.run(task.lockKey, (session) =>
        task.run({ now, session, scheduled, dryRun }),
      );
      if (result === undefined) {
        return {
          name: task.name,
          status: 'skipped',
          took_ms: took(),
          reason: 'another instance is running this task',
        };
      }
      return { name: task.name, status: 'done', took_ms: took(), result };
    } catch (error) {
      // Without the database nothing can run: the caller gets a 503, the timer tries again.
      if (error instanceof DatabaseUnavailableError) throw error;
      // Logged here, whoever asked: an on-demand run's failure is an operator's concern too.
      this.logger.warn(`${task.name} failed: ${(error as Error).message}`);
      return {
        name: task.name,
        status: 'failed',
        took_ms: took(),
        reason: (error as Error).message,
      };
    }
  }
}
