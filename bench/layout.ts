import { Logger } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TimeFrame } from '../src/common/market-data.types';
import { DatabaseConnection } from '../src/database/database-connection';
import { BarsReader } from '../src/repositories/bars.reader';
import { applyHypertableLayout } from '../src/repositories/hypertable-layout';
import {
  BarRow,
  MarketDataRepository,
  SeriesBars,
} from '../src/repositories/market-data.repository';
import { loadSettings } from '../src/settings/settings';
import { makeBarRows } from '../test/support/bar-rows';
import { printTable } from './support';

/**
 * Chunk layouts of market_data_ts on the embedded TimescaleDB, one fresh
 * database per case: ingest rate through the repository's write path,
 * compression ratio of every chunk compressed (chunk_compression_stats), and
 * the latency of a 30-day query of one series (43,200 1-minute bars) and of
 * the newest bar, on the compressed data. Then the default layout at scale
 * (>= 1,000,000 bars). Sizes: BENCH_LAYOUT_INSTRUMENTS (10), BENCH_LAYOUT_DAYS
 * (30), BENCH_LAYOUT_SCALE_INSTRUMENTS (24, 0 skips), BENCH_LAYOUT_REPS (20),
 * BENCH_LAYOUT_CASES (labels separated by ';'; default all).
 */
const INSTRUMENTS = Number(process.env.BENCH_LAYOUT_INSTRUMENTS ?? 10);
const DAYS = Number(process.env.BENCH_LAYOUT_DAYS ?? 30);
const SCALE_INSTRUMENTS = Number(process.env.BENCH_LAYOUT_SCALE_INSTRUMENTS ?? 24);
const REPS = Number(process.env.BENCH_LAYOUT_REPS ?? 20);
const BATCH = 5_000;
const START = '2025-01-01T00:00:00Z';
const MINUTES = DAYS * 1440;

interface Case {
  readonly label: string;
  readonly chunkHours: number;
  readonly partitions: number;
}

const ALL_CASES: readonly Case[] = [
  { label: '1 hour', chunkHours: 1, partitions: 0 },
  { label: '1 hour, 16 space partitions', chunkHours: 1, partitions: 16 },
  { label: '1 day', chunkHours: 24, partitions: 0 },
  { label: '1 day, 16 space partitions', chunkHours: 24, partitions: 16 },
  { label: '7 days', chunkHours: 168, partitions: 0 },
  { label: '7 days, 16 space partitions', chunkHours: 168, partitions: 16 },
  { label: '30 days', chunkHours: 720, partitions: 0 },
];

/** BENCH_LAYOUT_CASES: labels separated by semicolons to measure ("none": only the default at scale). */
const CASES = ALL_CASES.filter((c) => {
  const wanted = process.env.BENCH_LAYOUT_CASES?.split(';').map((w) => w.trim());
  return !wanted || wanted.includes(c.label);
});

interface Figures {
  rows: number;
  chunks: number;
  rowsPerSecond: number;
  ratio: number;
  bytesPerRowAfter: number;
  rangeP50: number;
  rangeP95: number;
  latestP95: number;
}

/** Realistic bars: a random walk per instrument with 2-decimal prices and integer volumes. */
function seriesOf(instruments: number, ohlcvOnly: boolean): SeriesBars[] {
  return Array.from({ length: instruments }, (_, i) => ({
    series: { instrumentId: `BENCH${i}`, timeframe: TimeFrame.ONE_MINUTE },
    bars: makeBarRows(START, MINUTES, 60_000, i + 1).map((b): BarRow =>
      ohlcvOnly ? { ...b, dollarVolume: null, tradeCount: null, source: null } : b,
    ),
  }));
}

