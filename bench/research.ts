import { DatabaseConnection } from '../src/database/database-connection';
import { TimeFrame } from '../src/common/market-data.types';
import { MarketDataRepository } from '../src/repositories/market-data.repository';
import { loadSettings } from '../src/settings/settings';
import { makeBarRows } from '../test/support/bar-rows';
import { forkService } from './processes';
import { bySize, createBenchDatabase, machineLine, printTable, recordConditions } from './support';

/**
 * Reads for research (issue 17): a day of 1-minute bars for 500 instruments
 * as one `instrument_ids` request against 500 single requests (8 at a time,
 * as a research client would send them), uncached, interleaved, repeated;
 * the service in a process of its own on the local PostgreSQL.
 */
const INSTRUMENTS = bySize({ smoke: 20, small: 100, default: 500, large: 500 });
const MINUTES = 1_440;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENT_CONCURRENCY = 8;
const DAY = '2025-06-20T00:00:00Z';

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function timed(work: () => Promise<number>): Promise<{ ms: number; points: number }> {
  const started = performance.now();
  const points = await work();
  return { ms: performance.now() - started, points };
}

export async function runResearchBench(): Promise<void> {
  const db = await createBenchDatabase();
  const ids = Array.from({ length: INSTRUMENTS }, (_, i) => `RS${String(i).padStart(3, '0')}`);
  const connection = await DatabaseConnection.open(
    loadSettings({ DATABASE_URL: db.url, LOG_LEVEL: 'warn', RETENTION_DEFAULT_DAYS: 'forever' }),
  );
  // Two days: each round reads a different window of one day, so nothing is served from the cache.
  const repository = new MarketDataRepository(connection);
  for (const [i, id] of ids.entries()) {
    await repository.upsertBars(
      { instrumentId: id, timeframe: TimeFrame.ONE_MINUTE },
      makeBarRows(DAY, 2 * MINUTES, 60_000, i + 1),
    );
  }
  const { rows } = await connection.pool.query<{ v: string }>(
    `SELECT current_setting('server_version') AS v`,
  );
  await connection.close();
  const server = await forkService({
    DATABASE_URL: db.url,
    LOG_LEVEL: 'warn',
    RETENTION_DEFAULT_DAYS: 'forever',
    RATE_LIMIT_REQUESTS: '0',
    STATS_REFRESH_INTERVAL_MS: '0',
  });
  const get = async (params: Record<string, string>) => {
    const res = await fetch(
      `${server.base}/api/v1/storage/query?${new URLSearchParams(params).toString()}`,
    );
    if (res.status !== 200) throw new Error(`query answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as {
      data_points?: unknown[];
      instruments?: { data_points: unknown[] }[];
    };
  };
  const window = (round: number, kind: number) => {
    const start = Date.parse(DAY) + (round * 2 + kind) * 60_000;
    return {
      timeframe: 'ONE_MINUTE',
      start_time: new Date(start).toISOString(),
      end_time: new Date(start + MINUTES * 60_000).toISOString(),
      limit: String(MINUTES),
    };
  };
  try {
    const one: number[] = [];
    const many: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const single = await timed(async () => {
        let points = 0;
        let next = 0;
        await Promise.all(
          Array.from({ length: CLIENT_CONCURRENCY }, async () => {
            while (next < ids.length) {
              const id = ids[next++];
              // Awaited first: `points += await ...` would read points before the await.
              const answer = await get({ instrument_id: id, ...window(round, 0) });
              points += answer.data_points!.length;
            }
          }),
        );
        return points;
      });
      const combined = await timed(async () => {
        const body = await get({ instrument_ids: ids.join(','), ...window(round, 1) });
        return body.instruments!.reduce((n, a) => n + a.data_points.length, 0);
      });
      if (single.points !== ids.length * MINUTES || combined.points !== ids.length * MINUTES) {
        throw new Error(
          `expected ${ids.length * MINUTES} points, got ${single.points} / ${combined.points}`,
        );
      }
      one.push(single.ms);
      many.push(combined.ms);
      console.log(
        `round ${round}: ${ids.length} single requests ${Math.round(single.ms)} ms, one instrument_ids request ${Math.round(combined.ms)} ms`,
      );
    }
    recordConditions({ instruments: ids.length, bars_per_instrument: MINUTES, rounds: ROUNDS });
    printTable(
      `A day of 1-minute bars for ${ids.length} instruments (${(ids.length * MINUTES).toLocaleString('en')} bars), uncached, ${ROUNDS} rounds interleaved (${machineLine(rows[0].v)})`,
      ['read', 'median ms', 'rounds ms', 'x 500 single'],
      [
        [
          `${ids.length} single /query requests, ${CLIENT_CONCURRENCY} at a time`,
          Math.round(median(one)),
          one.map(Math.round).join(', '),
          '1.00',
        ],
        [
          `one /query?instrument_ids= request`,
          Math.round(median(many)),
          many.map(Math.round).join(', '),
          (median(many) / median(one)).toFixed(2),
        ],
      ],
    );
  } finally {
    await server.stop();
    await db.drop();
  }
}
