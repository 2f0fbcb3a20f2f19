import { tableFromIPC } from 'apache-arrow';
import { TimeFrame } from '../src/common/market-data.types';
import { DatabaseConnection } from '../src/database/database-connection';
import { MarketDataRepository } from '../src/repositories/market-data.repository';
import { loadSettings } from '../src/settings/settings';
import { makeBarRows } from '../test/support/bar-rows';
import { forkService } from './processes';
import { bySize, createBenchDatabase, machineLine, printTable, recordConditions } from './support';

/**
 * Issue 17 part 5: a year of 1-minute bars (525,600) for one instrument read
 * as one Arrow answer, one CSV answer and JSON pages of 100,000, uncached
 * (each round reads a window one minute later), interleaved; time to the
 * last byte loaded into rows, and the client's CPU for it.
 */
const BARS = bySize({ smoke: 20_000, small: 100_000, default: 525_600, large: 525_600 });
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PAGE = 100_000;
const START = '2025-01-01T00:00:00Z';

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

interface Timing {
  readonly ms: number;
  readonly cpuMs: number;
}

async function timed(rows: number, work: () => Promise<number>): Promise<Timing> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const got = await work();
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  if (got !== rows) throw new Error(`expected ${rows} rows, read ${got}`);
  return { ms, cpuMs: (used.user + used.system) / 1000 };
}

export async function runFormatsBench(): Promise<void> {
  const db = await createBenchDatabase();
  const env = { DATABASE_URL: db.url, LOG_LEVEL: 'warn', RETENTION_DEFAULT_DAYS: 'forever' };
  const connection = await DatabaseConnection.open(loadSettings(env));
  const repository = new MarketDataRepository(connection);
  const total = BARS + ROUNDS * 3;
  for (let from = 0; from < total; from += PAGE) {
    const start = new Date(Date.parse(START) + from * 60_000).toISOString();
    await repository.upsertBars(
      { instrumentId: 'FMT', timeframe: TimeFrame.ONE_MINUTE },
      makeBarRows(start, Math.min(PAGE, total - from), 60_000, 1 + from),
    );
  }
  const { rows } = await connection.pool.query<{ v: string }>(
    `SELECT current_setting('server_version') AS v`,
  );
  await connection.close();
  const server = await forkService({
    ...env,
    RATE_LIMIT_REQUESTS: '0',
    STATS_REFRESH_INTERVAL_MS: '0',
  });
  const url = (params: Record<string, string>) =>
    `${server.base}/api/v1/storage/query?${new URLSearchParams(params).toString()}`;
  const window = (shift: number) => {
    const start = Date.parse(START) + shift * 60_000;
    return {
      instrument_id: 'FMT',
      timeframe: 'ONE_MINUTE',
      start_time: new Date(start).toISOString(),
      end_time: new Date(start + BARS * 60_000).toISOString(),
    };
  };
  const fetched = async (target: string) => {
    const res = await fetch(target);
    if (res.status !== 200) throw new Error(`query answered ${res.status}: ${await res.text()}`);
    return res;
  };
  const reads: Record<string, (shift: number) => Promise<number>> = {
    arrow: async (shift) =>
      tableFromIPC(
        new Uint8Array(
          await (await fetched(url({ ...window(shift), format: 'arrow' }))).arrayBuffer(),
        ),
      ).numRows,
    csv: async (shift) => {
      const text = await (await fetched(url({ ...window(shift), format: 'csv' }))).text();
      // Split into cells, as a CSV loader would at least do.
      return text
        .trimEnd()
        .split('\r\n')
        .slice(1)
        .map((line) => line.split(',')).length;
    },
    json: async (shift) => {
      let count = 0;
      for (let offset = 0; offset < BARS; offset += PAGE) {
        const params = { ...window(shift), limit: String(PAGE), offset: String(offset) };
        const body = (await (await fetched(url(params))).json()) as { data_points: unknown[] };
        count += body.data_points.length;
      }
      return count;
    },
  };
  try {
    const timings: Record<string, Timing[]> = { arrow: [], csv: [], json: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, name] of Object.keys(reads).entries()) {
        const timing = await timed(BARS, () => reads[name](round * 3 + i + 1));
        timings[name].push(timing);
        console.log(
          `round ${round + 1} ${name}: ${Math.round(timing.ms)} ms, client CPU ${Math.round(timing.cpuMs)} ms`,
        );
      }
    }
    recordConditions({ bars: BARS, rounds: ROUNDS, json_page: PAGE });
    const jsonMs = median(timings.json.map((t) => t.ms));
    printTable(
      `${BARS.toLocaleString('en')} 1-minute bars of one instrument, uncached, ${ROUNDS} rounds interleaved (${machineLine(rows[0].v)})`,
      ['answer', 'median ms to rows', 'client CPU ms', 'x JSON pages'],
      [
        ['format=arrow, one request', 'arrow'],
        ['format=csv, one request', 'csv'],
        [`JSON, ${Math.ceil(BARS / PAGE)} pages of ${PAGE.toLocaleString('en')}`, 'json'],
      ].map(([label, name]) => {
        const ms = median(timings[name].map((t) => t.ms));
        return [
          label,
          Math.round(ms),
          Math.round(median(timings[name].map((t) => t.cpuMs))),
          (ms / jsonMs).toFixed(2),
        ];
      }),
    );
  } finally {
    await server.stop();
    await db.drop();
  }
}