/** Batches of BATCH rows in time order across instruments, as a live feed delivers them. */
function* feed(all: SeriesBars[]): Generator<SeriesBars[]> {
  const perBatch = Math.max(1, Math.floor(BATCH / all.length));
  for (let at = 0; at < MINUTES; at += perBatch) {
    yield all.map(({ series, bars }) => ({ series, bars: bars.slice(at, at + perBatch) }));
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function measure(layout: Case, all: SeriesBars[]): Promise<Figures> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mds-layout-'));
  const connection = await DatabaseConnection.open(
    loadSettings({ LOG_LEVEL: 'error', DATA_DIR: dataDir }),
  );
  try {
    const { pool } = connection;
    await applyHypertableLayout(pool, {
      chunkIntervalHours: layout.chunkHours,
      spacePartitions: layout.partitions,
    });
    const repository = new MarketDataRepository(connection);
    const reader = new BarsReader(connection);
    const rows = all.reduce((n, s) => n + s.bars.length, 0);
    const started = performance.now();
    for (const batch of feed(all)) await repository.upsertSeriesBars(batch);
    const ingestMs = performance.now() - started;

    // One chunk per statement: thousands of chunks in one would run out of lock slots.
    const { rows: chunkNames } = await pool.query<{ c: string }>(
      `SELECT c::text AS c FROM show_chunks('market_data_ts') c`,
    );
    for (const { c } of chunkNames) {
      await pool.query(`SELECT compress_chunk($1::regclass, if_not_compressed => true)`, [c]);
    }
    const { rows: stats } = await pool.query<{ before: string; after: string; chunks: string }>(
      `SELECT sum(before_compression_total_bytes) AS before, sum(after_compression_total_bytes) AS after,
              count(*) AS chunks
         FROM chunk_compression_stats('market_data_ts')`,
    );
    const before = Number(stats[0].before);
    const after = Number(stats[0].after);

    const series = all[0].series;
    const range = { fromMs: Date.parse(START), toMs: Date.parse(START) + MINUTES * 60_000 };
    const fields = ['timestamp', 'open', 'high', 'low', 'close', 'volume'] as const;
    const page = { limit: MINUTES, offset: 0 };
    const rangeMs: number[] = [];
    const latestMs: number[] = [];
    for (let rep = -1; rep < REPS; rep++) {
      let t = performance.now();
      const answer = await reader.findRange(series, range, fields, page);
      if (answer.totalCount !== MINUTES) throw new Error(`30-day query found ${answer.totalCount}`);
      if (rep >= 0) rangeMs.push(performance.now() - t);
      t = performance.now();
      await reader.findLatest(series, fields);
      if (rep >= 0) latestMs.push(performance.now() - t);
    }
    return {
      rows,
      chunks: Number(stats[0].chunks),
      rowsPerSecond: Math.round(rows / (ingestMs / 1000)),
      ratio: 1 - after / before,
      bytesPerRowAfter: after / rows,
      rangeP50: percentile(rangeMs, 50),
      rangeP95: percentile(rangeMs, 95),
      latestP95: percentile(latestMs, 95),
    };
  } finally {
    await connection.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function row(label: string, f: Figures): (string | number)[] {
  return [
    label,
    f.rows.toLocaleString('en'),
    f.chunks,
    f.rowsPerSecond.toLocaleString('en'),
    `${(f.ratio * 100).toFixed(1)} %`,
    f.bytesPerRowAfter.toFixed(1),
    Math.round(f.rangeP50),
    Math.round(f.rangeP95),
    f.latestP95.toFixed(1),
  ];
}

const HEADER = [
  'layout',
  'bars',
  'chunks',
  'ingest rows/s',
  'compression',
  'B/bar compressed',
  '30-day query p50 ms',
  'p95 ms',
  'newest bar p95 ms',
];

export async function runLayoutBench(): Promise<void> {
  Logger.overrideLogger(['error']);
  const defaults = loadSettings({}).lifecycle;
  const all = seriesOf(INSTRUMENTS, true);
  const results: (string | number)[][] = [];
  for (const layout of CASES) {
    results.push(row(layout.label, await measure(layout, all)));
    // Each row as soon as it is measured: a long run can be read (or split) while it goes.
    console.log(`  measured ${results[results.length - 1].join(' | ')}`);
  }
  if (results.length)
    printTable(
      `Chunk layouts, embedded TimescaleDB, ${INSTRUMENTS} instruments x ${DAYS} days of 1-minute OHLCV bars (2-decimal random-walk prices, integer volumes), batches of ${BATCH}, ${REPS} queries each, one run`,
      HEADER,
      results,
    );
  if (SCALE_INSTRUMENTS === 0) return;
  const layout: Case = {
    label: `default: ${defaults.chunkIntervalHours} h chunks, ${defaults.spacePartitions} space partitions`,
    chunkHours: defaults.chunkIntervalHours,
    partitions: defaults.spacePartitions,
  };
  const scale: (string | number)[][] = [];
  for (const ohlcvOnly of [true, false]) {
    const f = await measure(layout, seriesOf(SCALE_INSTRUMENTS, ohlcvOnly));
    scale.push(
      row(
        `${layout.label}, ${ohlcvOnly ? 'OHLCV only' : 'with dollar_volume, trade_count, source'}`,
        f,
      ),
    );
  }
  printTable(
    `The default layout at scale: ${SCALE_INSTRUMENTS} instruments x ${DAYS} days, embedded TimescaleDB`,
    HEADER,
    scale,
  );
}
