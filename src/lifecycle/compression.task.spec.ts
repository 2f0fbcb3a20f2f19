import { Logger } from '@nestjs/common';
import { DatabaseUnavailableError } from '../common/errors';
import { CompressionLevel, TimeFrame } from '../common/market-data.types';
import { ROLLUP_LEVELS } from '../repositories/rollups.repository';
import { CompressionReport, CompressionTask, NO_COMPRESSION_REASON } from './compression.task';
import {
  CompressionRepository,
  CompressionSession,
  OpenChunk,
  OpenRollupChunk,
} from '../repositories/compression.repository';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NOW = Date.parse('2025-06-30T12:00:00Z');
const { NONE, LOW, MEDIUM, HIGH } = CompressionLevel;

/** A 1-day chunk that ended `ageMs` before NOW, holding series at `levels`. */
interface FakeChunk {
  readonly chunk: OpenChunk;
  readonly levels: readonly CompressionLevel[];
}

let chunkCounter = 0;
function chunkEnded(ageMs: number, levels: readonly CompressionLevel[]): FakeChunk {
  const rangeEndMs = NOW - ageMs;
  return {
    chunk: {
      name: `_timescaledb_internal._hyper_1_${++chunkCounter}_chunk`,
      rangeStartMs: rangeEndMs - DAY,
      rangeEndMs,
      partial: false,
    },
    levels,
  };
}

/** A chunk of the rollup of `timeframe` whose range ended `ageMs` before NOW. */
function rollupChunkEnded(timeframe: TimeFrame, ageMs: number): OpenRollupChunk {
  const rangeEndMs = NOW - ageMs;
  return {
    level: ROLLUP_LEVELS.find((l) => l.timeframe === timeframe)!,
    name: `_timescaledb_internal._hyper_5_${++chunkCounter}_chunk`,
    rangeStartMs: rangeEndMs - 7 * DAY,
    rangeEndMs,
    partial: false,
  };
}

/** A session over fake chunks: answers as the SQL would, records what it compressed. */
function fakeSession(chunks: readonly FakeChunk[], rollupChunks: readonly OpenRollupChunk[] = []) {
  const compressed: string[] = [];
  const asked: string[] = [];
  const session = {
    findOpenChunks: jest.fn(async () => chunks.map((c) => c.chunk)),
    findOpenRollupChunks: jest.fn(async () => [...rollupChunks]),
    holdsSeriesAt: jest.fn(async (chunk: OpenChunk, levels: readonly CompressionLevel[]) => {
      asked.push(chunk.name);
      const held = chunks.find((c) => c.chunk.name === chunk.name)!.levels;
      return held.some((level) => levels.includes(level));
    }),
    compress: jest.fn(async (chunk: OpenChunk) => {
      compressed.push(chunk.name);
    }),
  };
  return { session, compressed, asked };
}

type FakeSession = ReturnType<typeof fakeSession>['session'];

/** The lock's session the scheduler hands the task. */
const LOCKED = { query: jest.fn() } as never;

function repositoryMock(
  session: FakeSession | undefined,
  compressionAvailable = true,
): jest.Mocked<CompressionRepository> {
  return {
    compressionAvailable,
    sessionOn: jest.fn((sql: unknown) => {
      // The chunks are compressed on the session holding the task's lock.
      expect(sql).toBe(LOCKED);
      return session as unknown as CompressionSession;
    }),
  } as unknown as jest.Mocked<CompressionRepository>;
}

/** One run of `task` at `nowMs`, as the scheduler starts it. */
async function runAt(task: CompressionTask, nowMs: number): Promise<CompressionReport> {
  return (await task.run({
    now: new Date(nowMs),
    session: LOCKED,
    scheduled: false,
  })) as unknown as CompressionReport;
}

function namesOf(report: CompressionReport): string[] {
  return report.compressed_chunks.map((c) => c.chunk);
}

