import { Logger } from '@nestjs/common';
import { makeBars } from './support/bars';
import { request, startTestApp, TestApp } from './support/test-app';
import { capabilitiesOf, ENGINES } from './support/test-database';

/**
 * A full maintenance run (every task) on a fresh database while clients
 * store and read: every task reports `done`, nothing a writer was told is
 * stored goes missing, and derived answers stay exact. On a TimescaleDB
 * server the service is the only refresher (no TimescaleDB policy races it).
 */
const DAY = 86_400_000;
const INSTRUMENTS = ['LOAD.A', 'LOAD.B', 'LOAD.C', 'LOAD.D'];

describe.each(ENGINES)('a full maintenance run under load on %s', (engine) => {
  const { timescale } = capabilitiesOf(engine);
  let t: TestApp;
  /** Three whole UTC days ending 10 days ago: old enough to compress. */
  const firstDay = Math.floor((Date.now() - 13 * DAY) / DAY) * DAY;

  const store = (instrumentId: string, points: unknown[]) =>
    request(t.baseUrl, 'POST', '/api/v1/storage/store', {
      instrument_id: instrumentId,
      timeframe: 'ONE_MINUTE',
      data_points: points,
    });
  const count = async (instrumentId: string, timeframe = 'ONE_MINUTE') => {
    const res = await request<{ total_count: number; data_points: unknown[] }>(
      t.baseUrl,
      'GET',
      `/api/v1/storage/query?instrument_id=${instrumentId}&timeframe=${timeframe}` +
        `&start_time=${new Date(firstDay).toISOString()}&end_time=${new Date(firstDay + 5 * DAY).toISOString()}&limit=100000`,
    );
    return res.body;
  };

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    t = await startTestApp(engine, {
      MAINTENANCE_INTERVAL_MS: '0',
      COMPRESSION_JOB_INTERVAL_MS: '0',
      STATS_REFRESH_INTERVAL_MS: '0',
      LAYOUT_CHUNK_INTERVAL_HOURS: '24',
    });
    for (const [i, instrument] of INSTRUMENTS.entries()) {
      const bars = makeBars(new Date(firstDay).toISOString(), 3 * 1440, 60_000, i + 1);
      expect((await store(instrument, bars)).body.stored_count).toBe(bars.length);
    }
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  it('should report every task done while writers and readers run beside it', async () => {
    let stop = false;
    const acknowledged = new Map<string, number>();
    // Writers append a fourth day, 60 bars a request; readers ask for derived hours.
    const writers = INSTRUMENTS.map(async (instrument, i) => {
      const day = makeBars(new Date(firstDay + 3 * DAY).toISOString(), 1440, 60_000, 10 + i);
      for (let at = 0; at < day.length && !stop; at += 60) {
        const res = await store(instrument, day.slice(at, at + 60));
        expect(res.status).toBe(200);
        acknowledged.set(instrument, at + 60);
      }
    });
    const readers = [0, 1].map(async () => {
      while (!stop)
        expect((await count('LOAD.A', 'ONE_HOUR')).data_points.length).toBeGreaterThan(0);
    });
    // Let the load start before the run.
    while ((acknowledged.get('LOAD.D') ?? 0) < 120) await new Promise((r) => setTimeout(r, 20));

    const run = await request<{
      tasks: { name: string; status: string; reason?: string; result: Record<string, unknown> }[];
    }>(t.baseUrl, 'POST', '/api/v1/storage/maintenance/run');
    stop = true;
    await Promise.all([...writers, ...readers]);

    expect(run.status).toBe(200);
    expect(run.body.tasks.map((task) => [task.name, task.status, task.reason])).toEqual([
      ['compression', 'done', undefined],
      ['retention', 'done', undefined],
      ['partitions', 'done', undefined],
      ['rollup_refresh', 'done', undefined],
      ['tick_lifecycle', 'done', undefined],
      ['statistics', 'done', undefined],
    ]);
    const results = Object.fromEntries(run.body.tasks.map((task) => [task.name, task.result]));
    expect(results.rollup_refresh).toMatchObject({ ran: true });
    // The measurement runs last and sees the bars stored before the run.
    expect(results.statistics).toMatchObject({ measured: true });
    expect(results.statistics?.total_records).toBeGreaterThanOrEqual(INSTRUMENTS.length * 3 * 1440);
    if (timescale) {
      expect(results.compression).toMatchObject({ ran: true, failed_chunks: [] });
      expect((results.compression.compressed_chunks as unknown[]).length).toBeGreaterThan(0);
    }
    // Every acknowledged bar is there, and the derived hours add up to the minutes.
    for (const instrument of INSTRUMENTS) {
      const minutes = await count(instrument);
      expect(minutes.total_count).toBe(3 * 1440 + (acknowledged.get(instrument) ?? 0));
      const hours = (await count(instrument, 'ONE_HOUR')).data_points as { volume: number }[];
      const minuteVolume = (minutes.data_points as { volume: number }[]).reduce(
        (sum, p) => sum + Number(p.volume),
        0,
      );
      expect(hours.reduce((sum, p) => sum + Number(p.volume), 0)).toBe(minuteVolume);
    }
  });
});
