import { STATUS_CODES } from 'node:http';
import { BarPoint, makeBars } from './support/bars';
import { capabilitiesOf, ENGINES, reportedEngine } from './support/test-database';
import { JsonResponse, request, startTestApp, TestApp } from './support/test-app';

/** End-to-end tests of the REST contract (DESIGN 3) over HTTP, on both engines. */

const BASE = '/api/v1/storage';
const DAY = '2025-06-20T00:00:00.000Z';
const NEXT_DAY = '2025-06-21T00:00:00.000Z';
const MINUTE = 60_000;

interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  field?: string;
}

interface PointError {
  index: number;
  field: string;
  message: string;
}

interface StoreBody {
  request_id: string;
  stored_count: number;
  failed_count: number;
  superseded_count: number;
  storage_time_ms: number;
  compression_ratio: number;
  errors: PointError[];
}

interface QueryBody {
  instrument_id: string;
  timeframe: string;
  derived_from?: string;
  data_points: Record<string, unknown>[];
  total_count: number;
  query_time_ms: number;
  cache_hit: boolean;
}

interface DeleteBody {
  request_id: string;
  instrument_id: string;
  deleted_count: number;
  start_time: string;
  end_time: string;
}

/**
 * Hostile instrument ids: control and invisible characters, edge spaces, wrong
 * lengths. (SQL-ish text and any script are valid ids, stored as text through
 * parameters: test/instruments-and-volumes.e2e-spec.ts.)
 */
const HOSTILE_IDS: readonly string[] = [
  "AAPL'; DROP TABLE x;--",
  'AB\u0000C',
  'AB\nC',
  'AB\tC',
  ' AB',
  'AB ',
  'A\u202eB',
  'A\u200bB',
  '',
  'A'.repeat(21),
];

/** A client must never see a stack trace, SQL text or file paths. */
function expectNoLeak(text: string): void {
  expect(text).not.toMatch(/\n\s+at /);
  expect(text).not.toMatch(/\bat \S+ \(/);
  expect(text).not.toMatch(/\.(ts|js):\d+/);
  expect(text).not.toContain('node_modules');
  expect(text).not.toContain('SELECT');
  expect(text).not.toContain('INSERT');
  expect(text).not.toContain('market_data_ts');
}

/** `{statusCode, error, message}` (+ `field` when one is at fault), nothing else. */
function expectError(res: JsonResponse, status: number, field?: string): ErrorBody {
  expect({ status: res.status, text: res.text }).toEqual({ status, text: expect.any(String) });
  const body = res.body as ErrorBody;
  expect(body.statusCode).toBe(status);
  expect(body.error).toBe(STATUS_CODES[status]);
  expect(typeof body.message).toBe('string');
  expect(body.message.length).toBeGreaterThan(0);
  if (field !== undefined) expect(body.field).toBe(field);
  // Nothing beyond the contract's keys (`field` only when one is at fault).
  for (const key of Object.keys(body)) {
    expect(['statusCode', 'error', 'message', 'field']).toContain(key);
  }
  expectNoLeak(res.text);
  return body;
}

function qs(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) search.set(k, String(v));
  return search.toString();
}

/** 1-minute bars aggregated to `stepMs` buckets, computed here independently of the service. */
function aggregate(bars: readonly BarPoint[], stepMs: number) {
  const buckets = new Map<number, BarPoint[]>();
  for (const bar of bars) {
    const key = Math.floor(Date.parse(bar.timestamp) / stepMs) * stepMs;
    const bucket = buckets.get(key) ?? [];
    bucket.push(bar);
    buckets.set(key, bucket);
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([key, group]) => ({
      timestamp: new Date(key).toISOString(),
      open: group[0].open,
      high: Math.max(...group.map((b) => b.high)),
      low: Math.min(...group.map((b) => b.low)),
      close: group[group.length - 1].close,
      volume: group.reduce((s, b) => s + Number(b.volume), 0),
      dollar_volume: group.reduce((s, b) => s + (b.dollar_volume ?? 0), 0),
      trade_count: group.reduce((s, b) => s + (b.trade_count ?? 0), 0),
    }));
}

function at(iso: string, plusMinutes: number): string {
  return new Date(Date.parse(iso) + plusMinutes * MINUTE).toISOString();
}

