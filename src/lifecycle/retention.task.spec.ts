import { QueryCache } from '../cache/query-cache.service';
import { SeriesKey, TimeFrame } from '../common/market-data.types';
import { loadSettings } from '../settings/settings';
import { RetentionRepository } from '../repositories/retention.repository';
import { RetentionTask } from './retention.task';

const DAY = 86_400_000;
const NOW = new Date('2026-11-26T12:00:00Z');
const daysAgo = (days: number) => new Date(NOW.getTime() - days * DAY);
const at = { now: NOW, session: {} as never, scheduled: false };
const key = (instrumentId: string): SeriesKey => ({
  instrumentId,
  timeframe: TimeFrame.ONE_MINUTE,
});

function setUp(configured: { instrumentId: string; retentionDays: number }[], env = {}) {
  const repository = {
    findConfiguredRetentions: jest.fn(async () =>
      configured.map((c) => ({ series: key(c.instrumentId), retentionDays: c.retentionDays })),
    ),
    findInstrumentsBefore: jest.fn(async () => ['OLD']),
    dropWholeChunksBefore: jest.fn(async () => ['chunk_1']),
    deleteAllBefore: jest.fn(async () => [
      { instrumentId: 'OLD', timeframe: 'ONE_MINUTE', count: 2 },
    ]),
    deleteSeriesBefore: jest.fn(async (series: SeriesKey) => [
      { instrumentId: series.instrumentId, timeframe: series.timeframe, count: 5 },
    ]),
    deleteUnconfiguredBetween: jest.fn(async () => [
      { instrumentId: 'PLAIN', timeframe: 'ONE_MINUTE', count: 7 },
    ]),
  };
  const cache = { invalidateInstrument: jest.fn(async (_instrumentId: string) => undefined) };
  const task = new RetentionTask(
    repository as unknown as RetentionRepository,
    cache as unknown as QueryCache,
    loadSettings(env),
  );
  return { task, repository, cache };
}

describe('RetentionTask', () => {
  it('should drop whole chunks past the default and delete nothing row by row without configurations', async () => {
    const { task, repository, cache } = setUp([]);

    const result = await task.run(at);

    expect(repository.dropWholeChunksBefore).toHaveBeenCalledWith(daysAgo(730));
    expect(repository.deleteAllBefore).toHaveBeenCalledWith(daysAgo(730));
    expect(repository.deleteSeriesBefore).not.toHaveBeenCalled();
    expect(repository.deleteUnconfiguredBetween).not.toHaveBeenCalled();
    expect(cache.invalidateInstrument.mock.calls).toEqual([['OLD']]);
    expect(result).toEqual({
      default_retention_days: 730,
      max_retention_days: 3650,
      longest_retention_days: 730,
      dropped_before: '2024-11-26T12:00:00.000Z',
      dropped_chunks: ['chunk_1'],
      deleted_rows: 2,
      deleted_by_series: [{ instrument_id: 'OLD', timeframe: 'ONE_MINUTE', deleted_rows: 2 }],
    });
  });

  it('should keep whole chunks for the longest retention (capped) and delete the rest per series', async () => {
    const { task, repository, cache } = setUp([
      { instrumentId: 'SHORT', retentionDays: 30 },
      { instrumentId: 'HUGE', retentionDays: 20_000 },
      { instrumentId: 'LONG', retentionDays: 3000 },
    ]);

    const result = await task.run(at);

    // HUGE is capped at RETENTION_MAX_DAYS (3650), which is then the longest.
    expect(repository.dropWholeChunksBefore).toHaveBeenCalledWith(daysAgo(3650));
    expect(repository.deleteSeriesBefore.mock.calls).toEqual([
      [key('SHORT'), daysAgo(30)],
      [key('LONG'), daysAgo(3000)],
    ]);
    // Series without a configuration keep the default 730 days.
    expect(repository.deleteUnconfiguredBetween).toHaveBeenCalledWith(daysAgo(3650), daysAgo(730));
    expect(cache.invalidateInstrument.mock.calls.map(([id]) => id).sort()).toEqual([
      'LONG',
      'OLD',
      'PLAIN',
      'SHORT',
    ]);
    expect(result).toMatchObject({ longest_retention_days: 3650, deleted_rows: 2 + 5 + 5 + 7 });
  });

  it('should take the default and the maximum from the settings', async () => {
    const { task, repository } = setUp([{ instrumentId: 'X', retentionDays: 500 }], {
      RETENTION_DEFAULT_DAYS: '90',
      RETENTION_MAX_DAYS: '365',
    });

    await task.run(at);

    expect(repository.dropWholeChunksBefore).toHaveBeenCalledWith(daysAgo(365));
    expect(repository.deleteSeriesBefore).not.toHaveBeenCalled();
    expect(repository.deleteUnconfiguredBetween).toHaveBeenCalledWith(daysAgo(365), daysAgo(90));
  });
});
