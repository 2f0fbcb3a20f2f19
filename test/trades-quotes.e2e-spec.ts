import { STATUS_CODES } from 'node:http';
import { formatInstantMicros } from '../src/common/time';
import { JsonResponse, request, startTestApp, TestApp } from './support/test-app';
import { QuotesRepository } from '../src/repositories/quotes.repository';
import { TickTableMaintenance } from '../src/repositories/tick-tables';
import { TradesRepository } from '../src/repositories/trades.repository';
import { capabilitiesOf, ENGINES } from './support/test-database';
import { random } from './support/trades';
import { runAppTask } from './support/lifecycle';

const BASE = '/api/v1/storage';
const DAY = '2025-06-23T00:00:00Z';
const NEXT_DAY = '2025-06-24T00:00:00Z';
const OPEN_US = Date.parse('2025-06-23T13:30:00Z') * 1000;

interface TradePoint {
  timestamp: string;
  price: number;
  size: number;
  trade_id?: string | number;
  conditions?: string[];
}

function qs(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) search.set(k, String(v));
  return search.toString();
}

/** `count` trades from the open: microsecond timestamps, some shared, ids "X{i}" on every other one. */
function makeTrades(count: number, seed = 3, idEvery = 2): TradePoint[] {
  const next = random(seed);
  let us = OPEN_US;
  let cents = 25_000;
  return Array.from({ length: count }, (_, i) => {
    us += next() < 0.2 ? 0 : 1 + Math.floor(next() * 30_000_000);
    cents = Math.max(1, cents + Math.floor(next() * 9) - 4);
    const point: TradePoint = {
      timestamp: formatInstantMicros(us),
      price: cents / 100,
      size: 1 + Math.floor(next() * 500),
    };
    if (i % idEvery === 0) point.trade_id = `X${i}`;
    return point;
  });
}

/** Bars computed here from the points, independently of the service. */
function barsOf(points: TradePoint[], stepMs: number) {
  const withKey = points.map((p, i) => ({ ...p, us: micros(p.timestamp), i }));
  const buckets = new Map<number, typeof withKey>();
  for (const p of withKey) {
    const bucket = Math.floor(p.us / 1000 / stepMs) * stepMs;
    buckets.set(bucket, [...(buckets.get(bucket) ?? []), p]);
  }
  return [...buckets.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([bucket, trades]) => {
      const prices = trades.map((t) => t.price);
      const byTime = [...trades].sort((a, b) => a.us - b.us);
      // The service orders same-microsecond trades by key; this factory gives none within a bucket's edges a tie that matters for open/close unless noted.
      return {
        timestamp: new Date(bucket).toISOString(),
        open: byTime[0].price,
        high: Math.max(...prices),
        low: Math.min(...prices),
        close: byTime[byTime.length - 1].price,
        volume: trades.reduce((n, t) => n + t.size, 0),
        dollar_volume: trades.reduce((n, t) => n + Math.round(t.price * 100) * t.size, 0) / 100,
        trade_count: trades.length,
      };
    });
}

function micros(iso: string): number {
  return Date.parse(iso.slice(0, 23) + 'Z') * 1000 + Number(iso.slice(23, 26));
}

function expectError(res: JsonResponse, status: number, field: string): void {
  expect({ status: res.status, error: res.body?.error, field: res.body?.field }).toEqual({
    status,
    error: STATUS_CODES[status],
    field,
  });
}

