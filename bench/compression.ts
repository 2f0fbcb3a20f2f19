import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createApp } from '../src/app.factory';
import { CompressionReport } from '../src/lifecycle/compression.task';
import { COMPRESSED_CHUNKS_SQL } from '../src/repositories/compressed-chunks.sql';
import { DatabaseConnection } from '../src/database/database-connection';
import { DATABASE_CONNECTION } from '../src/database/database.tokens';
import { loadSettings } from '../src/settings/settings';
import { BarPoint, makeBars } from '../test/support/bars';
import { runAppTask } from '../test/support/lifecycle';
import {
  bySize,
  conditionsLine,
  printTable,
  readMachine,
  recordBudget,
  recordConditions,
} from './support';

/**
 * Compression ratio of TimescaleDB (the embedded engine: the only TimescaleDB
 * here) on realistic 1-minute bars, stored through the service's POST /store
 * and compressed by the service's own compression job, measured from
 * chunk_compression_stats the way the service reports it. Baseline of the
 * same run: gzip of the same rows as CSV.
 */
const INSTRUMENTS = 10;
const BATCH = 10_000;
const START = '2025-01-01T00:00:00Z';

/** What the bars carry: OHLCV alone (DESIGN 8's budget) or also dollar volume and trade count. */
type Variant = 'ohlcv' | 'full';

function csvOf(instrument: string, bars: readonly BarPoint[]): string {
  return bars
    .map(
      (b) =>
        `${b.timestamp},${instrument},ONE_MINUTE,${b.open},${b.high},${b.low},${b.close},${b.volume},${b.dollar_volume ?? ''},${b.trade_count ?? ''}\n`,
    )
    .join('');
}

interface Measured {
  readonly stored: number;
  readonly chunks: number;
  readonly allChunks: number;
  readonly before: number;
  readonly after: number;
  readonly csvBytes: number;
  readonly gzipBytes: number;
  readonly loadS: number;
  readonly compressS: number;
}

