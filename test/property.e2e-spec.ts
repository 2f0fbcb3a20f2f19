import fc from 'fast-check';
import { Client } from 'pg';
import { anyStoreBody, seriesPoints, validInstrumentId } from './support/arbitraries';
import { clientChecksum, instantOf, SentPoint, volumeText } from './support/client-checksum';
import { ENGINES } from './support/test-database';
import { JsonResponse, request, startTestApp, TestApp } from './support/test-app';

/**
 * Bad input, systematically (issue 7 item 4): property-based and explicit
 * cases over the store, query, latest, delete and integrity endpoints.
 */

const BASE = '/api/v1/storage';
/** Runs per property and engine: enough to find the classes of bugs, few enough to stay fast. */
const RUNS = 60;

/** Exactly the error shape, and nothing leaked. */
function expectClientError(res: JsonResponse, statuses: number[] = [400, 413]): void {
  expect(statuses).toContain(res.status);
  expect(
    Object.keys(res.body as object).every((k) =>
      ['statusCode', 'error', 'message', 'field'].includes(k),
    ),
  ).toBe(true);
  expect(res.text).not.toMatch(/\bat \S+ \(|\.ts:\d+|SELECT|market_data_ts/);
}

/** A store answer's counts add up to the points sent. */
function expectStoreAnswer(res: JsonResponse, sent: number): void {
  expect(res.status).toBe(200);
  const body = res.body as { stored_count: number; failed_count: number; superseded_count: number };
  expect(body.stored_count + body.failed_count + body.superseded_count).toBe(sent);
}

/** The last sent point per instant, ascending, as the query answers it (-0 read back as 0). */
function expectedRows(points: readonly SentPoint[]) {
  const byInstant = new Map<number, SentPoint>();
  for (const p of points) byInstant.set(instantOf(p.timestamp), p);
  const plain = (v: number) => (v === 0 ? 0 : v);
  return [...byInstant.entries()]
    .sort(([a], [b]) => a - b)
    .map(([ms, p]) => ({
      timestamp: new Date(ms).toISOString(),
      open: plain(p.open),
      high: plain(p.high),
      low: plain(p.low),
      close: plain(p.close),
      // Compared as text below: JSON.parse would round volumes above 2^53.
      dollar_volume: p.dollar_volume == null ? null : plain(p.dollar_volume),
      trade_count: p.trade_count ?? null,
    }));
}

/** Volumes of a query answer as exact decimal text (a JSON number or a decimal string), in order. */
function volumesOf(text: string): string[] {
  return [...text.matchAll(/"volume":"?([\d.]+)/g)].map((m) => m[1]);
}

describe.each(ENGINES)('bad input on %s', (engine) => {
  let t: TestApp;
  let series = 0;
  const call = (method: string, path: string, body?: unknown) =>
    request(t.baseUrl, method, path, body);
  const store = (body: unknown) => call('POST', `${BASE}/store`, body);
  const range = (id: string, from: number, to: number) =>
    `instrument_id=${encodeURIComponent(id)}&timeframe=ONE_MINUTE&start_time=${new Date(from).toISOString()}&end_time=${new Date(to).toISOString()}`;

  beforeAll(async () => {
    // The whole accepted span of years in one query; no rate limit in the way.
    t = await startTestApp(engine, { MAX_QUERY_RANGE_DAYS: '110000', RATE_LIMIT_REQUESTS: '0' });
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('properties', () => {
    it('should answer any JSON body of POST /store with 2xx or 4xx, never 5xx', async () => {
      await fc.assert(
        fc.asyncProperty(anyStoreBody, async (body) => {
          const res = await store(body);
          if (res.status === 200) {
            const sent = (JSON.parse(body) as { data_points: unknown[] }).data_points.length;
            expectStoreAnswer(res, sent);
          } else {
            expectClientError(res);
          }
        }),
        { numRuns: RUNS },
      );
    });

    it('should store every valid point and give back exactly the values sent', async () => {
      await fc.assert(
        fc.asyncProperty(seriesPoints, async (points) => {
          const id = `RT${engine[0]}${++series}`;
          const res = await store({
            instrument_id: id,
            timeframe: 'ONE_MINUTE',
            data_points: points,
          });
          expect(res.body.failed_count).toBe(0);
          const expected = expectedRows(points);
          expect(res.body.stored_count).toBe(expected.length);

          const instants = points.map((p) => instantOf(p.timestamp));
          const from = Math.min(...instants);
          const to = Math.max(...instants) + 60_000;
          const read = await call('GET', `${BASE}/query?${range(id, from, to)}`);
          expect(read.status).toBe(200);
          const rows = (read.body.data_points as Record<string, unknown>[]).map(
            ({ volume: _volume, ...rest }) => rest,
          );
          expect(rows).toEqual(expected);
          const lastByInstant = new Map(points.map((p) => [instantOf(p.timestamp), p]));
          expect(volumesOf(read.text)).toEqual(
            [...lastByInstant.entries()]
              .sort(([a], [b]) => a - b)
              .map(([, p]) => volumeText(p.volume)),
          );

          // Every stored column, quality_score and source included, through the checksum.
          const check = await call(
            'GET',
            `${BASE}/instruments/${encodeURIComponent(id)}/integrity?${range(id, from, to).replace(/^instrument_id=[^&]*&/, '')}`,
          );
          expect(check.status).toBe(200);
          expect(check.body.checksum.value).toBe(clientChecksum(points));
        }),
        { numRuns: RUNS },
      );
    });

    it('should answer any query string of the read, delete and integrity routes with 2xx or 4xx', async () => {
      const value = fc.oneof(
        fc.string({ unit: 'binary', maxLength: 30 }),
        fc.constantFrom(
          'AAPL',
          'ONE_MINUTE',
          'TWO',
          '2025-06-21T10:00:00Z',
          '2025-02-29T00:00:00Z',
          '1e3',
          '-1',
          '100001',
          'close,vwap',
          '',
        ),
      );
      const params = fc.dictionary(
        fc.oneof(
          fc.constantFrom(
            'instrument_id',
            'timeframe',
            'start_time',
            'end_time',
            'fields',
            'limit',
            'offset',
          ),
          fc.string({ maxLength: 8 }),
        ),
        value,
        { maxKeys: 8 },
      );
      const path = fc.oneof(
        fc.constant('query'),
        fc
          .oneof(validInstrumentId, fc.string({ unit: 'binary', maxLength: 25 }))
          .chain((id) =>
            fc.constantFrom(
              `instruments/${encodeURIComponent(id)}/latest`,
              `instruments/${encodeURIComponent(id)}/integrity`,
              `instruments/${encodeURIComponent(id)}`,
            ),
          ),
      );
      await fc.assert(
        fc.asyncProperty(path, params, fc.boolean(), async (route, query, remove) => {
          const method = route.split('/').length === 2 && remove ? 'DELETE' : 'GET';
          const res = await call(
            method,
            `${BASE}/${route}?${new URLSearchParams(query).toString()}`,
          );
          if (res.status >= 300) expectClientError(res, [400, 404]);
        }),
        { numRuns: RUNS * 2 },
      );
    });
  });

  describe('explicit cases', () => {
    const point = (overrides: Record<string, unknown> = {}) => ({
      timestamp: '2025-06-20T10:00:00Z',
      open: 10,
      high: 11,
      low: 9,
      close: 10.5,
      volume: 100,
      ...overrides,
    });
    const storeOne = (id: string, overrides: Record<string, unknown>) =>
      store({ instrument_id: id, timeframe: 'ONE_MINUTE', data_points: [point(overrides)] });

    it.each<[string, Record<string, unknown>, string]>([
      ['NaN as a string', { open: 'NaN' }, 'open'],
      ['Infinity as a string', { high: 'Infinity' }, 'high'],
      ['-Infinity as a string', { low: '-Infinity' }, 'low'],
      ['a numeric string price', { close: '10.5' }, 'close'],
      ['a negative volume', { volume: -1 }, 'volume'],
      ['a volume with 19 fraction digits', { volume: '0.0000000000000000001' }, 'volume'],
      ['a volume in exponent form as a string', { volume: '1e3' }, 'volume'],
      ['a volume above 2^53 as a number', { volume: 2 ** 53 + 2 }, 'volume'],
      ['a volume above 2^63-1', { volume: '9223372036854775808' }, 'volume'],
      ['a volume string with a sign', { volume: '+5' }, 'volume'],
      ['a price as an object', { open: { value: 10 } }, 'open'],
      [
        'a deeply nested source',
        { source: JSON.parse('{"a":'.repeat(500) + '1' + '}'.repeat(500)) },
        'source',
      ],
      ['a lone surrogate in source', { source: 'bad\ud800' }, 'source'],
      ['a control character in source', { source: 'a\u0007b' }, 'source'],
      ['29 February of a common year', { timestamp: '2025-02-29T00:00:00Z' }, 'timestamp'],
      ['29 February 2100 (not a leap year)', { timestamp: '2100-02-29T00:00:00Z' }, 'timestamp'],
      ['a time without a zone', { timestamp: '2025-06-20T10:00:00' }, 'timestamp'],
      [
        'an offset that is not a bar start in UTC',
        { timestamp: '2025-06-20T10:00:00+00:30:00' },
        'timestamp',
      ],
      ['a 30-second offset bar', { timestamp: '2025-06-20T10:00:30Z' }, 'timestamp'],
    ])('should reject %s naming the field, storing the rest', async (_name, overrides, field) => {
      const res = await store({
        instrument_id: 'EXPL',
        timeframe: 'ONE_MINUTE',
        data_points: [point({ timestamp: '2025-06-19T00:00:00Z' }), point(overrides)],
      });

      expectStoreAnswer(res, 2);
      expect(res.body.stored_count).toBe(1);
      expect(res.body.errors).toEqual([
        { index: 1, field, message: expect.stringMatching(new RegExp(`^${field} `)) },
      ]);
    });

    it('should reject 1e400 (Infinity once parsed) and keep -0 as 0', async () => {
      const raw =
        '{"instrument_id":"RAW","timeframe":"ONE_MINUTE","data_points":[' +
        '{"timestamp":"2025-06-20T10:00:00Z","open":1e400,"high":1e400,"low":1,"close":1,"volume":1},' +
        '{"timestamp":"2025-06-20T10:01:00Z","open":-0,"high":-0.0,"low":-0,"close":-0E5,"volume":-0}]}';
      const res = await store(raw);

      expect(res.body).toMatchObject({ stored_count: 1, failed_count: 1 });
      expect(res.body.errors[0]).toMatchObject({ index: 0, field: 'open' });
      const read = await call(
        'GET',
        `${BASE}/query?${range('RAW', Date.parse('2025-06-20T10:00:00Z'), Date.parse('2025-06-20T10:02:00Z'))}`,
      );
      expect(read.text).toContain('"open":0,"high":0,"low":0,"close":0,"volume":0');
    });

    it('should store huge, tiny and negative prices exactly', async () => {
      const points = [
        point({
          open: 1.7976931348623157e308,
          high: 1.7976931348623157e308,
          low: -1.7976931348623157e308,
          close: 0,
        }),
        point({
          timestamp: '2025-06-20T10:01:00Z',
          open: -5e-324,
          high: 5e-324,
          low: -5e-324,
          close: 5e-324,
        }),
        point({
          timestamp: '2025-06-20T10:02:00Z',
          open: -37.63,
          high: -1e-7,
          low: -40.5,
          close: -1e-7,
        }),
      ];
      expect((await storeOne('HUGE', {})).status).toBe(200);
      const res = await store({
        instrument_id: 'HUGE',
        timeframe: 'ONE_MINUTE',
        data_points: points,
      });
      expect(res.body.failed_count).toBe(0);

      const read = await call(
        'GET',
        `${BASE}/query?${range('HUGE', Date.parse('2025-06-20T10:00:00Z'), Date.parse('2025-06-20T10:03:00Z'))}`,
      );
      expect(
        (read.body.data_points as Record<string, unknown>[]).map(({ volume: _v, ...p }) => p),
      ).toEqual(expectedRows(points));
    });

    it('should refuse control, bidi and edge-space characters in instrument_id with 400 on every route', async () => {
      for (const id of [
        'A\u0000B',
        'A\nB',
        'A\u202eB',
        'A\u200bB',
        ' AAPL',
        'AAPL\u3000',
        'A'.repeat(21),
        '😀'.repeat(21),
      ]) {
        expectClientError(await storeOne(id, {}), [400]);
        expect((await storeOne(id, {})).body.field).toBe('instrument_id');
        const encoded = encodeURIComponent(id);
        for (const path of [
          `${BASE}/instruments/${encoded}/latest?timeframe=ONE_MINUTE`,
          `${BASE}/instruments/${encoded}/integrity?timeframe=ONE_MINUTE&start_time=2025-06-20T00:00:00Z&end_time=2025-06-21T00:00:00Z`,
          `${BASE}/query?instrument_id=${encoded}&timeframe=ONE_MINUTE&start_time=2025-06-20T00:00:00Z&end_time=2025-06-21T00:00:00Z`,
        ]) {
          const res = await call('GET', path);
          expectClientError(res, [400]);
          expect(res.body.field).toBe('instrument_id');
        }
      }
    });

    it('should place bars sent with local offsets across DST changes on one UTC grid', async () => {
      // New York, 9 March 2025: 01:58-05:00, 01:59-05:00, then 03:00-04:00 (02:xx does not exist).
      const local = [
        '2025-03-09T01:58:00-05:00',
        '2025-03-09T01:59:00-05:00',
        '2025-03-09T03:00:00-04:00',
        '2025-03-09T03:01:00-04:00',
      ];
      // Berlin, 26 October 2025: 02:59+02:00, then 02:00+01:00 (02:xx happens twice).
      const berlin = [
        '2025-10-26T02:59:00+02:00',
        '2025-10-26T02:00:00+01:00',
        '2025-10-26T02:01:00+0100',
      ];
      for (const [id, stamps] of [
        ['DSTNY', local],
        ['DSTDE', berlin],
      ] as const) {
        const res = await store({
          instrument_id: id,
          timeframe: 'ONE_MINUTE',
          data_points: stamps.map((timestamp) => point({ timestamp })),
        });
        expect(res.body).toMatchObject({ stored_count: stamps.length, failed_count: 0 });
        const from = instantOf(stamps[0]);
        const check = await call(
          'GET',
          `${BASE}/instruments/${id}/integrity?timeframe=ONE_MINUTE&start_time=${new Date(from).toISOString()}&end_time=${new Date(from + 3_600_000).toISOString()}`,
        );
        expect(check.body).toMatchObject({
          count: stamps.length,
          gap_count: 0,
          expected_count: stamps.length,
        });
      }
    });

    it('should store and read bars of 1970, leap days and 2100', async () => {
      const stamps = [
        '1970-01-01T00:00:00Z',
        '1969-12-31T23:59:00Z',
        '2024-02-29T23:59:00Z',
        '2000-02-29T00:00:00Z',
        '2100-02-28T23:59:00Z',
        '2100-12-31T23:59:00Z',
      ];
      const points = stamps.map((timestamp) => point({ timestamp }));
      const res = await store({
        instrument_id: 'EPOCH',
        timeframe: 'ONE_MINUTE',
        data_points: points,
      });
      expect(res.body).toMatchObject({ stored_count: 6, failed_count: 0 });

      const read = await call(
        'GET',
        `${BASE}/query?${range('EPOCH', Date.parse('1969-01-01T00:00:00Z'), Date.parse('2101-01-01T00:00:00Z'))}`,
      );
      expect((read.body.data_points as { timestamp: string }[]).map((p) => p.timestamp)).toEqual(
        [...stamps].sort().map((s) => new Date(s).toISOString()),
      );
      const daily = await store({
        instrument_id: 'EPOCH',
        timeframe: 'ONE_DAY',
        data_points: [
          point({ timestamp: '1970-01-01T00:00:00Z' }),
          point({ timestamp: '2100-12-31T00:00:00Z' }),
        ],
      });
      expect(daily.body).toMatchObject({ stored_count: 2, failed_count: 0 });
    });

    it('should read duplicated JSON keys as the last one, like JSON.parse, and drop poisoning keys', async () => {
      const raw =
        '{"instrument_id":"FIRST","instrument_id":"DUPKEY","timeframe":"ONE_MINUTE","__proto__":{"polluted":true},' +
        '"data_points":[{"timestamp":"2025-06-20T10:00:00Z","open":1,"open":10,"high":11,"low":9,"close":10.5,' +
        '"volume":1,"volume":"7","constructor":{"prototype":{"polluted":true}}}]}';
      const res = await store(raw);

      // __proto__ and constructor.prototype are removed by the parser, before any rule sees them.
      expect(res.body).toMatchObject({ stored_count: 1, failed_count: 0 });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      const read = await call(
        'GET',
        `${BASE}/query?${range('DUPKEY', Date.parse('2025-06-20T10:00:00Z'), Date.parse('2025-06-20T10:01:00Z'))}`,
      );
      expect(read.body.data_points[0]).toMatchObject({ open: 10, volume: 7 });
      const first = await call(
        'GET',
        `${BASE}/query?${range('FIRST', 0, Date.parse('2100-01-01T00:00:00Z'))}`,
      );
      expect(first.body.total_count).toBe(0);
    });

    it.each([
      ['arrays', (n: number) => '['.repeat(n) + ']'.repeat(n)],
      ['objects', (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)],
    ])('should answer deeply nested %s with 4xx, never 5xx', async (_name, nest) => {
      for (const depth of [1_000, 100_000]) {
        const asBody = await store(nest(depth));
        expectClientError(asBody);
        const asPoints = await store(
          `{"instrument_id":"DEEP","timeframe":"ONE_MINUTE","data_points":[${nest(depth)}]}`,
        );
        if (asPoints.status === 200) expect(asPoints.body.failed_count).toBe(1);
        else expectClientError(asPoints);
      }
    });

    it('should answer 400 to bodies that are not JSON objects', async () => {
      for (const raw of ['', 'null', '[]', '"text"', '42', '{', '{"a":1}}', '\u0000']) {
        expectClientError(await store(raw));
      }
    });
  });
});

describe('partitions on postgresql', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp('postgresql');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('should create partitions only for the months that hold rows', async () => {
    const db = new Client({ connectionString: t.db.settings.databaseUrl });
    await db.connect();
    const partitions = async () =>
      (
        await db.query<{ name: string }>(
          `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'market_data_ts'::regclass`,
        )
      ).rows.map((r) => r.name);
    try {
      const before = await partitions();
      const res = await request(t.baseUrl, 'POST', `${BASE}/store`, {
        instrument_id: 'FAR',
        timeframe: 'ONE_MINUTE',
        data_points: ['1900-01-01T00:00:00Z', '2199-12-31T23:59:00Z'].map((timestamp) => ({
          timestamp,
          open: 1,
          high: 1,
          low: 1,
          close: 1,
          volume: 1,
        })),
      });
      expect(res.body.stored_count).toBe(2);

      const created = (await partitions()).filter((name) => !before.includes(name)).sort();
      expect(created).toEqual(['market_data_ts_y1900m01', 'market_data_ts_y2199m12']);
    } finally {
      await db.end();
    }
  });
});
