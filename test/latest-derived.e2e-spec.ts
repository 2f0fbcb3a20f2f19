import { runAppTask } from './support/lifecycle';
import { BarPoint, makeBars } from './support/bars';
import { ENGINES } from './support/test-database';
import { request, startTestApp, TestApp } from './support/test-app';

/**
 * GET /instruments/{id}/latest of a timeframe that is not stored: the
 * newest bucket derived from the finest finer one, the same bar /query
 * answers last over the same data, with derived_from; current right after
 * a write (the cache key's generation); 404 only when nothing finer is
 * stored either.
 */
const BASE = '/api/v1/storage';
const START = '2025-06-21T00:00:00.000Z';
/** 150 minutes: the 00:00 and 01:00 hours whole, the 02:00 hour half stored. */
const MINUTES = 150;

describe.each(ENGINES)('latest of a derived timeframe on %s', (engine) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(engine, {
      ROLLUP_REFRESH_INTERVAL_MS: '0',
      COMPRESSION_JOB_INTERVAL_MS: '0',
      STATS_REFRESH_INTERVAL_MS: '0',
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  async function store(instrumentId: string, timeframe: string, points: BarPoint[]) {
    const res = await request(t.baseUrl, 'POST', `${BASE}/store`, {
      instrument_id: instrumentId,
      timeframe,
      data_points: points,
    });
    expect(res.status).toBe(200);
    expect(res.body.failed_count).toBe(0);
  }

  function latest(instrumentId: string, timeframe: string, fields?: string) {
    const projection = fields === undefined ? '' : `&fields=${fields}`;
    return request(
      t.baseUrl,
      'GET',
      `${BASE}/instruments/${instrumentId}/latest?timeframe=${timeframe}${projection}`,
    );
  }

  /** /query over the whole stored day: its last bar and derived_from. */
  async function lastQueried(instrumentId: string, timeframe: string, fields?: string) {
    const projection = fields === undefined ? '' : `&fields=${fields}`;
    const res = await request(
      t.baseUrl,
      'GET',
      `${BASE}/query?instrument_id=${instrumentId}&timeframe=${timeframe}` +
        `&start_time=2025-06-20T00:00:00Z&end_time=2025-06-23T00:00:00Z${projection}`,
    );
    expect(res.status).toBe(200);
    const points = res.body.data_points as Record<string, unknown>[];
    return { point: points[points.length - 1], derivedFrom: res.body.derived_from as unknown };
  }

  it('should answer the newest ONE_HOUR bucket built from the minutes, equal to the last bar of /query', async () => {
    const minutes = makeBars(START, MINUTES, 60_000, 11);
    minutes[140].dollar_volume = null;
    await store('LTD.A', 'ONE_MINUTE', minutes);

    const res = await latest('LTD.A', 'ONE_HOUR');

    expect(res.status).toBe(200);
    const queried = await lastQueried('LTD.A', 'ONE_HOUR');
    expect(queried.derivedFrom).toBe('ONE_MINUTE');
    expect(res.body).toEqual({ ...queried.point, derived_from: 'ONE_MINUTE' });
    // The 02:00 hour so far: its 30 stored minutes.
    const hour = minutes.slice(120);
    expect(res.body).toEqual({
      timestamp: '2025-06-21T02:00:00.000Z',
      open: hour[0].open,
      high: Math.max(...hour.map((b) => b.high)),
      low: Math.min(...hour.map((b) => b.low)),
      close: hour[hour.length - 1].close,
      volume: hour.reduce((sum, b) => sum + Number(b.volume), 0),
      dollar_volume: null,
      trade_count: hour.reduce((sum, b) => sum + (b.trade_count ?? 0), 0),
      derived_from: 'ONE_MINUTE',
    });
  });

  it('should project the derived bar with fields as a stored one, keeping derived_from', async () => {
    const res = await latest('LTD.A', 'FIFTEEN_MINUTES', 'close,volume');

    expect(res.status).toBe(200);
    const queried = await lastQueried('LTD.A', 'FIFTEEN_MINUTES', 'close,volume');
    expect(res.body).toEqual({ ...queried.point, derived_from: 'ONE_MINUTE' });
    expect(Object.keys(res.body)).toEqual(['timestamp', 'close', 'volume', 'derived_from']);
    expect(res.body.timestamp).toBe('2025-06-21T02:15:00.000Z');
  });

  it('should show a newer minute at once, past the cached answer and the rollups', async () => {
    await runAppTask(t.app, 'rollup_refresh');
    const before = await latest('LTD.A', 'ONE_HOUR');
    expect((await latest('LTD.A', 'ONE_HOUR')).body).toEqual(before.body);
    const newer: BarPoint = {
      timestamp: '2025-06-21T02:30:00.000Z',
      open: 50,
      high: 500,
      low: 5,
      close: 77.77,
      volume: 1234,
      dollar_volume: null,
      trade_count: 3,
    };

    await store('LTD.A', 'ONE_MINUTE', [newer]);
    const after = await latest('LTD.A', 'ONE_HOUR');

    expect(after.status).toBe(200);
    expect(after.body).toEqual({
      ...before.body,
      high: 500,
      low: 5,
      close: 77.77,
      volume: before.body.volume + 1234,
      trade_count: before.body.trade_count + 3,
    });
    expect(after.body).toEqual({
      ...(await lastQueried('LTD.A', 'ONE_HOUR')).point,
      derived_from: 'ONE_MINUTE',
    });
  });

  it('should derive from the finest finer timeframe that is stored', async () => {
    const fives = makeBars(START, 30, 300_000, 12);
    await store('LTD.B', 'FIVE_MINUTES', fives);

    const res = await latest('LTD.B', 'ONE_HOUR');

    expect(res.status).toBe(200);
    const queried = await lastQueried('LTD.B', 'ONE_HOUR');
    expect(queried.derivedFrom).toBe('FIVE_MINUTES');
    expect(res.body).toEqual({ ...queried.point, derived_from: 'FIVE_MINUTES' });
    expect(res.body.timestamp).toBe('2025-06-21T02:00:00.000Z');
    expect(res.body.close).toBe(fives[29].close);
  });

  it('should answer the stored timeframe when it is stored, as /query does, deriving only the others', async () => {
    await store('LTD.C', 'ONE_MINUTE', makeBars(START, MINUTES, 60_000, 13));
    const hours = makeBars(START, 2, 3_600_000, 14);
    await store('LTD.C', 'ONE_HOUR', hours);

    const hour = await latest('LTD.C', 'ONE_HOUR');
    const quarter = await latest('LTD.C', 'FIFTEEN_MINUTES');

    expect(hour.status).toBe(200);
    expect(hour.body).toEqual(hours[1]);
    const queried = await lastQueried('LTD.C', 'ONE_HOUR');
    expect(queried.derivedFrom).toBeUndefined();
    expect(hour.body).toEqual(queried.point);
    expect(quarter.status).toBe(200);
    expect(quarter.body).toEqual({
      ...(await lastQueried('LTD.C', 'FIFTEEN_MINUTES')).point,
      derived_from: 'ONE_MINUTE',
    });
  });

  it('should answer 404 when neither the timeframe nor a finer one has data', async () => {
    await store('LTD.D', 'ONE_HOUR', makeBars(START, 2, 3_600_000, 15));

    const none = await latest('LTD.NONE', 'ONE_HOUR');
    const coarserOnly = await latest('LTD.D', 'FIFTEEN_MINUTES');

    expect(none.status).toBe(404);
    expect(none.body).toEqual({
      statusCode: 404,
      error: 'Not Found',
      message: 'No ONE_HOUR data stored for LTD.NONE, nor any finer timeframe to derive it from',
    });
    expect(coarserOnly.status).toBe(404);
  });
});