/** Stores `total` bars of the variant through POST /store in a fresh embedded engine, compresses, measures. */
async function measure(variant: Variant, total: number): Promise<Measured> {
  const perInstrument = Math.ceil(total / INSTRUMENTS);
  const dataDir = mkdtempSync(join(tmpdir(), 'mds-bench-compression-'));
  const app = await createApp(
    loadSettings({
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      STATS_REFRESH_INTERVAL_MS: '0',
      COMPRESSION_JOB_INTERVAL_MS: '0',
    }),
  );
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  try {
    let csvBytes = 0;
    let gzipBytes = 0;
    const loadStarted = performance.now();
    for (let i = 0; i < INSTRUMENTS; i++) {
      const instrument = `CMP${i}`;
      // Each instrument its own walk; the seeds differ, the walk starts at 100.
      const bars = makeBars(START, perInstrument, 60_000, 1 + i * 7919).map((b) =>
        variant === 'full' ? b : { ...b, dollar_volume: undefined, trade_count: undefined },
      );
      const csv = Buffer.from(csvOf(instrument, bars));
      csvBytes += csv.length;
      gzipBytes += gzipSync(csv).length;
      for (let at = 0; at < bars.length; at += BATCH) {
        const res = await fetch(`${base}/api/v1/storage/store`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            instrument_id: instrument,
            timeframe: 'ONE_MINUTE',
            data_points: bars.slice(at, at + BATCH),
          }),
        });
        const body = (await res.json()) as { stored_count: number };
        if (res.status !== 200 || body.stored_count !== Math.min(BATCH, bars.length - at))
          throw new Error(`store failed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
      }
    }
    const loadS = (performance.now() - loadStarted) / 1000;
    const compressStarted = performance.now();
    const report = (await runAppTask(app, 'compression')) as CompressionReport;
    const compressS = (performance.now() - compressStarted) / 1000;
    if (report.failed_chunks.length)
      throw new Error(`${report.failed_chunks.length} chunk(s) failed to compress`);
    const db = app.get<DatabaseConnection>(DATABASE_CONNECTION, { strict: false });
    const { rows } = await db.pool.query<{
      chunks: string;
      before: string;
      after: string;
      stored: string;
      all_chunks: string;
    }>(
      `WITH compressed AS (${COMPRESSED_CHUNKS_SQL})
       SELECT count(*) AS chunks, sum(before_bytes) AS before, sum(after_bytes) AS after,
              (SELECT count(*) FROM market_data_ts) AS stored,
              (SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'market_data_ts') AS all_chunks
         FROM compressed`,
    );
    const r = rows[0];
    return {
      stored: Number(r.stored),
      chunks: Number(r.chunks),
      allChunks: Number(r.all_chunks),
      before: Number(r.before),
      after: Number(r.after),
      csvBytes,
      gzipBytes,
      loadS,
      compressS,
    };
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function runCompressionBench(): Promise<void> {
  const machine = await readMachine();
  const total = bySize({ smoke: 20_000, small: 200_000, default: 1_000_000, large: 2_000_000 });
  const ohlcv = await measure('ohlcv', total);
  const full = await measure('full', total);
  const ratio = (m: Measured) => 1 - m.after / m.before;
  recordConditions({
    'compression rows': `${ohlcv.stored.toLocaleString('en')} ONE_MINUTE bars per variant, ${INSTRUMENTS} instruments (random walks, two-decimal prices, integer volumes uniform in 1,000-51,000; the full variant adds dollar volume = volume x close in cents and a trade count uniform in 1-500)`,
    'compression engine': 'embedded TimescaleDB (PGlite), layout as the migrations create it',
  });
  const MiB = 2 ** 20;
  const both = (f: (m: Measured) => string | number) => [f(ohlcv), f(full)];
  printTable(
    `Compression of ${ohlcv.stored.toLocaleString('en')} 1-minute bars in TimescaleDB (${conditionsLine(machine)})`,
    ['measure', 'OHLCV (open, high, low, close, volume)', 'OHLCV + dollar volume + trade count'],
    [
      ['chunks compressed / all chunks', ...both((m) => `${m.chunks} / ${m.allChunks}`)],
      [
        'rows per instrument per chunk (avg)',
        ...both((m) => Math.round(m.stored / m.allChunks / INSTRUMENTS)),
      ],
      [
        'before compression (chunk_compression_stats)',
        ...both((m) => `${(m.before / MiB).toFixed(1)} MiB`),
      ],
      ['after compression', ...both((m) => `${(m.after / MiB).toFixed(1)} MiB`)],
      ['bytes per bar after compression', ...both((m) => (m.after / m.stored).toFixed(1))],
      ['compression ratio (1 - after/before)', ...both((m) => `${(ratio(m) * 100).toFixed(1)} %`)],
      ['baseline: CSV of the same rows', ...both((m) => `${(m.csvBytes / MiB).toFixed(1)} MiB`)],
      [
        'baseline: gzip of that CSV (ratio)',
        ...both(
          (m) =>
            `${(m.gzipBytes / MiB).toFixed(1)} MiB (${((1 - m.gzipBytes / m.csvBytes) * 100).toFixed(1)} %)`,
        ),
      ],
      [
        'load through POST /store',
        ...both(
          (m) =>
            `${m.loadS.toFixed(1)} s (${Math.round(m.stored / m.loadS).toLocaleString('en')} rows/s)`,
        ),
      ],
      ['compression job run', ...both((m) => `${m.compressS.toFixed(1)} s`)],
    ],
  );
  recordBudget({
    name: `compression ratio, ${ohlcv.stored.toLocaleString('en')} 1-minute OHLCV bars, TimescaleDB`,
    target: '>= 90 %',
    measured: `${(ratio(ohlcv) * 100).toFixed(1)} %`,
    pass: ratio(ohlcv) >= 0.9,
  });
}
