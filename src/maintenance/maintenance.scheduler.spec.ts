import { Logger } from '@nestjs/common';
import { DatabaseUnavailableError, InvalidRequestError } from '../common/errors';
import { MaintenanceLock } from './maintenance-lock';
import { MaintenanceScheduler } from './maintenance.scheduler';
import { MaintenanceTask } from './maintenance-task';

/** A lock that is free, or held by another replica. */
function lockThat(held: boolean): MaintenanceLock {
  return {
    withTaskLock: jest.fn((_name: string, work: () => Promise<unknown>) =>
      held ? Promise.resolve(undefined) : work(),
    ),
  } as unknown as MaintenanceLock;
}

function task(name: string, run: (now: Date) => Promise<Record<string, unknown>>): MaintenanceTask {
  return { name, run: jest.fn(run) };
}

describe('MaintenanceScheduler', () => {
  beforeAll(() => {
    Logger.overrideLogger(['error']);
  });
  const now = new Date('2026-11-26T12:00:00Z');

  it('should run every task in registration order and report what each did', async () => {
    const scheduler = new MaintenanceScheduler(lockThat(false));
    const order: string[] = [];
    scheduler.register(
      task('a', async () => (order.push('a'), { n: 1 })),
      0,
    );
    scheduler.register(
      task('b', async () => (order.push('b'), { n: 2 })),
      0,
    );

    const report = await scheduler.runNow(now);

    expect(order).toEqual(['a', 'b']);
    expect(report.tasks).toEqual([
      { name: 'a', status: 'done', took_ms: expect.any(Number), result: { n: 1 } },
      { name: 'b', status: 'done', took_ms: expect.any(Number), result: { n: 2 } },
    ]);
  });

  it('should pass `now` to the task and run only the one asked for', async () => {
    const scheduler = new MaintenanceScheduler(lockThat(false));
    const a = task('a', async () => ({}));
    const b = task('b', async (at) => ({ at: at.toISOString() }));
    scheduler.register(a, 0);
    scheduler.register(b, 0);

    const report = await scheduler.runNow(now, 'b');

    expect(a.run).not.toHaveBeenCalled();
    expect(report.tasks).toEqual([
      expect.objectContaining({ name: 'b', result: { at: '2026-11-26T12:00:00.000Z' } }),
    ]);
  });

  it('should refuse an unknown task name naming the field', async () => {
    const scheduler = new MaintenanceScheduler(lockThat(false));
    scheduler.register(
      task('a', async () => ({})),
      0,
    );

    await expect(scheduler.runNow(now, 'b')).rejects.toEqual(
      new InvalidRequestError('task', 'must be one of a'),
    );
  });

  it('should report a task another replica holds as skipped, and a failing one as failed', async () => {
    const held = new MaintenanceScheduler(lockThat(true));
    held.register(
      task('a', async () => ({})),
      0,
    );
    const failing = new MaintenanceScheduler(lockThat(false));
    failing.register(
      task('a', () => Promise.reject(new Error('disk full'))),
      0,
    );
    failing.register(
      task('b', async () => ({ ok: true })),
      0,
    );

    expect((await held.runNow(now)).tasks).toEqual([
      expect.objectContaining({
        status: 'skipped',
        reason: 'another instance is running this task',
      }),
    ]);
    expect((await failing.runNow(now)).tasks).toEqual([
      expect.objectContaining({ name: 'a', status: 'failed', reason: 'disk full' }),
      expect.objectContaining({ name: 'b', status: 'done', result: { ok: true } }),
    ]);
  });

  it('should let an unavailable database fail the whole run', async () => {
    const scheduler = new MaintenanceScheduler(lockThat(false));
    scheduler.register(
      task('a', () => Promise.reject(new DatabaseUnavailableError())),
      0,
    );

    await expect(scheduler.runNow(now)).rejects.toBeInstanceOf(DatabaseUnavailableError);
  });

  it('should join a run in progress instead of starting a second one', async () => {
    const scheduler = new MaintenanceScheduler(lockThat(false));
    let finish!: (value: Record<string, unknown>) => void;
    const slow = task('slow', () => new Promise((resolve) => (finish = resolve)));
    scheduler.register(slow, 0);

    const first = scheduler.runNow(now);
    const second = scheduler.runNow(now);
    await Promise.resolve();
    finish({ done: 1 });

    const [a, b] = await Promise.all([first, second]);
    expect(slow.run).toHaveBeenCalledTimes(1);
    expect(a.tasks).toEqual(b.tasks);
  });

  it('should refuse a name registered twice', () => {
    const scheduler = new MaintenanceScheduler(lockThat(false));
    scheduler.register(
      task('a', async () => ({})),
      0,
    );
    expect(() =>
      scheduler.register(
        task('a', async () => ({})),
        0,
      ),
    ).toThrow('maintenance task "a" registered twice');
  });

  it('should run a task with an interval on its timer after bootstrap, and stop at shutdown', async () => {
    jest.useFakeTimers();
    try {
      const scheduler = new MaintenanceScheduler(lockThat(false));
      const timed = task('timed', async () => ({}));
      const manual = task('manual', async () => ({}));
      scheduler.register(timed, 1000);
      scheduler.register(manual, 0);
      scheduler.onApplicationBootstrap();

      await jest.advanceTimersByTimeAsync(2500);
      expect(timed.run).toHaveBeenCalledTimes(2);
      expect(manual.run).not.toHaveBeenCalled();

      await scheduler.beforeApplicationShutdown();
      await jest.advanceTimersByTimeAsync(5000);
      expect(timed.run).toHaveBeenCalledTimes(2);
    } finally {
      jest.useRealTimers();
    }
  });
});
