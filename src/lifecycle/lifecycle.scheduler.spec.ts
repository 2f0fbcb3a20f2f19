import { Logger } from '@nestjs/common';
import { DatabaseUnavailableError, InvalidRequestError } from '../common/errors';
import type { AdvisoryLock } from '../database/advisory-lock';
import { ADVISORY_LOCKS } from '../database/advisory-locks';
import { LifecycleScheduler } from './lifecycle.scheduler';
import { LifecycleTask, TaskRun } from './lifecycle-task';

const SESSION = { query: jest.fn() };

/** A lock that is free (the work gets SESSION), or held by another replica. */
function lockThat(held: boolean): AdvisoryLock & { run: jest.Mock } {
  return {
    run: jest.fn((_key: number, work: (session: unknown) => Promise<unknown>) =>
      held ? Promise.resolve(undefined) : work(SESSION),
    ),
  } as unknown as AdvisoryLock & { run: jest.Mock };
}

function task(
  name: string,
  run: (now: Date, at: TaskRun) => Promise<Record<string, unknown>>,
  lockKey: LifecycleTask['lockKey'] = ADVISORY_LOCKS.retention,
): LifecycleTask & { run: jest.Mock } {
  return { name, lockKey, run: jest.fn((at: TaskRun) => run(at.now, at)) };
}

describe('LifecycleScheduler', () => {
  beforeAll(() => {
    Logger.overrideLogger(['error']);
  });
  const now = new Date('2026-11-26T12:00:00Z');

  it('should run every task in registration order and report what each did', async () => {
    const scheduler = new LifecycleScheduler(lockThat(false));
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
    const scheduler = new LifecycleScheduler(lockThat(false));
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

  it("should run each task under its own lock key, on the lock's session", async () => {
    const lock = lockThat(false);
    const scheduler = new LifecycleScheduler(lock);
    const a = task('a', async () => ({}), ADVISORY_LOCKS.compression);
    const b = task('b', async () => ({}), ADVISORY_LOCKS.rollupRefresh);
    scheduler.register(a, 0);
    scheduler.register(b, 0);

    await scheduler.runNow(now);

    expect(lock.run.mock.calls.map(([key]) => key as number)).toEqual([
      ADVISORY_LOCKS.compression,
      ADVISORY_LOCKS.rollupRefresh,
    ]);
    expect(a.run).toHaveBeenCalledWith({ now, session: SESSION, scheduled: false, dryRun: false });
  });

  it('should refuse an unknown task name naming the field', async () => {
    const scheduler = new LifecycleScheduler(lockThat(false));
    scheduler.register(
      task('a', async () => ({})),
      0,
    );

    await expect(scheduler.runNow(now, 'b')).rejects.toEqual(
      new InvalidRequestError('task', 'must be one of a'),
    );
  });

  it('should report a task another replica holds as skipped, and a failing one as failed', async () => {
    const held = new LifecycleScheduler(lockThat(true));
    held.register(
      task('a', async () => ({})),
      0,
    );
    const failing = new LifecycleScheduler(lockThat(false));
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
    const scheduler = new LifecycleScheduler(lockThat(false));
    scheduler.register(
      task('a', () => Promise.reject(new DatabaseUnavailableError())),
      0,
    );

    await expect(scheduler.runNow(now)).rejects.toBeInstanceOf(DatabaseUnavailableError);
  });

  it('should join a run in progress instead of starting a second one', async () => {
    const scheduler = new LifecycleScheduler(lockThat(false));
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
    const scheduler = new LifecycleScheduler(lockThat(false));
    scheduler.register(
      task('a', async () => ({})),
      0,
    );
    expect(() =>
      scheduler.register(
        task('a', async () => ({})),
        0,
      ),
    ).toThrow('lifecycle task "a" registered twice');
  });

  it('should run a task with an interval on its timer after bootstrap, and stop at shutdown', async () => {
    jest.useFakeTimers();
    try {
      const scheduler = new LifecycleScheduler(lockThat(false));
      const timed = task('timed', async () => ({}));
      const manual = task('manual', async () => ({}));
      scheduler.register(timed, 1000);
      scheduler.register(manual, 0);
      scheduler.onApplicationBootstrap();

      await jest.advanceTimersByTimeAsync(2500);
      expect(timed.run).toHaveBeenCalledTimes(2);
      expect(timed.run).toHaveBeenCalledWith(expect.objectContaining({ scheduled: true }));
      expect(manual.run).not.toHaveBeenCalled();

      const stop = jest.fn();
      Object.assign(timed, { stop });
      await scheduler.beforeApplicationShutdown();
      await jest.advanceTimersByTimeAsync(5000);
      expect(timed.run).toHaveBeenCalledTimes(2);
      expect(stop).toHaveBeenCalledTimes(1);
    } finally {
      jest.useRealTimers();
    }
  });
});
