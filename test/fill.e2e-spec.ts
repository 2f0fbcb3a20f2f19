import { runAppTask } from './support/lifecycle';
import { ENGINES } from './support/test-database';
import { request, startTestApp, TestApp } from './support/test-app';

/**
 * GET /query with fill=none|null|prev (docs/research-reads.md): every bucket
 * of the timeframe in [start_time, end_time), a missing one null or a flat
 * candle at the previous close (the last bar before the range for the
 * leading buckets), for a stored timeframe and derived ones, against
 * expectations written out by hand.
 */
const BASE = '/api/v1/storage';
const DAY = '2025-06-21T';

type Point = Record<string, unknown>;

/** A bar as answered (and as stored: the same keys). */
function bar(
  time: string,
  open: number,
  high: number,
  low: number,
  close: number,
  volume: number,
  dollarVolume: number,
  tradeCount: number,
): Point {
  return {
    timestamp: `${DAY}${time}:00.000Z`,
    open,
    high,
    low,
    close,
    volume,
    dollar_volume: dollarVolume,
    trade_count: tradeCount,
  };
}

/** fill=prev's bucket without a bar: flat at `close`, nothing traded. */
function flat(time: string, close: number): Point {
  return { ...bar(time, close, close, close, close, 0, 0, 0), filled: true };
}

/** fill=null's bucket without a bar (and fill=prev's before any close). */
function empty(time: string): Point {
  return {
    timestamp: `${DAY}${time}:00.000Z`,
    open: null,
    high: null,
    low: null,
    close: null,
    volume: null,
    dollar_volume: null,
    trade_count: null,
    filled: true,
  };
}

/** FILL.A's minutes: one before 10:00, gaps inside every range asked for below. */
const MINUTES_A = {
  m0958: bar('09:58', 100, 101, 99.5, 100.5, 10, 1005, 2),
  m1002: bar('10:02', 101, 102, 100.5, 101.5, 20, 2030, 3),
  m1003: bar('10:03', 101.5, 103, 101, 102, 30, 3060, 4),
  m1007: bar('10:07', 102, 102.5, 101.25, 101.75, 40, 4070, 5),
  m1022: bar('10:22', 103, 104, 102.5, 103.5, 50, 5175, 6),
  m1023: bar('10:23', 103.5, 105, 103, 104.25, 60, 6255, 7),
  m1131: bar('11:31', 99, 99.5, 98, 98.75, 70, 6912.5, 8),
};
const A = MINUTES_A;

/** The ONE_HOUR buckets of FILL.A, summed by hand. */
const HOUR_09 = bar('09:00', 100, 101, 99.5, 100.5, 10, 1005, 2);
const HOUR_10 = bar('10:00', 101, 105, 100.5, 104.25, 200, 20590, 25);
const HOUR_11 = bar('11:00', 99, 99.5, 98, 98.75, 70, 6912.5, 8);

