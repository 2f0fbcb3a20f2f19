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

function setUp(configured: { instrumentId: string; retentionDays: number | null }[], env = {}) {
  const repository = {
    findConfiguredRetentions: jest.fn(async () =>
      configured.map((c) => ({ series: key(c.instrumentId), retentionDays: c.retentionDays })),
    ),
    countAllBefore: jest.fn(async () => [
      { instrumentId: 'OLD', timeframe: 'ONE_MINUTE', count: 2 },
    ]),
    findWholeChunksBefore: jest.fn(async () => ['chunk_1']),
    dropWholeChunksBefore: jest.fn(async () => ['chunk_1']),
    deleteAllBefore: jest.fn(async () => [
      { instrumentId: 'OLD', timeframe: 'ONE_MINUTE', count: 1 },
    ]),
    deleteSeriesBefore: jest.fn(async (series: SeriesKey) => [
      { instrumentId: series.instrumentId, timeframe: series.timeframe, count: 5 },
    ]),
    countSeriesBetween: jest.fn(async (series: SeriesKey) => [
      { instrumentId: series.instrumentId, timeframe: series.timeframe, count: 5 },
    ]),
    deleteUnconfiguredBetween: jest.fn(async () => [
      { instrumentId: 'PLAIN', timeframe: 'ONE_MINUTE', count: 7 },
    ]),
    countUnconfiguredBetween: jest.fn(async () => [
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
    // The rows counted before the drop: what the chunks and the boundary delete took.
    expect(result).toEqual({
      dry_run: false,
      default_retention_days: 730,
      longest_retention_days: 730,
      dropped_before: '2024-11-26T12:00:00.000Z',
      dropped_chunks: ['chunk_1'],
      deleted_rows: 2,
      deleted_by_series: [
        {
          instrument_id: 'OLD',
          timeframe: 'ONE_MINUTE',
          retention_days: 730,
          deleted_before: '2024-11-26T12:00:00.000Z',
          deleted_rows: 2,
        },
      ],
    });
  });

  it('should keep whole chunks for the longest retention, uncapped, and delete the rest per series', async () => {
    const { task, repository, cache } = setUp([
      { instrumentId: 'SHORT', retentionDays: 30 },
      { instrumentId: 'HUGE', retentionDays: 20_000 },
      { instrumentId: 'LONG', retentionDays: 3000 },
    ]);

    const result = await task.run(at);

    // No cap: HUGE keeps its 20,000 days, the longest.
    expect(repository.dropWholeChunksBefore).toHaveBeenCalledWith(daysAgo(20_000));
    expect(repository.deleteSeriesBefore.mock.calls).toEqual([
      [key('SHORT'), daysAgo(30)],
      [key('LONG'), daysAgo(3000)],
    ]);
    // Series without a configuration keep the default 730 days.
    expect(repository.deleteUnconfiguredBetween).toHaveBeenCalledWith(
      daysAgo(20_000),
      daysAgo(730),
    );
    expect(cache.invalidateInstrument.mock.calls.map(([id]) => id).sort()).toEqual([
      'LONG',
      'OLD',
      'PLAIN',
      'SHORT',
    ]);
    expect(result).toMatchObject({ longest_retention_days: 20_000, deleted_rows: 2 + 5 + 5 + 7 });
  });

  it('should drop no whole chunk while a series keeps forever, and still delete the others by their own cutoffs', async () => {
    const { task, repository } = setUp([
      { instrumentId: 'FOREVER', retentionDays: null },
      { instrumentId: 'SHORT', retentionDays: 30 },
    ]);

    const result = await task.run(at);

    expect(repository.countAllBefore).not.toHaveBeenCalled();
    expect(repository.dropWholeChunksBefore).not.toHaveBeenCalled();
    expect(repository.deleteSeriesBefore.mock.calls).toEqual([[key('SHORT'), daysAgo(30)]]);
    expect(repository.deleteUnconfiguredBetween).toHaveBeenCalledWith(null, daysAgo(730));
    expect(result).toMatchObject({ longest_retention_days: null, dropped_before: null });
  });

  it('should keep everything with RETENTION_DEFAULT_DAYS=forever and no configuration', async () => {
    const { task, repository } = setUp([], { RETENTION_DEFAULT_DAYS: 'forever' });

    const result = await task.run(at);

    expect(repository.dropWholeChunksBefore).not.toHaveBeenCalled();
    expect(repository.deleteUnconfiguredBetween).not.toHaveBeenCalled();
    expect(result).toMatchObject({ default_retention_days: null, deleted_rows: 0 });
  });

  it('should count and list in a dry run and delete nothing', async () => {
    const { task, repository, cache } = setUp([{ instrumentId: 'SHORT', retentionDays: 30 }]);

    const result = await task.run({ ...at, dryRun: true });

    expect(repository.dropWholeChunksBefore).not.toHaveBeenCalled();
    expect(repository.deleteAllBefore).not.toHaveBeenCalled();
    expect(repository.deleteSeriesBefore).not.toHaveBeenCalled();
    expect(repository.findWholeChunksBefore).toHaveBeenCalledWith(daysAgo(730));
    expect(repository.countSeriesBetween).toHaveBeenCalledWith(
      key('SHORT'),
      daysAgo(730),
      daysAgo(30),
    );
    expect(cache.invalidateInstrument).not.toHaveBeenCalled();
    expect(result).toMatchObject({ dry_run: true, dropped_chunks: ['chunk_1'], deleted_rows: 7 });
  });

  it('should take the default from the settings', async () => {
    const { task, repository } = setUp([{ instrumentId: 'X', retentionDays: 500 }], {
      RETENTION_DEFAULT_DAYS: '90',
    });

    await task.run(at);

    expect(repository.dropWholeChunksBefore).toHaveBeenCalledWith(daysAgo(500));
    expect(repository.deleteSeriesBefore).not.toHaveBeenCalled();
    expect(repository.deleteUnconfiguredBetween).toHaveBeenCalledWith(daysAgo(500), daysAgo(90));
  });
});
