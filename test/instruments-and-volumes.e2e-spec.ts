import { JetStreamClient, NatsConnection } from 'nats';
import {
  connectNats,
  deleteStream,
  eventOf,
  EventNames,
  publishAll,
  uniqueEventNames,
  waitFor,
  waitForConsumer,
} from './support/events';
import { request, startTestApp, TestApp } from './support/test-app';
import { ENGINES } from './support/test-database';

/**
 * Real instruments and exact volumes (DESIGN 3): ids such as ^GSPC, BRK B,
 * ES=F and EUR/USD through every route (URL-encoded in paths) and the events
 * path; volumes fractional or beyond 2^53 stored and answered exactly, a
 * JSON number only where JSON.parse reads it exactly.
 */
const BASE = '/api/v1/storage';
// Real symbols, another script, and SQL-ish text (a valid id: it travels as a parameter).
const SYMBOLS = ['^GSPC', 'BRK B', 'ES=F', 'EUR/USD', '株式', "' OR '1'='1"];
const HOUR = '2025-06-23T13:00:00Z';
const MINUTE_MS = 60_000;

function bar(ms: number, volume: number | string) {
  return { timestamp: new Date(ms).toISOString(), open: 2, high: 3, low: 1, close: 2.5, volume };
}

/** The volumes of an answer exactly as its text writes them (quoted or not). */
function volumesOf(text: string): string[] {
  return [...text.matchAll(/"volume":("[^"]*"|[^,}]*)/g)].map((m) => m[1]);
}

describe.each(ENGINES)('instruments and volumes on %s', (engine) => {
  let t: TestApp;
  let names: EventNames;
  let nc: NatsConnection;
  let js: JetStreamClient;
  const call = (method: string, path: string, body?: unknown) =>
    request(t.baseUrl, method, path, body);
  const range = (from: string, to: string) =>
    `timeframe=ONE_MINUTE&start_time=${from}&end_time=${to}`;

  beforeAll(async () => {
    names = uniqueEventNames(`iv_${engine}`);
    nc = await connectNats();
    js = nc.jetstream();
    t = await startTestApp(engine, { ...names.env, RATE_LIMIT_REQUESTS: '0' });
    await waitForConsumer(t.baseUrl);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    if (nc) {
      await deleteStream(nc, names.stream);
      await nc.close();
    }
  });

  it.each(SYMBOLS)(
    'should store, query, read latest, configure and delete %p with URL-encoded paths',
    async (id) => {
      const path = encodeURIComponent(id);
      const from = Date.parse(HOUR);
      const stored = await call('POST', `${BASE}/store`, {
        instrument_id: id,
        timeframe: 'ONE_MINUTE',
        data_points: [bar(from, 10), bar(from + MINUTE_MS, 20)],
      });
      expect(stored.status).toBe(200);
      expect(stored.body).toMatchObject({ stored_count: 2, failed_count: 0 });

      const query = await call(
        'GET',
        `${BASE}/query?instrument_id=${path}&${range(HOUR, '2025-06-23T14:00:00Z')}`,
      );
      expect(query.status).toBe(200);
      expect(query.body).toMatchObject({ instrument_id: id, total_count: 2 });

      const latest = await call('GET', `${BASE}/instruments/${path}/latest?timeframe=ONE_MINUTE`);
      expect(latest.status).toBe(200);
      expect(latest.body).toMatchObject({ timestamp: '2025-06-23T13:01:00.000Z', volume: 20 });

      const integrity = await call(
        'GET',
        `${BASE}/instruments/${path}/integrity?${range(HOUR, '2025-06-23T13:02:00Z')}`,
      );
      expect(integrity.status).toBe(200);
      expect(integrity.body).toMatchObject({ count: 2 });

      const configuration = `${BASE}/configurations/${path}/ONE_MINUTE`;
      const put = await call('PUT', configuration, { compression_level: 'HIGH' });
      expect(put.status).toBe(201);
      expect(put.body).toMatchObject({ instrument_id: id, compression_level: 'HIGH' });
      expect((await call('GET', configuration)).body).toMatchObject({ instrument_id: id });
      const listed = await call('GET', `${BASE}/configurations`);
      expect(JSON.stringify(listed.body)).toContain(JSON.stringify(id));
      expect((await call('DELETE', configuration)).status).toBe(200);
      expect((await call('GET', configuration)).status).toBe(404);

      const deleted = await call(
        'DELETE',
        `${BASE}/instruments/${path}?start_time=${HOUR}&end_time=2025-06-24T00:00:00Z`,
      );
      expect(deleted.status).toBe(200);
      expect(deleted.body).toMatchObject({ instrument_id: id, deleted_count: 2 });
      // Deleted, and no cached answer outlives it.
      expect(
        (await call('GET', `${BASE}/instruments/${path}/latest?timeframe=ONE_MINUTE`)).status,
      ).toBe(404);
    },
  );

  it.each([
    ['a leading space', ' AAPL'],
    ['a trailing space', 'AAPL '],
    ['a tab', 'A\tB'],
    ['a NUL', 'A\u0000B'],
    ['a C1 control (NEL)', 'A\u0085B'],
    ['a bidi override', 'A\u202eB'],
    ['21 characters', 'A'.repeat(21)],
  ])(
    'should refuse an instrument_id with %s with a 400 naming it and the rule on every route',
    async (_what, id) => {
      const path = encodeURIComponent(id);
      const answers = [
        await call('POST', `${BASE}/store`, {
          instrument_id: id,
          timeframe: 'ONE_MINUTE',
          data_points: [bar(Date.parse(HOUR), 1)],
        }),
        await call(
          'GET',
          `${BASE}/query?instrument_id=${path}&${range(HOUR, '2025-06-24T00:00:00Z')}`,
        ),
        await call('GET', `${BASE}/instruments/${path}/latest?timeframe=ONE_MINUTE`),
        await call(
          'DELETE',
          `${BASE}/instruments/${path}?start_time=${HOUR}&end_time=2025-06-24T00:00:00Z`,
        ),
        await call('PUT', `${BASE}/configurations/${path}/ONE_MINUTE`, {
          compression_level: 'LOW',
        }),
      ];
      for (const answer of answers) {
        expect(answer.status).toBe(400);
        expect(answer.body).toMatchObject({
          statusCode: 400,
          error: 'Bad Request',
          field: 'instrument_id',
          message:
            'instrument_id must be 1-20 printable characters: no control or invisible formatting characters, no leading or trailing space',
        });
      }
    },
  );

  it('should keep fractional and huge volumes exact, numbers only where JSON.parse reads them exactly', async () => {
    const from = Date.parse(HOUR);
    const sent: (number | string)[] = [
      0.00012345,
      '9223372036854775807',
      (2n ** 53n + 1n).toString(),
      2 ** 53 - 1,
      // The first whole count JSON.parse cannot tell from its neighbour (2^53 + 1 reads as it).
      (2n ** 53n).toString(),
      '0.123456789012345678',
      '1.50',
    ];
    const stored = await call('POST', `${BASE}/store`, {
      instrument_id: 'VOL.X',
      timeframe: 'ONE_MINUTE',
      data_points: sent.map((volume, i) => bar(from + i * MINUTE_MS, volume)),
    });
    expect(stored.body).toMatchObject({ stored_count: sent.length, failed_count: 0 });

    const expected = [
      '0.00012345',
      '"9223372036854775807"',
      '"9007199254740993"',
      '9007199254740991',
      '"9007199254740992"',
      '"0.123456789012345678"',
      '1.5',
    ];
    const query = `${BASE}/query?instrument_id=VOL.X&${range(HOUR, '2025-06-23T14:00:00Z')}`;
    const first = await call('GET', query);
    expect(first.status).toBe(200);
    expect(volumesOf(first.text)).toEqual(expected);
    // JSON.parse reads each volume as exactly what was stored.
    expect((first.body.data_points as { volume: unknown }[]).map((p) => p.volume)).toEqual([
      0.00012345,
      '9223372036854775807',
      '9007199254740993',
      2 ** 53 - 1,
      '9007199254740992',
      '0.123456789012345678',
      1.5,
    ]);
    // A second read (from the cache where there is one) says the same.
    expect(volumesOf((await call('GET', query)).text)).toEqual(expected);

    const latest = await call('GET', `${BASE}/instruments/VOL.X/latest?timeframe=ONE_MINUTE`);
    expect(volumesOf(latest.text)).toEqual(['1.5']);

    const integrity = await call(
      'GET',
      `${BASE}/instruments/VOL.X/integrity?${range(HOUR, '2025-06-23T14:00:00Z')}`,
    );
    expect(integrity.status).toBe(200);
    expect(integrity.body).toMatchObject({ count: sent.length });
  });

  it('should sum fractional volumes exactly in a derived ONE_HOUR bar', async () => {
    const from = Date.parse(HOUR);
    // 60 x 0.1 is 6 in decimal (5.999999999999999 in doubles); 60 x 1.000000000000000001 needs 19 digits.
    const points = [
      ...Array.from({ length: 60 }, (_, i) => bar(from + i * MINUTE_MS, 0.1)),
      ...Array.from({ length: 60 }, (_, i) =>
        bar(from + (60 + i) * MINUTE_MS, '1.000000000000000001'),
      ),
    ];
    const stored = await call('POST', `${BASE}/store`, {
      instrument_id: 'VOL.SUM',
      timeframe: 'ONE_MINUTE',
      data_points: points,
    });
    expect(stored.body).toMatchObject({ stored_count: 120, failed_count: 0 });

    const derived = await call(
      'GET',
      `${BASE}/query?instrument_id=VOL.SUM&timeframe=ONE_HOUR&start_time=${HOUR}&end_time=2025-06-23T15:00:00Z`,
    );
    expect(derived.status).toBe(200);
    expect(derived.body).toMatchObject({ derived_from: 'ONE_MINUTE', total_count: 2 });
    expect(volumesOf(derived.text)).toEqual(['6', '"60.00000000000000006"']);

    // Materialized rollups and compressed chunks (TimescaleDB) answer the same sums.
    for (const task of ['rollup_refresh', 'compression']) {
      const ran = await call('POST', `${BASE}/maintenance/run?task=${task}`);
      expect({ task, status: ran.status }).toEqual({ task, status: 200 });
    }
    const again = await call(
      'GET',
      `${BASE}/query?instrument_id=VOL.SUM&timeframe=ONE_HOUR&start_time=${HOUR}&end_time=2025-06-23T15:00:00Z`,
    );
    expect(volumesOf(again.text)).toEqual(['6', '"60.00000000000000006"']);
  });

  it('should store a fractional volume for BRK B from a NATS event', async () => {
    const event = eventOf('BRK B', bar(Date.parse('2025-06-24T10:00:00Z'), 0.00012345));
    await publishAll(js, names.subjects.input, [event]);
    const latest = () =>
      call('GET', `${BASE}/instruments/${encodeURIComponent('BRK B')}/latest?timeframe=ONE_MINUTE`);
    await waitFor('the event stored', async () => (await latest()).status === 200, 30_000);

    const answer = await latest();
    expect(answer.body).toMatchObject({
      timestamp: '2025-06-24T10:00:00.000Z',
      volume: 0.00012345,
    });
    expect(volumesOf(answer.text)).toEqual(['0.00012345']);
  });
});