describe.each(ENGINES)('gap-filled candles on %s', (engine) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(engine, {
      ROLLUP_REFRESH_INTERVAL_MS: '0',
      COMPRESSION_JOB_INTERVAL_MS: '0',
      STATS_REFRESH_INTERVAL_MS: '0',
    });
    await store('FILL.A', 'ONE_MINUTE', Object.values(MINUTES_A));
    await store('FILL.B', 'ONE_MINUTE', [
      bar('10:02', 50, 51, 49, 50.5, 5, 252.5, 1),
      bar('10:05', 50.5, 52, 50, 51, 6, 306, 2),
    ]);
    await store('FILL.C', 'FIVE_MINUTES', [
      bar('10:05', 10, 11, 9, 10.5, 100, 1050, 10),
      bar('10:20', 10.5, 12, 10, 11.5, 200, 2300, 20),
    ]);
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  async function store(instrumentId: string, timeframe: string, points: Point[]) {
    const res = await request(t.baseUrl, 'POST', `${BASE}/store`, {
      instrument_id: instrumentId,
      timeframe,
      data_points: points,
    });
    expect(res.status).toBe(200);
    expect(res.body.failed_count).toBe(0);
  }

  function query(
    instrumentId: string,
    timeframe: string,
    from: string,
    to: string,
    extra: Record<string, string | number> = {},
  ) {
    const params = new URLSearchParams({
      instrument_id: instrumentId,
      timeframe,
      start_time: `${DAY}${from}:00Z`,
      end_time: `${DAY}${to}:00Z`,
      ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, String(v)])),
    });
    return request(t.baseUrl, 'GET', `${BASE}/query?${params.toString()}`);
  }

  describe('a stored timeframe (ONE_MINUTE)', () => {
    it('should answer only the stored bars with fill=none, as without fill', async () => {
      const none = await query('FILL.A', 'ONE_MINUTE', '10:00', '10:10', { fill: 'none' });
      const without = await query('FILL.A', 'ONE_MINUTE', '10:00', '10:10');

      expect(none.status).toBe(200);
      expect(none.body.data_points).toEqual([A.m1002, A.m1003, A.m1007]);
      expect(none.body.total_count).toBe(3);
      expect(without.body.data_points).toEqual(none.body.data_points);
    });

    it('should answer every minute with fill=prev, the leading ones at the close of the bar before the range', async () => {
      const res = await query('FILL.A', 'ONE_MINUTE', '10:00', '10:10', { fill: 'prev' });

      expect(res.status).toBe(200);
      expect(res.body.derived_from).toBeUndefined();
      expect(res.body.total_count).toBe(10);
      expect(res.body.data_points).toEqual([
        flat('10:00', 100.5),
        flat('10:01', 100.5),
        A.m1002,
        A.m1003,
        flat('10:04', 102),
        flat('10:05', 102),
        flat('10:06', 102),
        A.m1007,
        flat('10:08', 101.75),
        flat('10:09', 101.75),
      ]);
    });

    it('should answer every minute with fill=null, the missing ones null and flagged', async () => {
      const res = await query('FILL.A', 'ONE_MINUTE', '10:00', '10:10', { fill: 'null' });

      expect(res.status).toBe(200);
      expect(res.body.total_count).toBe(10);
      expect(res.body.data_points).toEqual([
        empty('10:00'),
        empty('10:01'),
        A.m1002,
        A.m1003,
        empty('10:04'),
        empty('10:05'),
        empty('10:06'),
        A.m1007,
        empty('10:08'),
        empty('10:09'),
      ]);
    });

    it('should leave the leading buckets null under fill=prev when no bar precedes the range', async () => {
      const res = await query('FILL.B', 'ONE_MINUTE', '10:00', '10:07', { fill: 'prev' });

      expect(res.status).toBe(200);
      expect(res.body.total_count).toBe(7);
      expect(res.body.data_points).toEqual([
        empty('10:00'),
        empty('10:01'),
        bar('10:02', 50, 51, 49, 50.5, 5, 252.5, 1),
        flat('10:03', 50.5),
        flat('10:04', 50.5),
        bar('10:05', 50.5, 52, 50, 51, 6, 306, 2),
        flat('10:06', 51),
      ]);
    });

    it('should page the filled buckets by offset, a page carrying the close from before it', async () => {
      const res = await query('FILL.A', 'ONE_MINUTE', '10:00', '10:10', {
        fill: 'prev',
        limit: 3,
        offset: 4,
      });

      expect(res.status).toBe(200);
      expect(res.body.total_count).toBe(10);
      expect(res.body.data_points).toEqual([
        flat('10:04', 102),
        flat('10:05', 102),
        flat('10:06', 102),
      ]);
    });

    it('should project the filled points with fields, the flag kept', async () => {
      const res = await query('FILL.A', 'ONE_MINUTE', '10:03', '10:05', {
        fill: 'prev',
        fields: 'close,volume',
      });

      expect(res.status).toBe(200);
      expect(res.body.data_points).toEqual([
        { timestamp: `${DAY}10:03:00.000Z`, close: 102, volume: 30 },
        { timestamp: `${DAY}10:04:00.000Z`, close: 102, volume: 0, filled: true },
      ]);
    });

    it('should fill a range without any bar at the close of the last bar before it', async () => {
      const res = await query('FILL.A', 'ONE_MINUTE', '12:00', '12:03', { fill: 'prev' });

      expect(res.status).toBe(200);
      expect(res.body.total_count).toBe(3);
      expect(res.body.data_points).toEqual([
        flat('12:00', 98.75),
        flat('12:01', 98.75),
        flat('12:02', 98.75),
      ]);
    });
  });

  describe('a derived timeframe', () => {
    it('should answer no bucket when none starts in the range', async () => {
      const res = await query('FILL.A', 'ONE_HOUR', '10:10', '10:50', { fill: 'prev' });

      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ data_points: [], total_count: 0 });
    });

    it('should fill FIVE_MINUTES from ONE_MINUTE, the leading buckets at the close before the range', async () => {
      const res = await query('FILL.A', 'FIVE_MINUTES', '10:10', '10:35', { fill: 'prev' });

      expect(res.status).toBe(200);
      expect(res.body.derived_from).toBe('ONE_MINUTE');
      expect(res.body.total_count).toBe(5);
      expect(res.body.data_points).toEqual([
        flat('10:10', 101.75),
        flat('10:15', 101.75),
        bar('10:20', 103, 105, 102.5, 104.25, 110, 11430, 13),
        flat('10:25', 104.25),
        flat('10:30', 104.25),
      ]);
    });

    it('should answer ONE_HOUR from ONE_MINUTE with fill=none, null and prev', async () => {
      const none = await query('FILL.A', 'ONE_HOUR', '08:00', '13:00');
      const nulls = await query('FILL.A', 'ONE_HOUR', '08:00', '13:00', { fill: 'null' });
      const prev = await query('FILL.A', 'ONE_HOUR', '08:00', '13:00', { fill: 'prev' });

      expect(none.body).toMatchObject({ derived_from: 'ONE_MINUTE', total_count: 3 });
      expect(none.body.data_points).toEqual([HOUR_09, HOUR_10, HOUR_11]);
      expect(nulls.body).toMatchObject({ derived_from: 'ONE_MINUTE', total_count: 5 });
      expect(nulls.body.data_points).toEqual([
        empty('08:00'),
        HOUR_09,
        HOUR_10,
        HOUR_11,
        empty('12:00'),
      ]);
      expect(prev.body).toMatchObject({ derived_from: 'ONE_MINUTE', total_count: 5 });
      expect(prev.body.data_points).toEqual([
        empty('08:00'),
        HOUR_09,
        HOUR_10,
        HOUR_11,
        flat('12:00', 98.75),
      ]);
    });

    it('should answer the same filled hours from the materialized rollups as from the raw minutes', async () => {
      // Refreshed as of two days later: the 2025-06-21 hours are materialized.
      await runAppTask(t.app, 'rollup_refresh', new Date('2025-06-23T00:00:00Z'));
      // A page of its own: not the cached answer of the test before.
      const res = await query('FILL.A', 'ONE_HOUR', '08:00', '13:00', {
        fill: 'prev',
        limit: 4,
        offset: 1,
      });

      expect(res.status).toBe(200);
      expect(res.body.total_count).toBe(5);
      expect(res.body.data_points).toEqual([HOUR_09, HOUR_10, HOUR_11, flat('12:00', 98.75)]);
    });

    it('should fill a derived range without any bar from the finer timeframe before it, saying so', async () => {
      const res = await query('FILL.A', 'ONE_HOUR', '14:00', '16:00', { fill: 'prev' });

      expect(res.status).toBe(200);
      expect(res.body.derived_from).toBe('ONE_MINUTE');
      expect(res.body.data_points).toEqual([flat('14:00', 98.75), flat('15:00', 98.75)]);
    });

    it('should fill FIFTEEN_MINUTES from stored FIVE_MINUTES, null before the first bar', async () => {
      const res = await query('FILL.C', 'FIFTEEN_MINUTES', '09:45', '10:45', { fill: 'prev' });

      expect(res.status).toBe(200);
      expect(res.body.derived_from).toBe('FIVE_MINUTES');
      expect(res.body.total_count).toBe(4);
      expect(res.body.data_points).toEqual([
        empty('09:45'),
        bar('10:00', 10, 11, 9, 10.5, 100, 1050, 10),
        bar('10:15', 10.5, 12, 10, 11.5, 200, 2300, 20),
        flat('10:30', 11.5),
      ]);
    });

    it('should fill bars built from trades at the last trade before the range', async () => {
      const res = await request(t.baseUrl, 'POST', `${BASE}/store`, {
        instrument_id: 'FILL.T',
        data_type: 'TRADE',
        data_points: [
          { timestamp: `${DAY}09:59:30.000000Z`, price: 7.5, size: 10, trade_id: 'a' },
          { timestamp: `${DAY}10:01:10.000000Z`, price: 8, size: 20, trade_id: 'b' },
          { timestamp: `${DAY}10:01:40.000000Z`, price: 7.75, size: 30, trade_id: 'c' },
        ],
      });
      expect(res.status).toBe(200);

      const filled = await query('FILL.T', 'ONE_MINUTE', '10:00', '10:03', { fill: 'prev' });

      expect(filled.status).toBe(200);
      expect(filled.body.derived_from).toBe('TRADE');
      expect(filled.body.total_count).toBe(3);
      expect(filled.body.data_points).toEqual([
        flat('10:00', 7.5),
        bar('10:01', 8, 8, 7.75, 7.75, 50, 392.5, 2),
        flat('10:02', 7.75),
      ]);
    });
  });

  describe('the cache', () => {
    it('should answer a filled range again from the cache, and a bar stored in its gap at once', async () => {
      await store('FILL.D', 'ONE_MINUTE', [bar('10:00', 1, 2, 0.5, 1.5, 10, 15, 1)]);
      const first = await query('FILL.D', 'ONE_MINUTE', '10:00', '10:03', { fill: 'prev' });
      const again = await query('FILL.D', 'ONE_MINUTE', '10:00', '10:03', { fill: 'prev' });

      await store('FILL.D', 'ONE_MINUTE', [bar('10:01', 1.5, 3, 1.5, 2.5, 20, 50, 2)]);
      const after = await query('FILL.D', 'ONE_MINUTE', '10:00', '10:03', { fill: 'prev' });

      expect(first.body.cache_hit).toBe(false);
      expect(again.body).toMatchObject({ cache_hit: true, data_points: first.body.data_points });
      expect(after.body.cache_hit).toBe(false);
      expect(after.body.data_points).toEqual([
        bar('10:00', 1, 2, 0.5, 1.5, 10, 15, 1),
        bar('10:01', 1.5, 3, 1.5, 2.5, 20, 50, 2),
        flat('10:02', 2.5),
      ]);
    });
  });

  describe('requests that are wrong', () => {
    it('should answer 400 naming fill for a mode it does not know', async () => {
      const res = await query('FILL.A', 'ONE_MINUTE', '10:00', '10:10', { fill: 'bogus' });

      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(JSON.stringify(res.body.message)).toContain('fill must be one of none, null, prev');
    });

    it('should answer 400 naming fill when the range holds more buckets than a page may', async () => {
      const params = new URLSearchParams({
        instrument_id: 'FILL.A',
        timeframe: 'ONE_MINUTE',
        start_time: '2025-01-01T00:00:00Z',
        end_time: '2025-03-12T00:00:00Z',
        fill: 'prev',
      });
      const res = await request(t.baseUrl, 'GET', `${BASE}/query?${params.toString()}`);

      expect(res.status).toBe(400);
      expect(res.body.message).toBe(
        'fill covers at most 100000 buckets: [start_time, end_time) holds 100800 ONE_MINUTE buckets',
      );
    });

    it('should answer 400 naming fill for trades', async () => {
      const params = new URLSearchParams({
        instrument_id: 'FILL.T',
        data_type: 'TRADE',
        start_time: `${DAY}10:00:00Z`,
        end_time: `${DAY}10:03:00Z`,
        fill: 'prev',
      });
      const res = await request(t.baseUrl, 'GET', `${BASE}/query?${params.toString()}`);

      expect(res.status).toBe(400);
      expect(res.body.message).toBe('fill applies to OHLCV bars, not to TRADE and QUOTE pages');
    });
  });
});
