import { Logger } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SeriesKey, TimeFrame } from '../src/common/market-data.types';
import { DatabaseConnection } from '../src/database/database-connection';
import { BarsReader } from '../src/repositories/bars.reader';
import { BarRow, MarketDataRepository } from '../src/repositories/market-data.repository';
import { loadSettings } from '../src/settings/settings';
import { makeBarRows } from './support/bar-rows';

const WRITER = resolve(__dirname, 'support', 'embedded-writer.ts');
const PROJECT_ROOT = resolve(__dirname, '..');
const WRITER_START_ISO = '2025-03-03T00:00:00.000Z';
const ALL_TIME = { fromMs: 0, toMs: Date.parse('2100-01-01T00:00:00Z') };

function expectedPoints(rows: readonly BarRow[]) {
  return rows.map((r) => ({
    timestamp: new Date(r.timestampMs).toISOString(),
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
    volume: Number(r.volume),
    dollar_volume: r.dollarVolume,
    trade_count: r.tradeCount,
  }));
}

/** Opens the embedded engine on `dataDir`, runs `work`, closes it. */
async function withEngine<T>(
  dataDir: string,
  work: (repository: MarketDataRepository, connection: DatabaseConnection) => Promise<T>,
): Promise<T> {
  const connection = await DatabaseConnection.open(
    loadSettings({ LOG_LEVEL: 'error', DATA_DIR: dataDir }),
  );
  try {
    return await work(new MarketDataRepository(connection), connection);
  } finally {
    await connection.close();
  }
}

async function readAll(connection: DatabaseConnection, series: SeriesKey) {
  const page = await new BarsReader(connection).findRange(
    series,
    ALL_TIME,
    ['timestamp', 'open', 'high', 'low', 'close', 'volume', 'dollar_volume', 'trade_count'],
    { limit: 100_000, offset: 0 },
  );
  return { totalCount: page.totalCount, points: JSON.parse(page.pointsJson) as unknown[] };
}

/**
 * Runs the writer child on `dataDir` and resolves with it once it has printed
 * `committed <rows>` for at least `rows` rows (and the highest count printed so far).
 */
function startWriter(
  dataDir: string,
  args: { batchSize: number; batches: number; instrumentId: string; killAfterRows: number },
): Promise<{ child: ChildProcess; committed: () => number }> {
  const child = spawn(
    process.execPath,
    [
      '-r',
      'ts-node/register/transpile-only',
      WRITER,
      dataDir,
      String(args.batchSize),
      String(args.batches),
      args.instrumentId,
      WRITER_START_ISO,
    ],
    {
      cwd: PROJECT_ROOT,
      env: { ...process.env, NODE_OPTIONS: '', TZ: 'UTC' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let committed = 0;
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolvePromise, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const match = /^committed (\d+)$/.exec(line);
        if (match) committed = Number(match[1]);
      }
      if (committed >= args.killAfterRows) resolvePromise({ child, committed: () => committed });
    });
    child.on('exit', (code, signal) =>
      reject(new Error(`writer exited early (${code ?? signal}): ${stderr}`)),
    );
  });
}

function killHard(child: ChildProcess): Promise<NodeJS.Signals | null> {
  return new Promise((resolvePromise) => {
    child.removeAllListeners('exit');
    child.once('exit', (_code, signal) => resolvePromise(signal));
    child.kill('SIGKILL');
  });
}

describe('embedded engine durability', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];

  function freshDataDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'mds-durability-'));
    dirs.push(dir);
    return dir;
  }

  beforeAll(() => {
    Logger.overrideLogger(['error']);
  });

  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  describe('across a clean restart', () => {
    it('should keep every row after close and reopen of the same DATA_DIR', async () => {
      const dataDir = freshDataDir();
      const series = { instrumentId: 'DUR.CLEAN', timeframe: TimeFrame.ONE_MINUTE };
      const rows = makeBarRows('2025-03-03T00:00:00Z', 1_500, 60_000, 17);

      await withEngine(dataDir, async (repository) => {
        await repository.upsertBars(series, rows);
        await repository.deleteRange(series.instrumentId, undefined, {
          fromMs: rows[0].timestampMs,
          toMs: rows[100].timestampMs,
        });
      });
      const reopened = await withEngine(dataDir, (_repository, connection) =>
        readAll(connection, series),
      );

      expect(reopened.totalCount).toBe(1_400);
      expect(reopened.points).toEqual(expectedPoints(rows.slice(100)));
    });
  });

  describe('across kill -9', () => {
    it('should keep all committed rows of a writer killed while idle', async () => {
      const dataDir = freshDataDir();
      const instrumentId = 'DUR.KILL';
      const { child } = await startWriter(dataDir, {
        batchSize: 2_000,
        batches: 1,
        instrumentId,
        killAfterRows: 2_000,
      });
      children.push(child);

      const signal = await killHard(child);

      expect(signal).toBe('SIGKILL');
      const reopened = await withEngine(dataDir, (_repository, connection) =>
        readAll(connection, { instrumentId, timeframe: TimeFrame.ONE_MINUTE }),
      );
      expect(reopened.totalCount).toBe(2_000);
      expect(reopened.points).toEqual(expectedPoints(makeBarRows(WRITER_START_ISO, 2_000)));
    });

    it('should keep every committed batch, and no part of an uncommitted one, of a writer killed mid-stream', async () => {
      const dataDir = freshDataDir();
      const instrumentId = 'DUR.MIDWAY';
      const batchSize = 500;
      const { child, committed } = await startWriter(dataDir, {
        batchSize,
        batches: 200,
        instrumentId,
        killAfterRows: 3 * batchSize,
      });
      children.push(child);

      await killHard(child);
      const printed = committed();

      const reopened = await withEngine(dataDir, async (repository, connection) => {
        const page = await readAll(connection, { instrumentId, timeframe: TimeFrame.ONE_MINUTE });
        // The engine still takes writes after the crash.
        await repository.upsertBars(
          { instrumentId: 'DUR.AFTER', timeframe: TimeFrame.ONE_MINUTE },
          makeBarRows('2025-03-03T00:00:00Z', 3),
        );
        return page;
      });

      expect(printed).toBeGreaterThanOrEqual(3 * batchSize);
      // Committed batches are all there; at most the one being committed when killed is extra.
      expect(reopened.totalCount).toBeGreaterThanOrEqual(printed);
      expect(reopened.totalCount).toBeLessThanOrEqual(printed + batchSize);
      expect(reopened.totalCount % batchSize).toBe(0);
      expect(reopened.points).toEqual(
        expectedPoints(makeBarRows(WRITER_START_ISO, reopened.totalCount)),
      );
    });
  });
});