describe('CompressionTask', () => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  describe('run', () => {
    it('should compress a chunk only when every series in it allows it (the strictest wins)', async () => {
      const noneOnly = chunkEnded(365 * DAY, [NONE]);
      const highOnly = chunkEnded(3 * DAY, [HIGH]);
      const noneAndHigh = chunkEnded(3 * DAY, [NONE, HIGH]);
      const lowAndHigh = chunkEnded(3 * DAY, [LOW, HIGH]);
      const lowOld = chunkEnded(7 * DAY, [LOW, MEDIUM, HIGH]);
      const { session, compressed } = fakeSession([
        noneOnly,
        highOnly,
        noneAndHigh,
        lowAndHigh,
        lowOld,
      ]);
      const job = new CompressionTask(repositoryMock(session));

      const report = await runAt(job, NOW);

      expect(report).toEqual({
        ran: true,
        compressed_chunks: [
          {
            chunk: highOnly.chunk.name,
            range_start: '2025-06-26T12:00:00.000Z',
            range_end: '2025-06-27T12:00:00.000Z',
          },
          {
            chunk: lowOld.chunk.name,
            range_start: '2025-06-22T12:00:00.000Z',
            range_end: '2025-06-23T12:00:00.000Z',
          },
        ],
        skipped: 3,
        compressed_rollup_chunks: [],
        skipped_rollup_chunks: 0,
        failed_chunks: [],
      });
      expect(compressed).toEqual([highOnly.chunk.name, lowOld.chunk.name]);
    });

    it.each([
      [HIGH, HOUR - 1, false],
      [HIGH, HOUR, true],
      [MEDIUM, DAY - 1, false],
      [MEDIUM, DAY, true],
      [LOW, 7 * DAY - 1, false],
      [LOW, 7 * DAY, true],
      [NONE, 10 * 365 * DAY, false],
    ])('should decide a %s chunk that ended %d ms ago: compressed %s', async (level, age, due) => {
      const chunk = chunkEnded(age, [level]);
      const { session } = fakeSession([chunk]);
      const job = new CompressionTask(repositoryMock(session));

      const report = await runAt(job, NOW);

      expect(namesOf(report)).toEqual(due ? [chunk.chunk.name] : []);
      expect(report.skipped).toBe(due ? 0 : 1);
    });

    it('should keep a HIGH chunk uncompressed while an unconfigured (MEDIUM) series in it is under 24 hours', async () => {
      const young = chunkEnded(2 * HOUR, [HIGH, MEDIUM]);
      const { session } = fakeSession([young]);
      const job = new CompressionTask(repositoryMock(session));

      await expect(runAt(job, NOW)).resolves.toMatchObject({ compressed_chunks: [], skipped: 1 });
      await expect(runAt(job, NOW + DAY)).resolves.toMatchObject({
        compressed_chunks: [{ chunk: young.chunk.name }],
        skipped: 0,
      });
    });

    it('should not ask the database about a chunk younger than every level allows', async () => {
      const current = chunkEnded(-12 * HOUR, [HIGH]);
      const justEnded = chunkEnded(30 * MINUTE, [HIGH]);
      const { session, asked } = fakeSession([current, justEnded]);
      const job = new CompressionTask(repositoryMock(session));

      const report = await runAt(job, NOW);

      expect(report).toMatchObject({ ran: true, compressed_chunks: [], skipped: 2 });
      expect(asked).toEqual([]);
    });

    it('should compress an ended chunk without rows', async () => {
      const empty = chunkEnded(2 * HOUR, []);
      const { session } = fakeSession([empty]);
      const job = new CompressionTask(repositoryMock(session));

      await expect(runAt(job, NOW)).resolves.toMatchObject({
        compressed_chunks: [{ chunk: empty.chunk.name }],
      });
    });

    it('should do nothing on plain PostgreSQL and say so', async () => {
      const repository = repositoryMock(undefined, false);
      const job = new CompressionTask(repository);

      const report = await runAt(job, NOW);

      // Every field of the report, nothing done.
      expect(report).toEqual({
        ran: false,
        reason: NO_COMPRESSION_REASON,
        failed_chunks: [],
        compressed_chunks: [],
        compressed_rollup_chunks: [],
        skipped: 0,
        skipped_rollup_chunks: 0,
      });
      expect(repository.sessionOn).not.toHaveBeenCalled();
    });

    it('should go on with the other chunks when one fails to compress', async () => {
      const first = chunkEnded(3 * DAY, [MEDIUM]);
      const second = chunkEnded(2 * DAY, [MEDIUM]);
      const { session, compressed } = fakeSession([first, second]);
      session.compress.mockImplementationOnce(() => Promise.reject(new Error('deadlock detected')));
      const job = new CompressionTask(repositoryMock(session));

      const report = await runAt(job, NOW);

      expect(report).toMatchObject({
        ran: true,
        compressed_chunks: [{ chunk: second.chunk.name }],
        failed_chunks: [{ chunk: first.chunk.name, message: 'deadlock detected' }],
      });
      expect(compressed).toEqual([second.chunk.name]);
    });

    it('should stop the run when the database is unavailable', async () => {
      const { session } = fakeSession([chunkEnded(3 * DAY, [MEDIUM])]);
      session.compress.mockImplementationOnce(() =>
        Promise.reject(new DatabaseUnavailableError(new Error('ECONNRESET'))),
      );
      const job = new CompressionTask(repositoryMock(session));

      await expect(runAt(job, NOW)).rejects.toBeInstanceOf(DatabaseUnavailableError);
    });

    it('should leave the remaining chunks once shutdown begins', async () => {
      const first = chunkEnded(3 * DAY, [MEDIUM]);
      const second = chunkEnded(2 * DAY, [MEDIUM]);
      const { session, compressed } = fakeSession([first, second]);
      const job = new CompressionTask(repositoryMock(session));
      session.compress.mockImplementationOnce(async (chunk: OpenChunk) => {
        compressed.push(chunk.name);
        job.stop();
      });

      const report = await runAt(job, NOW);

      expect(report).toMatchObject({
        compressed_chunks: [{ chunk: first.chunk.name }],
        skipped: 1,
      });
      expect(compressed).toEqual([first.chunk.name]);
    });

    it('should compress the rollup chunks after the bars, once ended 24 hours and past the refresh window', async () => {
      const bars = chunkEnded(3 * DAY, [MEDIUM]);
      const fiveOld = rollupChunkEnded(TimeFrame.FIVE_MINUTES, DAY);
      const fiveYoung = rollupChunkEnded(TimeFrame.FIVE_MINUTES, DAY - 1);
      const hourOld = rollupChunkEnded(TimeFrame.ONE_HOUR, 2 * DAY);
      // NOW is 12:00: the daily refresh reaches 2025-06-29T00:00, 36 hours back.
      const dayInWindow = rollupChunkEnded(TimeFrame.ONE_DAY, 36 * HOUR - 1);
      const dayPast = rollupChunkEnded(TimeFrame.ONE_DAY, 36 * HOUR);
      const { session, compressed } = fakeSession(
        [bars],
        [fiveOld, fiveYoung, hourOld, dayInWindow, dayPast],
      );
      const job = new CompressionTask(repositoryMock(session));

      const report = await runAt(job, NOW);

      expect(report).toEqual({
        ran: true,
        compressed_chunks: [expect.objectContaining({ chunk: bars.chunk.name })],
        skipped: 0,
        compressed_rollup_chunks: [
          {
            timeframe: 'FIVE_MINUTES',
            view: 'market_data_5m',
            chunk: fiveOld.name,
            range_start: '2025-06-22T12:00:00.000Z',
            range_end: '2025-06-29T12:00:00.000Z',
          },
          expect.objectContaining({ timeframe: 'ONE_HOUR', chunk: hourOld.name }),
          expect.objectContaining({
            timeframe: 'ONE_DAY',
            view: 'market_data_1d',
            chunk: dayPast.name,
            range_end: '2025-06-29T00:00:00.000Z',
          }),
        ],
        skipped_rollup_chunks: 2,
        failed_chunks: [],
      });
      expect(compressed).toEqual([bars.chunk.name, fiveOld.name, hourOld.name, dayPast.name]);
    });

    it('should report a rollup chunk that failed to compress with its timeframe and go on', async () => {
      const first = rollupChunkEnded(TimeFrame.FIFTEEN_MINUTES, 3 * DAY);
      const second = rollupChunkEnded(TimeFrame.FIFTEEN_MINUTES, 2 * DAY);
      const { session } = fakeSession([], [first, second]);
      session.compress.mockImplementationOnce(() => Promise.reject(new Error('deadlock detected')));
      const job = new CompressionTask(repositoryMock(session));

      await expect(runAt(job, NOW)).resolves.toMatchObject({
        compressed_rollup_chunks: [{ chunk: second.name, timeframe: 'FIFTEEN_MINUTES' }],
        failed_chunks: [
          { chunk: first.name, message: 'deadlock detected', timeframe: 'FIFTEEN_MINUTES' },
        ],
      });
    });
  });
});
