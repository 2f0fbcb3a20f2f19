import { Logger } from '@nestjs/common';
import { loadSettings } from '../settings/settings';
import { LifecycleModule } from './lifecycle.module';
import type { LifecycleScheduler } from './lifecycle.scheduler';

/** The tasks as the module sees them: a name, and whether the engine has the feature. */
function registered(env: Record<string, string>, timescale: boolean): [string, number][] {
  const calls: [string, number][] = [];
  const scheduler = {
    register: (task: { name: string }, intervalMs: number) => calls.push([task.name, intervalMs]),
  } as unknown as LifecycleScheduler;
  const task = (name: string) => ({ name, available: timescale }) as never;
  new LifecycleModule(
    scheduler,
    task('compression'),
    task('retention'),
    task('partitions'),
    task('rollup_refresh'),
    task('tick_lifecycle'),
    task('statistics'),
    loadSettings(env),
  ).onModuleInit();
  return calls;
}

describe('LifecycleModule', () => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  const env = {
    COMPRESSION_JOB_INTERVAL_MS: '60000',
    MAINTENANCE_INTERVAL_MS: '3600000',
    ROLLUP_REFRESH_INTERVAL_MS: '300000',
    STATS_REFRESH_INTERVAL_MS: '120000',
  };

  it('should register every task in run order, each on the interval its setting gives', () => {
    expect(registered(env, true)).toEqual([
      ['compression', 60_000],
      ['retention', 3_600_000],
      ['partitions', 3_600_000],
      ['rollup_refresh', 300_000],
      ['tick_lifecycle', 60_000],
      ['statistics', 120_000],
    ]);
  });

  it('should give compression alone no timer on plain PostgreSQL (its rollups are refreshed too)', () => {
    const offOnPostgres = new Set(['compression']);
    expect(registered(env, false)).toEqual(
      registered(env, true).map(([name, interval]) => [
        name,
        offOnPostgres.has(name) ? 0 : interval,
      ]),
    );
  });

  it('should leave a task whose interval is 0 to POST /maintenance/run', () => {
    const off = {
      COMPRESSION_JOB_INTERVAL_MS: '0',
      MAINTENANCE_INTERVAL_MS: '0',
      ROLLUP_REFRESH_INTERVAL_MS: '0',
      STATS_REFRESH_INTERVAL_MS: '0',
    };
    expect(registered(off, true).every(([, interval]) => interval === 0)).toBe(true);
  });

  it('should start with one warning that RETENTION_MAX_DAYS is ignored, and none without it', () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      registered(env, true);
      expect(warn).not.toHaveBeenCalled();

      registered({ ...env, RETENTION_MAX_DAYS: '3650' }, true);

      expect(warn.mock.calls).toEqual([
        [
          'RETENTION_MAX_DAYS is ignored: retention is no longer capped; a series keeps its ' +
            'configured retention_days (1..36500 or null: forever) or RETENTION_DEFAULT_DAYS',
        ],
      ]);
    } finally {
      warn.mockRestore();
    }
  });
});