describe.each(ENGINES)('trades and quotes over REST on %s', (engine) => {
  let t: TestApp;
  const store = (body: unknown) => request(t.baseUrl, 'POST', `${BASE}/store`, body);
  const query = (params: Record<string, string | number | undefined>) =>
    request(t.baseUrl, 'GET', `${BASE}/query?${qs(params)}`);
  const latest = (id: string, params: Record<string, string>) =>
    request(t.baseUrl, 'GET', `${BASE}/instruments/${id}/latest?${qs(params)}`);
  const trades = (id: string, extra: Record<string, string | number | undefined> = {}) =>
    query({ instrument_id: id, data_type: 'TRADE', start_time: DAY, end_time: NEXT_DAY, ...extra });

  /** Every page of the instrument's trades through next_cursor. */
  async function walk(id: string, limit: number, dataType = 'TRADE') {
    const points: Record<string, unknown>[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await query({
        instrument_id: id,
        data_type: dataType,
        start_time: DAY,
        end_time: NEXT_DAY,
        limit,
        cursor,
      });
      expect(res.status).toBe(200);
      points.push(...res.body.data_points);
      cursor = res.body.next_cursor ?? undefined;
      pages++;
    } while (cursor);
    return { points, pages };
  }

  beforeAll(async () => {
    t = await startTestApp(engine);
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  describe('POST /store with TRADE', () => {
    it('should store trades without a timeframe and give back their microseconds exactly', async () => {
      const points = makeTrades(3_000);

      const res = await store({
        instrument_id: 'US.MICRO',
        data_type: 'TRADE',
        data_points: points,
      });

      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        stored_count: 3_000,
        failed_count: 0,
        superseded_count: 0,
        errors: [],
      });
      const { points: back, pages } = await walk('US.MICRO', 1_000);
      expect(pages).toBe(3);
      expect(back.map((p) => p.timestamp).sort()).toEqual(points.map((p) => p.timestamp).sort());
      expect(back.map((p) => p.timestamp)).toEqual([...back.map((p) => p.timestamp)].sort());
      const first = await trades('US.MICRO', { limit: 1 });
      expect(first.body).toMatchObject({
        data_type: 'TRADE',
        total_count: 3_000,
        cache_hit: false,
      });
      expect(typeof first.body.next_cursor).toBe('string');
    });

    it('should keep the last of duplicate trade ids in one request and every identical print without one', async () => {
      const ts = '2025-06-23T14:00:00.000001Z';
      const res = await store({
        instrument_id: 'DUPS',
        data_type: 'TRADE',
        data_points: [
          { timestamp: ts, price: 10, size: 5, trade_id: 'A' },
          { timestamp: ts, price: 10, size: 5 },
          { timestamp: ts, price: 10, size: 5 },
          { timestamp: ts, price: 11, size: 7, trade_id: 'A', conditions: ['@', 'I'] },
          { timestamp: ts, price: 10, size: 5, trade_id: 42 },
        ],
      });

      expect(res.body).toMatchObject({ stored_count: 4, failed_count: 0, superseded_count: 1 });
      const back = (await trades('DUPS')).body.data_points;
      // Same microsecond: ordered by key (byte order), derived keys ("~...") after producer ids.
      expect(back).toEqual([
        { timestamp: ts, price: 10, size: 5, trade_id: '42', conditions: null, source: null },
        { timestamp: ts, price: 11, size: 7, trade_id: 'A', conditions: ['@', 'I'], source: null },
        { timestamp: ts, price: 10, size: 5, trade_id: null, conditions: null, source: null },
        { timestamp: ts, price: 10, size: 5, trade_id: null, conditions: null, source: null },
      ]);
    });

    it('should store a replayed request once and replace a trade id sent again with new values', async () => {
      const points = makeTrades(600, 9, 3);
      await store({ instrument_id: 'REPLAY', data_type: 'TRADE', data_points: points });
      const again = await store({
        instrument_id: 'REPLAY',
        data_type: 'TICK',
        data_points: points,
      });
      const changed = await store({
        instrument_id: 'REPLAY',
        data_type: 'TRADE',
        data_points: [{ ...points[0], price: 1.5 }],
      });

      expect(again.body).toMatchObject({ stored_count: 600, failed_count: 0 });
      expect(changed.body.stored_count).toBe(1);
      const { points: back } = await walk('REPLAY', 10_000);
      expect(back.length).toBe(600);
      expect(back.find((p) => p.trade_id === 'X0')).toMatchObject({ price: 1.5 });
    });

    it('should report each invalid trade by index and field and store the valid ones', async () => {
      const ok = { timestamp: '2025-06-23T15:00:00Z', price: 1, size: 1 };
      const res = await store({
        instrument_id: 'BADTRADES',
        data_type: 'TRADE',
        data_points: [
          ok,
          { ...ok, size: -1 },
          { ...ok, price: 'x' },
          { ...ok, timestamp: '2025-06-23T15:00:00.0000001Z' },
          { ...ok, trade_id: '~mine' },
          { ...ok, conditions: ['has space'] },
          { ...ok, open: 1 },
          { timestamp: ok.timestamp, price: 1 },
        ],
      });

      expect(res.body).toMatchObject({ stored_count: 1, failed_count: 7 });
      expect(
        (res.body.errors as { index: number; field: string }[]).map((e) => [e.index, e.field]),
      ).toEqual([
        [1, 'size'],
        [2, 'price'],
        [3, 'timestamp'],
        [4, 'trade_id'],
        [5, 'conditions'],
        [6, 'open'],
        [7, 'size'],
      ]);
    });
  });

  describe('POST /store with QUOTE', () => {
    it('should report quote rule violations per point and store the valid quotes', async () => {
      const q = {
        timestamp: '2025-06-23T14:30:00.000250Z',
        bid: 99.5,
        ask: 99.52,
        bid_size: 300,
        ask_size: 100,
      };
      const res = await store({
        instrument_id: 'QRULES',
        data_type: 'QUOTE',
        data_points: [
          q,
          { ...q, bid: 99.6 },
          { ...q, timestamp: '2025-06-23T14:30:01Z', bid_size: -1 },
          { ...q, ask_size: 'many' },
          { ...q, ask: undefined },
          { ...q, timestamp: '2025-06-23T14:30:02Z', bid: 99.52 },
          { ...q, source: 'ARCX' },
          { ...q, price: 1 },
        ],
      });

      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ stored_count: 3, failed_count: 5 });
      expect(res.body.errors).toEqual([
        { index: 1, field: 'bid', message: 'bid must not exceed ask' },
        { index: 2, field: 'bid_size', message: 'bid_size must be a finite number >= 0' },
        { index: 3, field: 'ask_size', message: 'ask_size must be a finite number >= 0' },
        { index: 4, field: 'ask', message: 'ask is required' },
        { index: 7, field: 'price', message: 'price is not a field of this data type' },
      ]);
      const back = await query({
        instrument_id: 'QRULES',
        data_type: 'QUOTE',
        start_time: DAY,
        end_time: NEXT_DAY,
      });
      expect(back.body.data_points).toEqual([
        { ...q, source: null },
        { ...q, source: 'ARCX' },
        { ...q, timestamp: '2025-06-23T14:30:02.000000Z', bid: 99.52, source: null },
      ]);
      expect(back.body.next_cursor).toBeNull();
    });
  });

  describe('GET /query', () => {
    it('should build exact OHLCV bars from trades where no bars are stored, derived_from TRADE', async () => {
      // Unique timestamps: first and last of a bucket are then the same whatever the tie order.
      const points = makeTrades(2_000, 17).map((p, i) => ({
        ...p,
        timestamp: formatInstantMicros(OPEN_US + i * 7_000_123),
      }));
      await store({ instrument_id: 'BARS', data_type: 'TRADE', data_points: points });

      for (const [timeframe, stepMs] of [
        ['ONE_MINUTE', 60_000],
        ['FIVE_MINUTES', 300_000],
        ['ONE_HOUR', 3_600_000],
      ] as const) {
        const res = await query({
          instrument_id: 'BARS',
          timeframe,
          start_time: DAY,
          end_time: NEXT_DAY,
          limit: 100_000,
        });
        expect(res.status).toBe(200);
        expect(res.body.derived_from).toBe('TRADE');
        expect(res.body.data_points).toEqual(barsOf(points, stepMs));
        expect(res.body.total_count).toBe(barsOf(points, stepMs).length);
      }
    });

    it('should walk every trade exactly once through next_cursor', async () => {
      const points = makeTrades(1_234, 23, 1);
      await store({ instrument_id: 'WALK', data_type: 'TRADE', data_points: points });

      const { points: back, pages } = await walk('WALK', 100);

      expect(pages).toBe(13);
      expect(back.length).toBe(1_234);
      expect(new Set(back.map((p) => p.trade_id)).size).toBe(1_234);
    });

    it('should not answer a cached page after new trades of the instrument are stored', async () => {
      const first = makeTrades(10, 31, 1);
      await store({ instrument_id: 'FRESH', data_type: 'TRADE', data_points: first });
      const before = await trades('FRESH');
      const repeat = await trades('FRESH');
      await store({
        instrument_id: 'FRESH',
        data_type: 'TRADE',
        data_points: [{ timestamp: '2025-06-23T20:00:00Z', price: 3, size: 3, trade_id: 'NEW' }],
      });

      const after = await trades('FRESH');

      expect(repeat.body.cache_hit).toBe(true);
      expect(before.body.total_count).toBe(10);
      expect(after.body).toMatchObject({ total_count: 11, cache_hit: false });
    });

    it('should answer 400 naming the field to offset with trades, a forged cursor, a cursor with bars and unknown trade fields', async () => {
      expectError(await trades('US.MICRO', { offset: 10 }), 400, 'offset');
      expectError(await trades('US.MICRO', { cursor: 'bm90LWEtY3Vyc29y' }), 400, 'cursor');
      expectError(await trades('US.MICRO', { fields: 'open' }), 400, 'fields');
      expectError(
        await query({
          instrument_id: 'US.MICRO',
          timeframe: 'ONE_MINUTE',
          start_time: DAY,
          end_time: NEXT_DAY,
          cursor: 'abc',
        }),
        400,
        'cursor',
      );
      expectError(
        await query({ instrument_id: 'US.MICRO', start_time: DAY, end_time: NEXT_DAY }),
        400,
        'timeframe',
      );
    });

    it('should refuse a TRADE or QUOTE range above MAX_QUERY_RANGE_DAYS with the body OHLCV answers', async () => {
      // 20 years: past the default cap of 3,660 days.
      const range = { start_time: '2005-01-01T00:00:00Z', end_time: '2025-01-01T00:00:00Z' };
      const bars = await query({ instrument_id: 'US.MICRO', timeframe: 'ONE_MINUTE', ...range });
      const ticks = await Promise.all(
        ['TRADE', 'TICK', 'QUOTE'].map((dataType) =>
          query({ instrument_id: 'US.MICRO', data_type: dataType, ...range }),
        ),
      );
      // The same rule holds for microsecond bounds: one microsecond past the cap is refused.
      const justOver = await query({
        instrument_id: 'US.MICRO',
        data_type: 'TRADE',
        start_time: '2015-01-01T00:00:00Z',
        end_time: '2025-01-08T00:00:00.000001Z',
      });
      const justAt = await query({
        instrument_id: 'US.MICRO',
        data_type: 'TRADE',
        start_time: '2015-01-01T00:00:00Z',
        end_time: '2025-01-08T00:00:00Z',
      });

      expect(bars.status).toBe(400);
      expect(bars.body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: 'end_time must be at most 3660 days after start_time (MAX_QUERY_RANGE_DAYS)',
        field: 'end_time',
      });
      for (const res of [...ticks, justOver]) {
        expect({ status: res.status, body: res.body }).toEqual({ status: 400, body: bars.body });
      }
      expect(justAt.status).toBe(200);
    });

    it('should join the prevailing quote of each trade when asked for (as-of, to the microsecond)', async () => {
      const quote = (ts: string, bid: number, source?: string) => ({
        timestamp: ts,
        bid,
        ask: bid + 0.02,
        bid_size: 1,
        ask_size: 1,
        ...(source ? { source } : {}),
      });
      await store({
        instrument_id: 'ASOF',
        data_type: 'QUOTE',
        data_points: [
          quote('2025-06-23T14:00:00.000010Z', 10),
          quote('2025-06-23T14:00:00.000020Z', 11),
          quote('2025-06-23T14:00:00.000020Z', 12, 'ARCX'),
        ],
      });
      await store({
        instrument_id: 'ASOF',
        data_type: 'TRADE',
        data_points: [
          { timestamp: '2025-06-23T14:00:00.000009Z', price: 1, size: 1, trade_id: 'a' },
          { timestamp: '2025-06-23T14:00:00.000010Z', price: 2, size: 1, trade_id: 'b' },
          { timestamp: '2025-06-23T14:00:00.000019Z', price: 3, size: 1, trade_id: 'c' },
          { timestamp: '2025-06-23T14:00:00.000021Z', price: 4, size: 1, trade_id: 'd' },
        ],
      });

      const res = await trades('ASOF', { fields: 'price,prevailing_bid,prevailing_ask' });
      const plain = await trades('ASOF', { limit: 1 });

      expect(res.body.data_points).toEqual([
        {
          timestamp: '2025-06-23T14:00:00.000009Z',
          price: 1,
          prevailing_bid: null,
          prevailing_ask: null,
        },
        {
          timestamp: '2025-06-23T14:00:00.000010Z',
          price: 2,
          prevailing_bid: 10,
          prevailing_ask: 10.02,
        },
        {
          timestamp: '2025-06-23T14:00:00.000019Z',
          price: 3,
          prevailing_bid: 10,
          prevailing_ask: 10.02,
        },
        // Two quotes at the same microsecond: the last in source order (ARCX after none).
        {
          timestamp: '2025-06-23T14:00:00.000021Z',
          price: 4,
          prevailing_bid: 12,
          prevailing_ask: 12.02,
        },
      ]);
      expect(Object.keys(plain.body.data_points[0])).not.toContain('prevailing_bid');
    });

    it('should project the fields asked for', async () => {
      const res = await trades('DUPS', { fields: 'size,price' });

      expect(res.body.data_points[0]).toEqual({
        timestamp: '2025-06-23T14:00:00.000001Z',
        price: 10,
        size: 5,
      });
    });
  });

  describe('GET /instruments/{id}/latest', () => {
    it('should answer the newest trade and the newest quote, 404 when there is none', async () => {
      const trade = await latest('DUPS', { data_type: 'TRADE' });
      const tick = await latest('DUPS', { data_type: 'TICK', fields: 'price' });
      const quote = await latest('QRULES', { data_type: 'QUOTE', fields: 'bid,ask' });
      const none = await latest('DUPS', { data_type: 'QUOTE' });

      // The last of the newest microsecond in (timestamp, key) order: a derived key.
      expect(trade.body).toEqual({
        timestamp: '2025-06-23T14:00:00.000001Z',
        price: 10,
        size: 5,
        trade_id: null,
        conditions: null,
        source: null,
      });
      expect(tick.body).toEqual({ timestamp: '2025-06-23T14:00:00.000001Z', price: 10 });
      expect(quote.body).toEqual({
        timestamp: '2025-06-23T14:30:02.000000Z',
        bid: 99.52,
        ask: 99.52,
      });
      expect(none.status).toBe(404);
    });
  });

  describe('DELETE /instruments/{id} with data_type', () => {
    it('should delete the trades in the range and leave the quotes', async () => {
      await store({
        instrument_id: 'DEL',
        data_type: 'QUOTE',
        data_points: [
          { timestamp: '2025-06-23T14:00:00Z', bid: 1, ask: 2, bid_size: 1, ask_size: 1 },
        ],
      });
      await store({ instrument_id: 'DEL', data_type: 'TRADE', data_points: makeTrades(20, 41) });

      const res = await request(
        t.baseUrl,
        'DELETE',
        `${BASE}/instruments/DEL?${qs({ data_type: 'TRADE', start_time: DAY, end_time: NEXT_DAY })}`,
      );

      expect(res.body.deleted_count).toBe(20);
      expect((await trades('DEL')).body.total_count).toBe(0);
      expect((await latest('DEL', { data_type: 'QUOTE' })).status).toBe(200);
    });
  });

  // Last: the lifecycle job compresses every old chunk, the other tests' days among them.
  describe('POST /store with compression', () => {
    it("should accept a spec-shaped store with compression for every tick type and keep a NONE instrument's chunks uncompressed", async () => {
      // Three days, one instrument each: tick chunks are one day, shared by every instrument.
      const stores = await Promise.all([
        store({
          instrument_id: 'TQ.NONE',
          timeframe: 'ONE_MINUTE',
          data_type: 'TRADE',
          compression: 'NONE',
          data_points: [{ timestamp: '2025-07-01T15:00:00.000001Z', price: 1, size: 1 }],
        }),
        store({
          instrument_id: 'TQ.MEDIUM',
          timeframe: 'ONE_MINUTE',
          data_type: 'TICK',
          compression: 'MEDIUM',
          data_points: [{ timestamp: '2025-07-02T15:00:00.000001Z', price: 1, size: 1 }],
        }),
        store({
          instrument_id: 'TQ.HIGH',
          timeframe: 'ONE_MINUTE',
          data_type: 'QUOTE',
          compression: 'HIGH',
          data_points: [
            { timestamp: '2025-07-03T15:00:00Z', bid: 1, ask: 2, bid_size: 1, ask_size: 1 },
          ],
        }),
      ]);
      const levels = (await request(t.baseUrl, 'GET', `${BASE}/configurations`)).body
        .configurations as {
        instrument_id: string;
        timeframe: string;
        compression_level: string;
      }[];
      const report = await runAppTask(t.app, 'tick_lifecycle');
      const openDays = async (repo: { maintenance: TickTableMaintenance }) =>
        (await repo.maintenance.findOpenChunksEndedBy(Date.parse('2100-01-01T00:00:00Z'))).map(
          (c) => new Date(c.rangeStartMs).toISOString().slice(0, 10),
        );
      const openTradeDays = await openDays(t.app.get(TradesRepository));
      const openQuoteDays = await openDays(t.app.get(QuotesRepository));

      for (const res of stores) {
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ stored_count: 1, failed_count: 0, errors: [] });
      }
      expect(
        levels
          .filter((c) => c.instrument_id.startsWith('TQ.'))
          .map((c) => [c.instrument_id, c.timeframe, c.compression_level]),
      ).toEqual([
        ['TQ.HIGH', 'QUOTE', 'HIGH'],
        ['TQ.MEDIUM', 'TRADE', 'MEDIUM'],
        ['TQ.NONE', 'TRADE', 'NONE'],
      ]);
      if (capabilitiesOf(engine).timescale) {
        // NONE: its day stays uncompressed; MEDIUM and HIGH, long past their delay, are compressed.
        expect(openTradeDays).toContain('2025-07-01');
        expect(openTradeDays).not.toContain('2025-07-02');
        expect(openQuoteDays).not.toContain('2025-07-03');
        expect(report.skipped_chunks).toBeGreaterThanOrEqual(1);
      } else {
        expect(report.compressed_chunks).toEqual([]);
      }
    });
  });
});
