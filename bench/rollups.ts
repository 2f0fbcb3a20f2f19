import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POINT_FIELDS, TimeFrame } from '../src/common/market-data.types';
import { DatabaseConnection } from '../src/database/database-connection';
import { BarsReader, PointsPage } from '../src/repositories/bars.reader';
import { MarketDataRepository } from '../src/repositories/market-data.repository';
import { RollupsRepository } from '../src/repositories/rollups.repository';
import { RollupRefreshRepository } from '../src/repositories/rollup-refresh.repository';
import { RollupRefreshTask } from '../src/lifecycle/rollup-refresh.task';
import { runTask } from '../test/support/lifecycle';
import { loadSettings } from '../src/settings/settings';
import { makeBarRows } from '../test/support/bar-rows';
import { machineLine, printTable } from './support';

/**
 * Derived timeframes over 30 days on the embedded TimescaleDB: p95 of the
 * same query (30 days of FIVE_MINUTES, 30 days of ONE_HOUR, every field,
 * the whole range in one page) computed from the raw 1-minute bars
 * (BarsReader.findDerivedRange) and read from the rollups
 * (RollupsRepository.findDerivedRange), in one run, one client, at the
 * repository (no HTTP, no cache). Also the rollups right after a late bar,
 * before the refresh, when the touched range is read from the raw bars.
 */
const INSTRUMENTS = Number(process.env.BENCH_ROLLUP_INSTRUMENTS ?? 20);
const DAYS = Number(process.env.BENCH_ROLLUP_DAYS ?? 30);
const REQUESTS = Number(process.env.BENCH_ROLLUP_REQUESTS ?? 30);
const START = '2025-05-01T00:00:00Z';
const DAY_MS = 86_400_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

type Read = (instrumentId: string) => Promise<PointsPage | undefined>;

async function timeReads(read: Read): Promise<{ p50: number; p95: number; bars: number }> {
  const times: number[] = [];
  let bars = 0;
  for (let i = 0; i < REQUESTS; i++) {
    const started = performance.now();
    const page = await read(`BENCH${i % INSTRUMENTS}`);
    times.push(performance.now() - started);
    if (!page) throw new Error('the rollups did not serve the query');
    bars = page.totalCount;
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p95: percentile(times, 95), bars };
}

export async function runRollupsBench(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mds-bench-rollups-'));
  const db = await DatabaseConnection.open(loadSettings({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' }));
  try {
    const marketData = new MarketDataRepository(db);
    const bars = new BarsReader(db);
    const rollups = new RollupsRepository(db);
    const refreshTask = new RollupRefreshTask(new RollupRefreshRepository(db));
    const task = { run: (at: Date) => runTask(db, refreshTask, at) };

    let started = performance.now();
    for (let day = 0; day < DAYS; day++) {
      const dayStart = new Date(Date.parse(START) + day * DAY_MS).toISOString();
      await marketData.upsertSeriesBars(
        Array.from({ length: INSTRUMENTS }, (_, i) => ({
          series: { instrumentId: `BENCH${i}`, timeframe: TimeFrame.ONE_MINUTE },
          bars: makeBarRows(dayStart, 1440, 60_000, 1 + i * 1000 + day),
        })),
      );
    }
    const rows = INSTRUMENTS * DAYS * 1440;
    const loadS = (performance.now() - started) / 1000;

    const now = new Date(Date.parse(START) + (DAYS + 1) * DAY_MS);
    started = performance.now();
    await task.run(now);
    const refreshS = (performance.now() - started) / 1000;

    const range = { fromMs: Date.parse(START), toMs: Date.parse(START) + DAYS * DAY_MS };
    const page = { limit: 100_000, offset: 0 };
    const raw = (target: TimeFrame) => (id: string) =>
      bars.findDerivedRange(id, TimeFrame.ONE_MINUTE, target, range, POINT_FIELDS, page);
    const fromRollups = (target: TimeFrame) => (id: string) =>
      rollups.findDerivedRange(id, target, range, POINT_FIELDS, page);

    const targets = [TimeFrame.FIVE_MINUTES, TimeFrame.ONE_HOUR];
    for (const target of targets) {
      // The accelerator must not change the answer.
      const [a, b] = [await raw(target)('BENCH0'), await fromRollups(target)('BENCH0')];
      if (a.pointsJson !== b?.pointsJson) throw new Error(`${target}: rollup answer differs`);
    }

    const results: (string | number)[][] = [];
    for (const target of targets) {
      const fromRaw = await timeReads(raw(target));
      const fromAgg = await timeReads(fromRollups(target));
      results.push(
        [
          target,
          'raw 1-minute bars',
          fromRaw.bars,
          fromRaw.p50.toFixed(1),
          fromRaw.p95.toFixed(1),
          '1.00',
        ],
        [
          target,
          'rollup (continuous aggregate)',
          fromAgg.bars,
          fromAgg.p50.toFixed(1),
          fromAgg.p95.toFixed(1),
          (fromAgg.p95 / fromRaw.p95).toFixed(2),
        ],
      );
    }
    // One late bar in the middle of the range: its hour (every instrument's) is read raw until the refresh.
    const late = makeBarRows(
      new Date(Date.parse(START) + 15 * DAY_MS + 37 * 60_000).toISOString(),
      1,
    );
    await marketData.upsertSeriesBars([
      { series: { instrumentId: 'BENCH1', timeframe: TimeFrame.ONE_MINUTE }, bars: late },
    ]);
    for (const target of targets) {
      const pending = await timeReads(fromRollups(target));
      results.push([
        target,
        'rollup, a late bar not yet refreshed',
        pending.bars,
        pending.p50.toFixed(1),
        pending.p95.toFixed(1),
        '',
      ]);
    }
    started = performance.now();
    const report = await task.run(now);
    const lateRefreshMs = performance.now() - started;

    printTable(
      `Derived timeframes, ${DAYS}-day range, from raw bars vs rollups (embedded TimescaleDB ${db.info.timescaleVersion}, one client, ${REQUESTS} requests per row, repository level, no cache)`,
      ['timeframe', 'computed from', 'bars per answer', 'p50 ms', 'p95 ms', 'p95 vs raw'],
      results,
    );
    printTable(
      'Conditions',
      ['item', 'value'],
      [
        ['rows', `${rows} ONE_MINUTE bars: ${INSTRUMENTS} instruments x ${DAYS} days`],
        ['load (array upserts)', `${loadS.toFixed(1)} s`],
        ['first refresh of the 4 rollups', `${refreshS.toFixed(1)} s`],
        [
          'refresh after the late bar',
          `${lateRefreshMs.toFixed(0)} ms (${JSON.stringify((report.levels as { pending_ranges: number }[]).map((l) => l.pending_ranges))} pending ranges per level)`,
        ],
        ['machine', machineLine(db.info.serverVersion)],
      ],
    );
  } finally {
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
