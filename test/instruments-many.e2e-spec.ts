import { BarPoint, makeBars } from './support/bars';
import { ENGINES } from './support/test-database';
import { request, startTestApp, TestApp } from './support/test-app';

/**
 * instrument_ids on /query and GET /latest (docs/research-reads.md, "Many
 * instruments at once"): a 500-instrument answer equals 500 single answers,
 * instrument by instrument, for stored, derived and filled ranges and for
 * the newest point; the cache rules hold per instrument; bad lists are 400s
 * naming the field.
 */
const BASE = '/api/v1/storage';
const COUNT = 500;
const BARS = 30;
const START = '2025-06-21T09:30:00.000Z';
const END = '2025-06-21T10:30:00.000Z';
/** Instrument ids of several forms, all valid: one in ten stores nothing. */
const IDS = Array.from({ length: COUNT }, (_, i) =>
  i % 3 === 0 ? `MANY ${i}` : i % 3 === 1 ? `M/${i}` : `M.${i}=F`,
);
const stores = (i: number) => i % 10 !== 7;

/** The parts of an answer that do not depend on how it was computed. */
function comparable(answer: Record<string, unknown>) {
  const rest = { ...answer };
  delete rest.query_time_ms;
  delete rest.cache_hit;
  return rest;
}

describe.each(ENGINES)('many instruments in one request on %s', (engine) => {
  let t: TestApp;
  const bars = new Map<string, BarPoint[]>();

  beforeAll(async () => {
    t = await startTestApp(engine, { STATS_REFRESH_INTERVAL_MS: '0' });
    for (const [i, id] of IDS.entries()) {
      if (!stores(i)) continue;
      // Every other instrument with a gap of 5 minutes, for fill.
      const points = makeBars(START, BARS, 60_000, i + 1).filter(
        (_b, n) => i % 2 === 0 || n < 10 || n >= 15,
      );
      bars.set(id, points);
      const res = await request(t.baseUrl, 'POST', `${BASE}/store`, {
        instrument_id: id,
        timeframe: 'ONE_MINUTE',
        data_points: points,
      });
      expect(res.status).toBe(200);
    }
  }, 300_000);

  afterAll(async () => {
    await t?.close();
  });

  const query = (params: Record<string, string>) =>
    request(t.baseUrl, 'GET', `${BASE}/query?${new URLSearchParams(params).toString()}`);

  // All 500 for the stored range; the other shapes over the first 100 (the same code path, a shorter CI).
  it.each([
    ['stored', 500, { timeframe: 'ONE_MINUTE' }],
    ['derived', 100, { timeframe: 'FIVE_MINUTES' }],
    ['filled', 100, { timeframe: 'ONE_MINUTE', fill: 'prev' }],
    [
      'paged and projected',
      100,
      { timeframe: 'ONE_MINUTE', limit: '7', offset: '3', fields: 'close,volume' },
    ],
  ])(
    'should answer %s ranges of %d instruments as many single queries do',
    async (_label, count, extra) => {
      const range = { start_time: START, end_time: END, ...extra };
      const ids = IDS.slice(0, count);

      const many = await query({ instrument_ids: ids.join(','), ...range });

      expect(many.status).toBe(200);
      expect(many.body.timeframe).toBe(extra.timeframe);
      expect(many.body.instruments).toHaveLength(count);
      for (const [i, id] of ids.entries()) {
        const single = await query({ instrument_id: id, ...range });
        expect(single.status).toBe(200);
        expect(comparable(many.body.instruments[i])).toEqual(comparable(single.body));
      }
      // Something was stored, and an instrument without bars answers empty (unfilled).
      expect(many.body.instruments[0].data_points.length).toBeGreaterThan(0);
      if (!('fill' in extra)) {
        expect(many.body.instruments[7]).toMatchObject({
          instrument_id: IDS[7],
          data_points: [],
          total_count: 0,
        });
      }
    },
    300_000,
  );

  it('should answer the newest point of each instrument as /instruments/{id}/latest does, null where it is 404', async () => {
    const many = await request(
      t.baseUrl,
      'GET',
      `${BASE}/latest?${new URLSearchParams({ instrument_ids: IDS.join(','), timeframe: 'ONE_MINUTE' }).toString()}`,
    );

    expect(many.status).toBe(200);
    expect(many.body).toMatchObject({ data_type: 'OHLCV', timeframe: 'ONE_MINUTE' });
    expect(many.body.instruments).toHaveLength(COUNT);
    for (const [i, id] of IDS.entries()) {
      const single = await request(
        t.baseUrl,
        'GET',
        `${BASE}/instruments/${encodeURIComponent(id)}/latest?timeframe=ONE_MINUTE`,
      );
      const entry = many.body.instruments[i];
      expect(entry.instrument_id).toBe(id);
      if (stores(i)) {
        expect(single.status).toBe(200);
        expect(entry.data_point).toEqual(single.body);
        expect(entry.data_point.timestamp).toBe(bars.get(id)!.at(-1)!.timestamp);
      } else {
        expect(single.status).toBe(404);
        expect(entry.data_point).toBeNull();
      }
    }
  }, 300_000);

  it('should cache per instrument: a second request is a hit, and a write to one instrument shows at once', async () => {
    const ids = IDS.slice(0, 20);
    const params = {
      instrument_ids: ids.join(','),
      timeframe: 'ONE_MINUTE',
      start_time: START,
      end_time: END,
    };
    await query(params);
    const again = await query(params);
    expect(again.body.cache_hit).toBe(true);

    const [late] = makeBars(END, 1, 60_000, 99).map((b) => ({
      ...b,
      timestamp: '2025-06-21T10:29:00.000Z',
    }));
    const stored = await request(t.baseUrl, 'POST', `${BASE}/store`, {
      instrument_id: ids[3],
      timeframe: 'ONE_MINUTE',
      data_points: [late],
    });
    expect(stored.status).toBe(200);

    const after = await query(params);
    expect(after.body.cache_hit).toBe(false);
    const answers = after.body.instruments as { cache_hit: boolean; data_points: BarPoint[] }[];
    expect(answers[3].data_points.at(-1)).toEqual(late);
    expect(answers.filter((a) => !a.cache_hit)).toHaveLength(1);
  });

  it.each([
    [
      'too many instruments',
      { instrument_ids: [...IDS, 'ONE.MORE'].join(',') },
      'instrument_ids',
      'names 501 instruments; at most 500',
    ],
    ['a name twice', { instrument_ids: 'AAPL,MSFT,AAPL' }, 'instrument_ids', 'names AAPL twice'],
    [
      'an empty entry',
      { instrument_ids: 'AAPL,,MSFT' },
      'instrument_ids',
      'entry 2 ("") must be 1-20 printable characters',
    ],
    [
      'both forms',
      { instrument_ids: 'AAPL', instrument_id: 'MSFT' },
      'instrument_ids',
      'replaces instrument_id: give one of them',
    ],
    [
      'trades',
      { instrument_ids: 'AAPL', data_type: 'TRADE' },
      'instrument_ids',
      'applies to OHLCV bars',
    ],
    [
      'too many points',
      { instrument_ids: IDS.slice(0, 20).join(','), limit: '60000' },
      'limit',
      'is per instrument, and 20 instruments x 60000 is above 1000000 points: at most 50000 here',
    ],
  ])('should refuse %s with a 400 naming the field', async (_label, params, field, reason) => {
    const res = await query({
      timeframe: 'ONE_MINUTE',
      start_time: START,
      end_time: END,
      ...params,
    });

    expect(res.status).toBe(400);
    expect(res.body.message).toEqual(expect.stringContaining(`${field} ${reason}`));
  });

  it('should refuse GET /latest without instrument_ids', async () => {
    const res = await request(t.baseUrl, 'GET', `${BASE}/latest?timeframe=ONE_MINUTE`);

    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.message)).toContain('instrument_ids');
  });
});