describe.each(ENGINES)('REST API on %s', (engine) => {
  let t: TestApp;
  const fullDay = makeBars(DAY, 1440, MINUTE, 1);

  const store = (body: unknown) => request<StoreBody>(t.baseUrl, 'POST', `${BASE}/store`, body);
  const query = (params: Record<string, string | number | undefined>) =>
    request<QueryBody>(t.baseUrl, 'GET', `${BASE}/query?${qs(params)}`);
  const queryAll = (instrument_id: string, timeframe = 'ONE_MINUTE') =>
    query({ instrument_id, timeframe, start_time: DAY, end_time: NEXT_DAY, limit: 100_000 });
  const latest = (id: string, params: Record<string, string | undefined>) =>
    request(t.baseUrl, 'GET', `${BASE}/instruments/${encodeURIComponent(id)}/latest?${qs(params)}`);
  const remove = (id: string, params: Record<string, string | undefined>) =>
    request<DeleteBody>(
      t.baseUrl,
      'DELETE',
      `${BASE}/instruments/${encodeURIComponent(id)}?${qs(params)}`,
    );

  beforeAll(async () => {
    t = await startTestApp(engine);
    const res = await store({
      instrument_id: 'DAY',
      timeframe: 'ONE_MINUTE',
      data_points: fullDay,
    });
    expect(res.status).toBe(200);
    expect(res.body.stored_count).toBe(1440);
  });

  afterAll(async () => {
    await t?.close();
  });

  describe('POST /store', () => {
    it('should store a full day of 1-minute bars and read back exactly the same values', async () => {
      const res = await queryAll('DAY');
      expect(res.status).toBe(200);
      expect(res.body.instrument_id).toBe('DAY');
      expect(res.body.timeframe).toBe('ONE_MINUTE');
      expect(res.body.derived_from).toBeUndefined();
      expect(res.body.total_count).toBe(1440);
      expect(res.body.cache_hit).toBe(false);
      expect(typeof res.body.query_time_ms).toBe('number');
      expect(res.body.data_points).toEqual(fullDay);
    });

    it('should answer a store with the StorageResponse shape', async () => {
      const bars = makeBars(DAY, 3, MINUTE, 7);
      const res = await store({
        instrument_id: 'SHAPE',
        timeframe: 'ONE_MINUTE',
        data_type: 'OHLCV',
        compression: 'HIGH',
        data_points: bars,
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        stored_count: 3,
        failed_count: 0,
        superseded_count: 0,
        storage_time_ms: expect.any(Number),
        compression_ratio: expect.any(Number),
        // The suites keep forever (test/support/test-database.ts).
        retention_days: null,
        kept_until: null,
        errors: [],
      });
      expect(res.body.compression_ratio).toBeGreaterThanOrEqual(0);
      expect(res.body.compression_ratio).toBeLessThan(1);
    });

    it('should read its own write immediately through /query and /latest', async () => {
      const [bar] = makeBars('2025-06-20T09:30:00Z', 1, MINUTE, 11);
      expect(
        (await store({ instrument_id: 'RYW', timeframe: 'ONE_MINUTE', data_points: [bar] })).status,
      ).toBe(200);
      const q = await queryAll('RYW');
      expect(q.body.data_points).toEqual([bar]);
      const l = await latest('RYW', { timeframe: 'ONE_MINUTE' });
      expect(l.status).toBe(200);
      expect(l.body).toEqual(bar);
    });

    it('should store the valid points and report each invalid one with index, field and message', async () => {
      const bars = makeBars(DAY, 7, MINUTE, 3);
      const points: unknown[] = [
        bars[0],
        { ...bars[1], low: bars[1].high + 1 }, // low above high
        bars[2],
        { ...bars[3], volume: -5 },
        { ...bars[4], colour: 'red' }, // unknown field in a point
        { ...bars[5], timestamp: '2025-06-20T00:05:30Z' }, // not aligned to a minute
        'not a point',
        bars[6],
      ];
      const res = await store({
        instrument_id: 'PARTIAL',
        timeframe: 'ONE_MINUTE',
        data_points: points,
      });
      expect(res.status).toBe(200);
      expect(res.body.stored_count).toBe(3);
      expect(res.body.failed_count).toBe(5);
      expect(res.body.errors).toEqual([
        { index: 1, field: 'low', message: expect.stringContaining('low') },
        { index: 3, field: 'volume', message: expect.stringContaining('volume') },
        { index: 4, field: 'colour', message: expect.stringContaining('colour') },
        { index: 5, field: 'timestamp', message: expect.stringContaining('timestamp') },
        { index: 6, field: 'data_point', message: expect.any(String) },
      ]);
      for (const e of res.body.errors)
        expect(Object.keys(e).sort()).toEqual(['field', 'index', 'message']);
      expectNoLeak(res.text);
      const q = await queryAll('PARTIAL');
      expect(q.body.data_points).toEqual([bars[0], bars[2], bars[6]]);
    });

    it('should report every point rule: missing, non-finite, OHLC order, volume, trade_count, quality, source', async () => {
      const [b] = makeBars(DAY, 1, MINUTE, 5);
      const cases: [Record<string, unknown>, string][] = [
        [{ ...b, open: undefined }, 'open'],
        [{ ...b, close: null }, 'close'],
        [{ ...b, high: 'NaN' }, 'high'],
        [{ ...b, timestamp: '2025-06-20T00:00:00' }, 'timestamp'], // no zone
        [{ ...b, timestamp: '2025-02-30T00:00:00Z' }, 'timestamp'], // no such day
        [{ ...b, timestamp: 12345 }, 'timestamp'],
        [{ ...b, low: b.open + 0.01, high: b.open + 1 }, 'low'], // low above open
        [{ ...b, high: Math.max(b.open, b.close) - 0.01 }, 'high'],
        [{ ...b, volume: '1e3' }, 'volume'],
        [{ ...b, volume: '0.0000000000000000001' }, 'volume'], // 19 decimals
        [{ ...b, volume: '-1' }, 'volume'],
        [{ ...b, volume: '9223372036854775808' }, 'volume'], // 2^63
        [{ ...b, trade_count: -1 }, 'trade_count'],
        [{ ...b, trade_count: 1.5 }, 'trade_count'],
        [{ ...b, dollar_volume: 'lots' }, 'dollar_volume'],
        [{ ...b, quality_score: 1.5 }, 'quality_score'],
        [{ ...b, source: 'x\u0007y' }, 'source'],
      ];
      const res = await store({
        instrument_id: 'RULES',
        timeframe: 'ONE_MINUTE',
        data_points: cases.map(([p]) => p),
      });
      expect(res.status).toBe(200);
      expect(res.body.stored_count).toBe(0);
      expect(res.body.failed_count).toBe(cases.length);
      expect(res.body.errors.map((e) => [e.index, e.field])).toEqual(
        cases.map(([, field], index) => [index, field]),
      );
      expectNoLeak(res.text);
      expect((await queryAll('RULES')).body.total_count).toBe(0);
    });

    it('should accept the largest volume, 2^63-1, and return its exact digits', async () => {
      const [b] = makeBars(DAY, 1, MINUTE, 9);
      const res = await store({
        instrument_id: 'BIGMAX',
        timeframe: 'ONE_MINUTE',
        data_points: [{ ...b, volume: '9223372036854775807' }],
      });
      expect(res.body.stored_count).toBe(1);
      const q = await queryAll('BIGMAX');
      // A decimal string past 2^53-1: JSON.parse keeps it exact.
      expect(q.text).toMatch(/"volume":"9223372036854775807"[,}]/);
    });

    it('should keep the last of duplicate timestamps in one request and count the superseded ones', async () => {
      const bars = makeBars(DAY, 2, MINUTE, 4);
      const replacement = { ...bars[0], open: 50, high: 51, low: 49, close: 50.5, volume: 7 };
      const res = await store({
        instrument_id: 'DUP',
        timeframe: 'ONE_MINUTE',
        data_points: [bars[0], bars[1], replacement],
      });
      expect(res.status).toBe(200);
      expect(res.body.stored_count).toBe(2);
      expect(res.body.failed_count).toBe(0);
      expect(res.body.superseded_count).toBe(1);
      const q = await queryAll('DUP');
      expect(q.body.data_points).toEqual([replacement, bars[1]]);
    });

    it('should replace existing rows when the same bars are stored again (idempotent upsert)', async () => {
      const first = makeBars(DAY, 1440, MINUTE, 21);
      const second = makeBars(DAY, 1440, MINUTE, 22);
      for (const bars of [first, first, second]) {
        const res = await store({
          instrument_id: 'UPSERT',
          timeframe: 'ONE_MINUTE',
          data_points: bars,
        });
        expect(res.status).toBe(200);
        expect(res.body.stored_count).toBe(1440);
        expect(res.body.failed_count).toBe(0);
      }
      const q = await queryAll('UPSERT');
      expect(q.body.total_count).toBe(1440);
      expect(q.body.data_points).toEqual(second);

      // A small re-store of a few rows replaces just those.
      const patched = second.slice(100, 103).map((b) => ({ ...b, volume: 1, trade_count: 2 }));
      const res = await store({
        instrument_id: 'UPSERT',
        timeframe: 'ONE_MINUTE',
        data_points: patched,
      });
      expect(res.body.stored_count).toBe(3);
      const after = await queryAll('UPSERT');
      expect(after.body.total_count).toBe(1440);
      expect(after.body.data_points).toEqual([
        ...second.slice(0, 100),
        ...patched,
        ...second.slice(103),
      ]);
    });

    it('should return a volume of 9007199254740993 sent as a string as exactly those digits', async () => {
      const [b] = makeBars('2025-06-20T12:00:00Z', 1, MINUTE, 13);
      const res = await store({
        instrument_id: 'BIGVOL',
        timeframe: 'ONE_MINUTE',
        data_points: [{ ...b, volume: '9007199254740993' }],
      });
      expect(res.status).toBe(200);
      expect(res.body.stored_count).toBe(1);
      const q = await queryAll('BIGVOL');
      expect(q.status).toBe(200);
      expect(q.text).toMatch(/"volume":"9007199254740993"[,}]/);
      const l = await latest('BIGVOL', { timeframe: 'ONE_MINUTE', fields: 'volume' });
      expect(l.status).toBe(200);
      expect(l.text).toMatch(
        /^\{"timestamp":"2025-06-20T12:00:00\.000Z","volume":"9007199254740993"\}$/,
      );
    });

    it('should reject a volume of 9007199254740993 sent as a JSON number (it cannot stay exact)', async () => {
      const [b] = makeBars('2025-06-20T12:00:00Z', 2, MINUTE, 13);
      // Written by hand: JSON.stringify would already round the number to ...992.
      const raw =
        `{"instrument_id":"BIGNUM","timeframe":"ONE_MINUTE","data_points":[` +
        `{"timestamp":"${b.timestamp}","open":${b.open},"high":${b.high},"low":${b.low},` +
        `"close":${b.close},"volume":9007199254740993},` +
        `{"timestamp":"2025-06-20T12:01:00Z","open":1,"high":1,"low":1,"close":1,"volume":9007199254740991}]}`;
      const res = await store(raw);
      expect(res.status).toBe(200);
      expect(res.body.stored_count).toBe(1);
      expect(res.body.failed_count).toBe(1);
      expect(res.body.errors).toEqual([{ index: 0, field: 'volume', message: expect.any(String) }]);
      const q = await queryAll('BIGNUM');
      expect(q.body.total_count).toBe(1);
      expect(q.text).toMatch(/"volume":\s*9007199254740991[,}]/);
      expect(q.text).not.toMatch(/900719925474099[23]/);
    });

    it('should answer timestamps in UTC with milliseconds whatever zone they were sent in', async () => {
      const res = await store({
        instrument_id: 'ZONE',
        timeframe: 'ONE_MINUTE',
        data_points: [
          { timestamp: '2025-06-20T12:00:00+02:00', open: 1, high: 2, low: 1, close: 2, volume: 3 },
          { timestamp: '2025-06-20T05:31:00-04:30', open: 1, high: 2, low: 1, close: 2, volume: 3 },
        ],
      });
      expect(res.body.stored_count).toBe(2);
      const q = await query({
        instrument_id: 'ZONE',
        timeframe: 'ONE_MINUTE',
        start_time: DAY,
        end_time: NEXT_DAY,
        fields: 'close',
      });
      expect(q.body.data_points).toEqual([
        { timestamp: '2025-06-20T10:00:00.000Z', close: 2 },
        { timestamp: '2025-06-20T10:01:00.000Z', close: 2 },
      ]);
    });

    it.each([
      ['ONE_MINUTE', MINUTE],
      ['FIVE_MINUTES', 5 * MINUTE],
      ['FIFTEEN_MINUTES', 15 * MINUTE],
      ['ONE_HOUR', 60 * MINUTE],
      ['ONE_DAY', 1440 * MINUTE],
    ])('should store and read back bars of timeframe %s', async (timeframe, stepMs) => {
      const bars = makeBars('2025-06-01T00:00:00Z', 3, stepMs, 17);
      const res = await store({ instrument_id: 'EVERYTF', timeframe, data_points: bars });
      expect({ status: res.status, stored: res.body.stored_count }).toEqual({
        status: 200,
        stored: 3,
      });
      expectNoLeak(res.text);
      const q = await query({
        instrument_id: 'EVERYTF',
        timeframe,
        start_time: '2025-06-01T00:00:00Z',
        end_time: '2025-07-01T00:00:00Z',
      });
      expect(q.body.derived_from).toBeUndefined();
      expect(q.body.data_points).toEqual(bars);
      const l = await latest('EVERYTF', { timeframe });
      expect(l.body).toEqual(bars[2]);
    });

    it('should require bars aligned to their timeframe (five minutes, an hour, a day at 00:00 UTC)', async () => {
      const bar = { open: 1, high: 2, low: 1, close: 2, volume: 3 };
      const five = await store({
        instrument_id: 'ALIGN',
        timeframe: 'FIVE_MINUTES',
        data_points: [
          { ...bar, timestamp: '2025-06-20T10:07:00Z' },
          { ...bar, timestamp: '2025-06-20T10:05:30Z' },
          { ...bar, timestamp: '2025-06-20T10:05:00.001Z' },
        ],
      });
      expect(five.status).toBe(200);
      expect(five.body.stored_count).toBe(0);
      expect(five.body.errors.map((e) => [e.index, e.field])).toEqual([
        [0, 'timestamp'],
        [1, 'timestamp'],
        [2, 'timestamp'],
      ]);
      const hour = await store({
        instrument_id: 'ALIGN',
        timeframe: 'ONE_HOUR',
        data_points: [
          { ...bar, timestamp: '2025-06-20T10:00:00Z' },
          { ...bar, timestamp: '2025-06-20T10:30:00Z' },
          { ...bar, timestamp: '2025-06-20T11:30:00+05:30' }, // 06:00Z: aligned
        ],
      });
      expect(hour.body.stored_count).toBe(2);
      expect(hour.body.errors).toEqual([
        { index: 1, field: 'timestamp', message: expect.any(String) },
      ]);
      const day = await store({
        instrument_id: 'ALIGN',
        timeframe: 'ONE_DAY',
        data_points: [
          { ...bar, timestamp: '2025-06-20T00:00:00Z' },
          { ...bar, timestamp: '2025-06-20T00:00:00+02:00' },
        ],
      });
      expect(day.body.stored_count).toBe(1);
      expect(day.body.errors).toEqual([
        { index: 1, field: 'timestamp', message: expect.any(String) },
      ]);
    });

    describe('whole-request errors (400, nothing stored)', () => {
      const valid = () => makeBars(DAY, 2, MINUTE, 31);

      it('should answer 400 to a body that is not JSON', async () => {
        for (const raw of ['{"instrument_id": "A",', 'not json', '[1,2', '{"a":}']) {
          const res = await store(raw);
          expectError(res, 400);
        }
      });

      it('should answer 400 to an empty body and to JSON that is not an object', async () => {
        const empty = await request(t.baseUrl, 'POST', `${BASE}/store`, undefined, {
          'content-type': 'application/json',
        });
        expectError(empty, 400);
        for (const raw of ['[]', '"text"', '42', 'null', 'true']) {
          expectError(await store(raw), 400);
        }
      });

      it('should answer 400 or 415 to a body that is not sent as JSON', async () => {
        const res = await request(
          t.baseUrl,
          'POST',
          `${BASE}/store`,
          JSON.stringify({ instrument_id: 'CT', timeframe: 'ONE_MINUTE', data_points: valid() }),
          { 'content-type': 'text/plain' },
        );
        expect([400, 415]).toContain(res.status);
        expectError(res, res.status);
        expect((await queryAll('CT')).body.total_count).toBe(0);
      });

      it('should answer 400 naming the field to unknown enum values', async () => {
        const cases: [Record<string, unknown>, string][] = [
          [{ timeframe: 'TEN_MINUTES' }, 'timeframe'],
          [{ timeframe: 'one_minute' }, 'timeframe'],
          [{ timeframe: 1 }, 'timeframe'],
          [{ data_type: 'CANDLES' }, 'data_type'],
          [{ compression: 'ULTRA' }, 'compression'],
          [{ compression: 'high' }, 'compression'],
        ];
        for (const [override, field] of cases) {
          const res = await store({
            instrument_id: 'ENUMS',
            timeframe: 'ONE_MINUTE',
            data_points: valid(),
            ...override,
          });
          expectError(res, 400, field);
        }
        expect((await queryAll('ENUMS')).body.total_count).toBe(0);
      });

      it('should check bar points sent as TICK against the trade rules (docs/trades-and-quotes.md)', async () => {
        const res = await store({
          instrument_id: 'TICKS',
          timeframe: 'ONE_MINUTE',
          data_type: 'TICK',
          data_points: valid(),
        });
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ stored_count: 0, failed_count: valid().length });
        expect(res.body.errors[0]).toMatchObject({ index: 0, field: 'open' });
        expect((await queryAll('TICKS')).body.total_count).toBe(0);
      });

      it('should answer 400 naming instrument_id to hostile or malformed instrument ids', async () => {
        for (const instrument_id of [...HOSTILE_IDS, 42, null]) {
          const res = await store({ instrument_id, timeframe: 'ONE_MINUTE', data_points: valid() });
          expectError(res, 400, 'instrument_id');
        }
        const missing = await store({ timeframe: 'ONE_MINUTE', data_points: valid() });
        expectError(missing, 400, 'instrument_id');
      });

      it('should answer 400 naming an unknown top-level field and store nothing', async () => {
        const res = await store({
          instrument_id: 'EXTRA',
          timeframe: 'ONE_MINUTE',
          data_points: valid(),
          priority: 'urgent',
        });
        expectError(res, 400, 'priority');
        expect((await queryAll('EXTRA')).body.total_count).toBe(0);
      });

      it('should answer 400 when data_points is missing, empty or not an array', async () => {
        for (const data_points of [undefined, [], {}, 'points', null]) {
          const res = await store({ instrument_id: 'NOPTS', timeframe: 'ONE_MINUTE', data_points });
          expectError(res, 400, 'data_points');
        }
      });

      it('should ignore a __proto__ key instead of letting it reach an object', async () => {
        const raw =
          `{"instrument_id":"PROTO","timeframe":"ONE_MINUTE","__proto__":{"polluted":true},` +
          `"data_points":[{"timestamp":"${DAY}","open":1,"high":1,"low":1,"close":1,"volume":1}]}`;
        const res = await store(raw);
        expect([200, 400]).toContain(res.status);
        expectNoLeak(res.text);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      });
    });
  });

  describe('GET /query', () => {
    it('should project the requested fields and always include timestamp', async () => {
      const res = await query({
        instrument_id: 'DAY',
        timeframe: 'ONE_MINUTE',
        start_time: DAY,
        end_time: at(DAY, 3),
        fields: 'close,volume',
      });
      expect(res.status).toBe(200);
      expect(res.body.data_points).toEqual(
        fullDay
          .slice(0, 3)
          .map((b) => ({ timestamp: b.timestamp, close: b.close, volume: b.volume })),
      );
      for (const p of res.body.data_points)
        expect(Object.keys(p)).toEqual(['timestamp', 'close', 'volume']);

      const justTime = await query({
        instrument_id: 'DAY',
        timeframe: 'ONE_MINUTE',
        start_time: DAY,
        end_time: at(DAY, 2),
        fields: 'timestamp',
      });
      expect(justTime.body.data_points).toEqual([
        { timestamp: fullDay[0].timestamp },
        { timestamp: fullDay[1].timestamp },
      ]);
    });

    it('should page with limit and offset while total_count counts the whole range', async () => {
      const res = await query({
        instrument_id: 'DAY',
        timeframe: 'ONE_MINUTE',
        start_time: DAY,
        end_time: NEXT_DAY,
        limit: 10,
        offset: 25,
      });
      expect(res.status).toBe(200);
      expect(res.body.total_count).toBe(1440);
      expect(res.body.data_points).toEqual(fullDay.slice(25, 35));

      const last = await query({
        instrument_id: 'DAY',
        timeframe: 'ONE_MINUTE',
        start_time: DAY,
        end_time: NEXT_DAY,
        limit: 100,
        offset: 1400,
      });
      expect(last.body.total_count).toBe(1440);
      expect(last.body.data_points).toEqual(fullDay.slice(1400));

      const beyond = await query({
        instrument_id: 'DAY',
        timeframe: 'ONE_MINUTE',
        start_time: DAY,
        end_time: NEXT_DAY,
        offset: 5000,
      });
      expect(beyond.body.total_count).toBe(1440);
      expect(beyond.body.data_points).toEqual([]);
    });

    it('should return 1000 points by default', async () => {
      const res = await query({
        instrument_id: 'DAY',
        timeframe: 'ONE_MINUTE',
        start_time: DAY,
        end_time: NEXT_DAY,
      });
      expect(res.body.total_count).toBe(1440);
      expect(res.body.data_points).toEqual(fullDay.slice(0, 1000));
    });

    it('should treat the range as half-open [start_time, end_time)', async () => {
      const res = await query({
        instrument_id: 'DAY',
        timeframe: 'ONE_MINUTE',
        start_time: fullDay[10].timestamp,
        end_time: fullDay[20].timestamp,
      });
      expect(res.body.total_count).toBe(10);
      expect(res.body.data_points).toEqual(fullDay.slice(10, 20));

      // Bounds in another zone mean the same instants.
      const zoned = await query({
        instrument_id: 'DAY',
        timeframe: 'ONE_MINUTE',
        start_time: '2025-06-20T02:10:00+02:00',
        end_time: '2025-06-20T02:20:00+02:00',
      });
      expect(zoned.body.data_points).toEqual(fullDay.slice(10, 20));
    });

    it('should answer an empty page for a range or instrument with no data', async () => {
      const res = await query({
        instrument_id: 'NOBODY',
        timeframe: 'ONE_HOUR',
        start_time: DAY,
        end_time: NEXT_DAY,
      });
      expect(res.status).toBe(200);
      expect(res.body.total_count).toBe(0);
      expect(res.body.data_points).toEqual([]);
      expect(res.body.derived_from).toBeUndefined();
    });

    it.each([
      ['FIVE_MINUTES', 5 * MINUTE, 288],
      ['FIFTEEN_MINUTES', 15 * MINUTE, 96],
      ['ONE_HOUR', 60 * MINUTE, 24],
      ['ONE_DAY', 1440 * MINUTE, 1],
    ])(
      'should derive %s bars from ONE_MINUTE with correct aggregation',
      async (timeframe, stepMs, count) => {
        const res = await query({
          instrument_id: 'DAY',
          timeframe,
          start_time: DAY,
          end_time: NEXT_DAY,
          limit: 1000,
        });
        expect(res.status).toBe(200);
        expect(res.body.timeframe).toBe(timeframe);
        expect(res.body.derived_from).toBe('ONE_MINUTE');
        expect(res.body.total_count).toBe(count);
        const expected = aggregate(fullDay, stepMs);
        expect(expected).toHaveLength(count);
        expect(res.body.data_points).toHaveLength(count);
        res.body.data_points.forEach((point, i) => {
          const { dollar_volume, ...exact } = expected[i];
          expect(point).toEqual({ ...exact, dollar_volume: expect.any(Number) });
          expect(point.dollar_volume as number).toBeCloseTo(dollar_volume, 2);
        });
      },
    );

    it('should derive only whole buckets that start inside the range, with paging and fields', async () => {
      const res = await query({
        instrument_id: 'DAY',
        timeframe: 'FIVE_MINUTES',
        start_time: '2025-06-20T10:02:00Z',
        end_time: '2025-06-20T10:31:00Z',
        fields: 'open,close,volume',
        limit: 3,
        offset: 1,
      });
      expect(res.status).toBe(200);
      expect(res.body.derived_from).toBe('ONE_MINUTE');
      // Buckets 10:05 .. 10:30 start in [10:02, 10:31): six of them; page 2..4.
      expect(res.body.total_count).toBe(6);
      const expected = aggregate(fullDay, 5 * MINUTE)
        .filter(
          (b) => b.timestamp >= '2025-06-20T10:05' && b.timestamp <= '2025-06-20T10:30:00.000Z',
        )
        .slice(1, 4)
        .map((b) => ({ timestamp: b.timestamp, open: b.open, close: b.close, volume: b.volume }));
      expect(res.body.data_points).toEqual(expected);
    });

    it('should prefer stored bars of the timeframe over deriving them', async () => {
      const hourly = makeBars(DAY, 3, 60 * MINUTE, 41);
      const minutes = makeBars(DAY, 180, MINUTE, 42);
      await store({ instrument_id: 'MIXED', timeframe: 'ONE_MINUTE', data_points: minutes });
      await store({ instrument_id: 'MIXED', timeframe: 'ONE_HOUR', data_points: hourly });
      const res = await query({
        instrument_id: 'MIXED',
        timeframe: 'ONE_HOUR',
        start_time: DAY,
        end_time: NEXT_DAY,
      });
      expect(res.body.derived_from).toBeUndefined();
      expect(res.body.data_points).toEqual(hourly);
    });

    it('should answer 400 to a limit above 100000 and other bad paging', async () => {
      const base = {
        instrument_id: 'DAY',
        timeframe: 'ONE_MINUTE',
        start_time: DAY,
        end_time: NEXT_DAY,
      };
      expectError(await query({ ...base, limit: 100_001 }), 400, 'limit');
      expectError(await query({ ...base, limit: 0 }), 400, 'limit');
      expectError(await query({ ...base, limit: 'ten' }), 400, 'limit');
      expectError(await query({ ...base, limit: '1.5' }), 400, 'limit');
      expectError(await query({ ...base, offset: -1 }), 400, 'offset');
      expectError(await query({ ...base, offset: 'x' }), 400, 'offset');
      const max = await query({ ...base, limit: 100_000 });
      expect(max.status).toBe(200);
    });

    it('should answer 400 naming an unknown query parameter', async () => {
      const res = await query({
        instrument_id: 'DAY',
        timeframe: 'ONE_MINUTE',
        start_time: DAY,
        end_time: NEXT_DAY,
        page: 2,
      });
      expectError(res, 400, 'page');
    });

    it('should answer 400 naming fields for an unknown field in fields=', async () => {
      const base = {
        instrument_id: 'DAY',
        timeframe: 'ONE_MINUTE',
        start_time: DAY,
        end_time: NEXT_DAY,
      };
      for (const fields of [
        'open,bogus',
        'volume;DROP TABLE x',
        'open,,close',
        'Open',
        'open_price',
        '*',
      ]) {
        expectError(await query({ ...base, fields }), 400, 'fields');
      }
    });

    it('should answer 400 to missing, malformed or inverted bounds', async () => {
      const base = {
        instrument_id: 'DAY',
        timeframe: 'ONE_MINUTE',
        start_time: DAY,
        end_time: NEXT_DAY,
      };
      expectError(await query({ ...base, start_time: undefined }), 400, 'start_time');
      expectError(await query({ ...base, end_time: undefined }), 400, 'end_time');
      expectError(await query({ ...base, start_time: '' }), 400, 'start_time');
      expectError(await query({ ...base, start_time: 'yesterday' }), 400, 'start_time');
      expectError(await query({ ...base, start_time: '2025-06-20T00:00:00' }), 400, 'start_time');
      expectError(await query({ ...base, end_time: '2025-13-01T00:00:00Z' }), 400, 'end_time');
      expectError(await query({ ...base, start_time: NEXT_DAY, end_time: DAY }), 400, 'end_time');
      expectError(await query({ ...base, start_time: DAY, end_time: DAY }), 400, 'end_time');
    });

    it('should answer 400 to unknown timeframes and hostile instrument ids', async () => {
      const base = {
        instrument_id: 'DAY',
        timeframe: 'ONE_MINUTE',
        start_time: DAY,
        end_time: NEXT_DAY,
      };
      expectError(await query({ ...base, timeframe: 'TEN_MINUTES' }), 400, 'timeframe');
      expectError(await query({ ...base, timeframe: undefined }), 400, 'timeframe');
      for (const instrument_id of HOSTILE_IDS) {
        expectError(await query({ ...base, instrument_id }), 400, 'instrument_id');
      }
      expectError(await query({ ...base, instrument_id: undefined }), 400, 'instrument_id');
    });

    it('should answer 400 to a repeated query parameter', async () => {
      const res = await request(
        t.baseUrl,
        'GET',
        `${BASE}/query?instrument_id=DAY&instrument_id=X&timeframe=ONE_MINUTE&start_time=${DAY}&end_time=${NEXT_DAY}`,
      );
      expectError(res, 400, 'instrument_id');
    });
  });

  describe('GET /instruments/{id}/latest', () => {
    it('should return the newest point of the series', async () => {
      const res = await latest('DAY', { timeframe: 'ONE_MINUTE' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual(fullDay[1439]);
      const projected = await latest('DAY', { timeframe: 'ONE_MINUTE', fields: 'close' });
      expect(projected.body).toEqual({
        timestamp: fullDay[1439].timestamp,
        close: fullDay[1439].close,
      });
    });

    it('should answer 404 when the series holds no point', async () => {
      expectError(await latest('NOBODY', { timeframe: 'ONE_MINUTE' }), 404);
      // DAY's ONE_HOUR is derived from its minutes (test/latest-derived.e2e-spec.ts).
      expectError(await latest('NOBODY', { timeframe: 'ONE_HOUR' }), 404);
    });

    it('should accept an instrument id with "/" sent URL-encoded as %2F', async () => {
      const bars = makeBars(DAY, 3, MINUTE, 51);
      const res = await store({
        instrument_id: 'BTC/USD',
        timeframe: 'ONE_MINUTE',
        data_points: bars,
      });
      expect(res.body.stored_count).toBe(3);
      const l = await request(
        t.baseUrl,
        'GET',
        `${BASE}/instruments/BTC%2FUSD/latest?timeframe=ONE_MINUTE`,
      );
      expect(l.status).toBe(200);
      expect(l.body).toEqual(bars[2]);
      const q = await queryAll('BTC/USD');
      expect(q.body.instrument_id).toBe('BTC/USD');
      expect(q.body.data_points).toEqual(bars);
    });

    it('should answer 400 to a bad timeframe, unknown fields, unknown parameters and hostile ids', async () => {
      expectError(await latest('DAY', {}), 400, 'timeframe');
      expectError(await latest('DAY', { timeframe: 'WEEKLY' }), 400, 'timeframe');
      expectError(
        await latest('DAY', { timeframe: 'ONE_MINUTE', fields: 'close,nope' }),
        400,
        'fields',
      );
      expectError(await latest('DAY', { timeframe: 'ONE_MINUTE', extra: '1' }), 400, 'extra');
      for (const id of HOSTILE_IDS.filter((s) => s !== '')) {
        expectError(await latest(id, { timeframe: 'ONE_MINUTE' }), 400, 'instrument_id');
      }
    });
  });

  describe('DELETE /instruments/{id}', () => {
    it('should delete the half-open range, report deleted_count, and the rows are gone', async () => {
      const bars = makeBars(DAY, 60, MINUTE, 61);
      await store({ instrument_id: 'DEL', timeframe: 'ONE_MINUTE', data_points: bars });
      await store({ instrument_id: 'KEEP', timeframe: 'ONE_MINUTE', data_points: bars });
      const res = await remove('DEL', {
        start_time: bars[10].timestamp,
        end_time: '2025-06-20T00:20:00Z',
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        instrument_id: 'DEL',
        deleted_count: 10,
        start_time: '2025-06-20T00:10:00.000Z',
        end_time: '2025-06-20T00:20:00.000Z',
      });
      const q = await queryAll('DEL');
      expect(q.body.total_count).toBe(50);
      expect(q.body.data_points).toEqual([...bars.slice(0, 10), ...bars.slice(20)]);
      // Another instrument is untouched.
      expect((await queryAll('KEEP')).body.data_points).toEqual(bars);

      const again = await remove('DEL', {
        start_time: bars[10].timestamp,
        end_time: bars[20].timestamp,
      });
      expect(again.body.deleted_count).toBe(0);
    });

    it('should delete only the given timeframe when one is named, all timeframes otherwise', async () => {
      const minutes = makeBars(DAY, 120, MINUTE, 71);
      const hours = makeBars(DAY, 2, 60 * MINUTE, 72);
      await store({ instrument_id: 'DELTF', timeframe: 'ONE_MINUTE', data_points: minutes });
      await store({ instrument_id: 'DELTF', timeframe: 'ONE_HOUR', data_points: hours });
      const one = await remove('DELTF', {
        start_time: DAY,
        end_time: NEXT_DAY,
        timeframe: 'ONE_HOUR',
      });
      expect(one.body.deleted_count).toBe(2);
      expect((await queryAll('DELTF')).body.total_count).toBe(120);
      await store({ instrument_id: 'DELTF', timeframe: 'ONE_HOUR', data_points: hours });
      const all = await remove('DELTF', { start_time: DAY, end_time: NEXT_DAY });
      expect(all.body.deleted_count).toBe(122);
      expect((await queryAll('DELTF')).body.total_count).toBe(0);
      expectError(await latest('DELTF', { timeframe: 'ONE_HOUR' }), 404);
    });

    it('should delete an instrument id holding "/" sent as %2F', async () => {
      const bars = makeBars(DAY, 5, MINUTE, 81);
      await store({ instrument_id: 'EUR/USD', timeframe: 'ONE_MINUTE', data_points: bars });
      const res = await request<DeleteBody>(
        t.baseUrl,
        'DELETE',
        `${BASE}/instruments/EUR%2FUSD?${qs({ start_time: DAY, end_time: NEXT_DAY })}`,
      );
      expect(res.status).toBe(200);
      expect(res.body.instrument_id).toBe('EUR/USD');
      expect(res.body.deleted_count).toBe(5);
    });

    it('should answer 400 without both bounds and delete nothing', async () => {
      const bars = makeBars(DAY, 5, MINUTE, 91);
      await store({ instrument_id: 'NOWIPE', timeframe: 'ONE_MINUTE', data_points: bars });
      expectError(await remove('NOWIPE', {}), 400);
      expectError(await remove('NOWIPE', { start_time: DAY }), 400, 'end_time');
      expectError(await remove('NOWIPE', { end_time: NEXT_DAY }), 400, 'start_time');
      expectError(await remove('NOWIPE', { start_time: '', end_time: '' }), 400);
      expect((await queryAll('NOWIPE')).body.total_count).toBe(5);
    });

    it('should answer 400 when end_time is not after start_time, and to other bad input', async () => {
      const bars = makeBars(DAY, 5, MINUTE, 92);
      await store({ instrument_id: 'INVERT', timeframe: 'ONE_MINUTE', data_points: bars });
      expectError(await remove('INVERT', { start_time: NEXT_DAY, end_time: DAY }), 400, 'end_time');
      expectError(await remove('INVERT', { start_time: DAY, end_time: DAY }), 400, 'end_time');
      expectError(
        await remove('INVERT', { start_time: 'x', end_time: NEXT_DAY }),
        400,
        'start_time',
      );
      expectError(
        await remove('INVERT', { start_time: DAY, end_time: NEXT_DAY, timeframe: 'HOURLY' }),
        400,
        'timeframe',
      );
      expectError(
        await remove('INVERT', { start_time: DAY, end_time: NEXT_DAY, all: 'true' }),
        400,
        'all',
      );
      for (const id of HOSTILE_IDS.filter((s) => s !== '')) {
        expectError(
          await remove(id, { start_time: DAY, end_time: NEXT_DAY }),
          400,
          'instrument_id',
        );
      }
      expect((await queryAll('INVERT')).body.total_count).toBe(5);
    });
  });

  describe('health and documentation', () => {
    it('should report storage health with the engine in use', async () => {
      const res = await request(t.baseUrl, 'GET', `${BASE}/health`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(
        expect.objectContaining({
          status: 'healthy',
          version: expect.any(String),
          uptime_s: expect.any(Number),
          cache: expect.any(Object),
          events: expect.any(Object),
        }),
      );
      expect(res.body.database).toEqual(
        expect.objectContaining({
          up: true,
          engine: reportedEngine(engine),
          embedded: engine === 'embedded',
          server_version: expect.any(String),
          latency_ms: expect.any(Number),
        }),
      );
      if (capabilitiesOf(engine).timescale)
        expect(res.body.database.timescaledb_version).toEqual(expect.any(String));
      else expect(res.body.database.timescaledb_version).toBeNull();
      expectNoLeak(res.text);
    });

    it('should answer the liveness and readiness probes', async () => {
      const live = await request(t.baseUrl, 'GET', '/health/live');
      expect(live.status).toBe(200);
      expect(live.body).toEqual({ status: 'ok' });
      const ready = await request(t.baseUrl, 'GET', '/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('ok');
      expect(ready.body.info.database.status).toBe('up');
    });

    it('should serve an OpenAPI document listing the five storage paths', async () => {
      const res = await request(t.baseUrl, 'GET', '/api/docs-json');
      expect(res.status).toBe(200);
      expect(res.body.openapi).toMatch(/^3\./);
      const paths = res.body.paths as Record<string, Record<string, unknown>>;
      const storagePaths = Object.keys(paths).filter((p) => p.startsWith(BASE));
      // The five of the contract (later modules may add more).
      expect(storagePaths).toEqual(
        expect.arrayContaining([
          `${BASE}/health`,
          `${BASE}/instruments/{instrument_id}`,
          `${BASE}/instruments/{instrument_id}/latest`,
          `${BASE}/query`,
          `${BASE}/store`,
        ]),
      );
      expect(Object.keys(paths[`${BASE}/store`])).toContain('post');
      expect(Object.keys(paths[`${BASE}/query`])).toContain('get');
      expect(Object.keys(paths[`${BASE}/instruments/{instrument_id}/latest`])).toContain('get');
      expect(Object.keys(paths[`${BASE}/instruments/{instrument_id}`])).toContain('delete');
      expect(Object.keys(paths[`${BASE}/health`])).toContain('get');
    });

    it('should describe the answer of every data kind in the OpenAPI document', async () => {
      const res = await request(t.baseUrl, 'GET', '/api/docs-json');
      const ok = (path: string) =>
        JSON.stringify(res.body.paths[`${BASE}${path}`].get.responses['200'].content);
      const schemas = res.body.components.schemas as Record<
        string,
        { properties: Record<string, unknown> }
      >;

      for (const dto of ['QueryResponseDto', 'TradesPageResponseDto', 'QuotesPageResponseDto']) {
        expect(ok('/query')).toContain(`#/components/schemas/${dto}`);
      }
      for (const dto of [
        'LatestBarResponseDto',
        'TradePointResponseDto',
        'QuotePointResponseDto',
      ]) {
        expect(ok('/instruments/{instrument_id}/latest')).toContain(`#/components/schemas/${dto}`);
      }
      expect(Object.keys(schemas.TradesPageResponseDto.properties).sort()).toEqual(
        [
          'cache_hit',
          'data_points',
          'data_type',
          'instrument_id',
          'next_cursor',
          'query_time_ms',
          'total_count',
        ].sort(),
      );
      expect(Object.keys(schemas.QuotePointResponseDto.properties)).toEqual([
        'timestamp',
        'bid',
        'ask',
        'bid_size',
        'ask_size',
        'source',
      ]);
    });

    it('should answer 404 with the error shape to an unknown route', async () => {
      expectError(await request(t.baseUrl, 'GET', `${BASE}/nothing-here`), 404);
      expectError(await request(t.baseUrl, 'POST', `${BASE}/query`, {}), 404);
    });
  });

  describe('size limits', () => {
    let small: TestApp;

    beforeAll(async () => {
      small = await startTestApp(engine, { BODY_LIMIT_BYTES: '2048', MAX_POINTS_PER_REQUEST: '5' });
    });

    afterAll(async () => {
      await small?.close();
    });

    const storeSmall = (body: unknown) =>
      request<StoreBody>(small.baseUrl, 'POST', `${BASE}/store`, body);
    const countSmall = async (instrument_id: string) =>
      (
        await request<QueryBody>(
          small.baseUrl,
          'GET',
          `${BASE}/query?${qs({ instrument_id, timeframe: 'ONE_MINUTE', start_time: DAY, end_time: NEXT_DAY })}`,
        )
      ).body.total_count;

    it('should answer 413 to a body above BODY_LIMIT_BYTES and store nothing', async () => {
      const body = JSON.stringify({
        instrument_id: 'BIG',
        timeframe: 'ONE_MINUTE',
        data_points: makeBars(DAY, 4, MINUTE, 101),
        source_note: 'x'.repeat(3000),
      });
      expect(Buffer.byteLength(body)).toBeGreaterThan(2048);
      expectError(await storeSmall(body), 413);
      expect(await countSmall('BIG')).toBe(0);
    });

    it('should answer 413 to more points than MAX_POINTS_PER_REQUEST and store nothing', async () => {
      const points = makeBars(DAY, 6, MINUTE, 102).map(
        ({ timestamp, open, high, low, close, volume }) => ({
          timestamp,
          open,
          high,
          low,
          close,
          volume,
        }),
      );
      const body = JSON.stringify({
        instrument_id: 'MANY',
        timeframe: 'ONE_MINUTE',
        data_points: points,
      });
      expect(Buffer.byteLength(body)).toBeLessThan(2048);
      expectError(await storeSmall(body), 413);
      expect(await countSmall('MANY')).toBe(0);

      const ok = await storeSmall({
        instrument_id: 'MANY',
        timeframe: 'ONE_MINUTE',
        data_points: points.slice(0, 5),
      });
      expect(ok.status).toBe(200);
      expect(ok.body.stored_count).toBe(5);
      expect(await countSmall('MANY')).toBe(5);
    });
  });
});
