import { TimeFrame } from '../common/market-data.types';
import { ROLLUP_LEVELS } from '../repositories/rollups.repository';
import {
  NativeRollupRefreshSession,
  RollupRefreshRepository,
  RollupRefreshSession,
} from '../repositories/rollup-refresh.repository';
import { refreshUntil, RollupRefreshTask } from './rollup-refresh.task';

/** The lock's session the scheduler hands the task. */
const LOCKED = { query: jest.fn() } as never;

function repositoryMock(
  timescale: boolean,
  session: RollupRefreshSession,
  native?: NativeRollupRefreshSession,
): RollupRefreshRepository {
  return {
    native: !timescale,
    nativeSessionOn: jest.fn((sql: unknown) => {
      expect(sql).toBe(LOCKED);
      return native;
    }),
    sessionOn: jest.fn((sql: unknown) => {
      // The refresh runs on the session holding the task's lock.
      expect(sql).toBe(LOCKED);
      return session;
    }),
  } as unknown as RollupRefreshRepository;
}

const at = (now: Date) => ({ now, session: LOCKED, scheduled: false });

function sessionMock(): jest.Mocked<RollupRefreshSession> {
  return {
    refresh: jest.fn().mockResolvedValue(undefined),
    pending: jest.fn().mockResolvedValue({ ranges: 2, fromMs: Date.parse('2025-06-01T00:00:00Z') }),
  } as unknown as jest.Mocked<RollupRefreshSession>;
}

describe('refreshUntil', () => {
  const level = (timeframe: TimeFrame) => ROLLUP_LEVELS.find((l) => l.timeframe === timeframe)!;

  it('should stop one whole bucket before the bucket in progress', () => {
    const now = Date.parse('2025-06-21T10:07:30Z');
    expect(new Date(refreshUntil(level(TimeFrame.FIVE_MINUTES), now)).toISOString()).toBe(
      '2025-06-21T10:00:00.000Z',
    );
    expect(new Date(refreshUntil(level(TimeFrame.ONE_HOUR), now)).toISOString()).toBe(
      '2025-06-21T09:00:00.000Z',
    );
    expect(new Date(refreshUntil(level(TimeFrame.ONE_DAY), now)).toISOString()).toBe(
      '2025-06-20T00:00:00.000Z',
    );
  });

  it('should keep a bucket that has just ended out of the window', () => {
    const now = Date.parse('2025-06-21T10:05:00Z');
    expect(new Date(refreshUntil(level(TimeFrame.FIVE_MINUTES), now)).toISOString()).toBe(
      '2025-06-21T10:00:00.000Z',
    );
  });
});

describe('RollupRefreshTask', () => {
  describe('run', () => {
    it('should refresh every level finest first and report each', async () => {
      const session = sessionMock();
      const task = new RollupRefreshTask(repositoryMock(true, session));

      const report = await task.run(at(new Date('2025-06-21T10:07:30Z')));

      const from = Date.parse('2025-06-01T00:00:00Z');
      expect(session.refresh.mock.calls.map(([l, ...window]) => [l.view, ...window])).toEqual([
        ['market_data_5m', from, Date.parse('2025-06-21T10:00:00Z')],
        ['market_data_15m', from, Date.parse('2025-06-21T09:45:00Z')],
        ['market_data_1h', from, Date.parse('2025-06-21T09:00:00Z')],
        ['market_data_1d', from, Date.parse('2025-06-20T00:00:00Z')],
      ]);
      expect(report).toEqual({
        ran: true,
        levels: ROLLUP_LEVELS.map((l): unknown =>
          expect.objectContaining({ view: l.view, timeframe: l.timeframe, pending_ranges: 2 }),
        ),
      });
      expect(task.name).toBe('rollup_refresh');
    });

    it('should not call a refresh for a level already up to date', async () => {
      const session = sessionMock();
      session.pending
        .mockResolvedValueOnce({ ranges: 0, fromMs: undefined })
        .mockResolvedValue({ ranges: 0, fromMs: null });
      const task = new RollupRefreshTask(repositoryMock(true, session));

      const report = (await task.run(at(new Date('2025-06-21T10:07:30Z')))) as {
        levels: Record<string, unknown>[];
      };

      expect(session.refresh.mock.calls.map(([l, from]) => [l.view, from])).toEqual([
        ['market_data_15m', null],
        ['market_data_1h', null],
        ['market_data_1d', null],
      ]);
      expect(report.levels[0]).not.toHaveProperty('refreshed_from');
      expect(report.levels[1]).toHaveProperty('refreshed_from', null);
    });

    it('should refresh plain PostgreSQL up to the daily level and report its watermark', async () => {
      const native = {
        refresh: jest.fn().mockResolvedValue({
          changedSpans: 3,
          windowFromMs: Date.parse('2025-06-19T00:00:00Z'),
          materializedUntilMs: Date.parse('2025-06-20T00:00:00Z'),
        }),
      } as unknown as jest.Mocked<NativeRollupRefreshSession>;
      const session = sessionMock();
      const task = new RollupRefreshTask(repositoryMock(false, session, native));

      const report = await task.run(at(new Date('2025-06-21T10:07:30Z')));

      // One whole day before the day in progress, as the daily aggregate's window.
      expect(native.refresh).toHaveBeenCalledWith(Date.parse('2025-06-20T00:00:00Z'));
      expect(session.refresh).not.toHaveBeenCalled();
      expect(report).toEqual({
        ran: true,
        table: 'market_data_rollups',
        changed_spans: 3,
        materialized_from: '2025-06-19T00:00:00.000Z',
        materialized_until: '2025-06-20T00:00:00.000Z',
        took_ms: expect.any(Number),
      });
    });

    it('should stop at a level that fails: the levels above are built from it', async () => {
      const session = sessionMock();
      session.refresh
        .mockResolvedValueOnce(undefined)
        .mockRejectedValueOnce(new Error('refresh failed'));
      const task = new RollupRefreshTask(repositoryMock(true, session));

      await expect(task.run(at(new Date()))).rejects.toThrow('refresh failed');
      expect(session.refresh).toHaveBeenCalledTimes(2);
    });
  });
});
