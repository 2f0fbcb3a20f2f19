import { CompressionReport, NO_COMPRESSION_REASON } from '../src/lifecycle/compression.task';
import { runAppTask } from './support/lifecycle';
import { makeBars } from './support/bars';
import { capabilitiesOf, ENGINES } from './support/test-database';
import { JsonResponse, request, startTestApp, TestApp } from './support/test-app';

/** End-to-end tests of /api/v1/storage/configurations over HTTP, on both engines. */

const BASE = '/api/v1/storage';
const CONFIGURATIONS = `${BASE}/configurations`;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface ConfigurationBody {
  instrument_id: string;
  timeframe: string;
  compression_level: string;
  retention_days: number | null;
  indexing_strategy: string;
  created_at: string;
  updated_at: string;
}

interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  field?: string;
}

describe.each(ENGINES)('configuration API on %s', (engine) => {
  let app: TestApp;

  beforeAll(async () => {
    // The service's own default retention: the answers show it.
    app = await startTestApp(engine, { RETENTION_DEFAULT_DAYS: '730' });
  });

  afterAll(async () => {
    await app?.close();
  });

  function call<T = ConfigurationBody>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<JsonResponse<T>> {
    return request<T>(app.baseUrl, method, path, body);
  }

  const put = (path: string, body: unknown) => call('PUT', `${CONFIGURATIONS}/${path}`, body);
  const get = (path: string) => call('GET', `${CONFIGURATIONS}/${path}`);
  const remove = (path: string) => call('DELETE', `${CONFIGURATIONS}/${path}`);
  const list = () => call<{ configurations: ConfigurationBody[] }>('GET', CONFIGURATIONS);

  function expectBadRequest(res: JsonResponse<unknown>, field: string): ErrorBody {
    const body = res.body as ErrorBody;
    expect({ status: res.status, field: body.field }).toEqual({ status: 400, field });
    expect(body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: expect.stringMatching(new RegExp(`^${field.replace('.', '\\.')} `)),
      field,
    });
    return body;
  }

  describe('CRUD', () => {
    it('should list no configuration on a fresh database', async () => {
      const res = await list();

      expect(res.status).toBe(200);
      expect(res.body).toEqual({ configurations: [] });
    });

    it('should create with 201, fill the defaults, then read it back', async () => {
      const created = await put('CRUD/ONE_MINUTE', { compression_level: 'HIGH' });

      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        instrument_id: 'CRUD',
        timeframe: 'ONE_MINUTE',
        compression_level: 'HIGH',
        retention_days: 730,
        indexing_strategy: 'time_instrument',
        created_at: expect.stringMatching(ISO_MS),
        updated_at: expect.stringMatching(ISO_MS),
      });
      const read = await get('CRUD/ONE_MINUTE');
      expect(read.status).toBe(200);
      expect(read.body).toEqual(created.body);
    });

    it('should replace the whole configuration with 200 and keep created_at', async () => {
      const before = await get('CRUD/ONE_MINUTE');

      const replaced = await put('CRUD/ONE_MINUTE', {
        compression_level: 'NONE',
        retention_days: 30,
        indexing_strategy: 'time_instrument',
      });

      expect(replaced.status).toBe(200);
      expect(replaced.body).toEqual({
        ...before.body,
        compression_level: 'NONE',
        retention_days: 30,
        updated_at: expect.stringMatching(ISO_MS),
      });
      expect(Date.parse(replaced.body.updated_at)).toBeGreaterThan(
        Date.parse(before.body.updated_at),
      );
      // Fields left out of a PUT go back to their defaults: the PUT is the whole configuration.
      const again = await put('CRUD/ONE_MINUTE', { compression_level: 'LOW' });
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ compression_level: 'LOW', retention_days: 730 });
    });

    it('should keep one configuration per instrument and timeframe, listed in order', async () => {
      await put('CRUD/ONE_DAY', { compression_level: 'MEDIUM', retention_days: 36500 });
      await put('ABC/ONE_MINUTE', { compression_level: 'NONE', retention_days: 1 });

      const res = await list();

      expect(res.status).toBe(200);
      expect(
        res.body.configurations.map((c) => [
          c.instrument_id,
          c.timeframe,
          c.compression_level,
          c.retention_days,
        ]),
      ).toEqual([
        ['ABC', 'ONE_MINUTE', 'NONE', 1],
        ['CRUD', 'ONE_DAY', 'MEDIUM', 36500],
        ['CRUD', 'ONE_MINUTE', 'LOW', 730],
      ]);
    });

    it('should delete with 200 answering the deleted configuration, then 404', async () => {
      const before = await get('CRUD/ONE_DAY');

      const deleted = await remove('CRUD/ONE_DAY');

      expect(deleted.status).toBe(200);
      expect(deleted.body).toEqual(before.body);
      const gone = await get('CRUD/ONE_DAY');
      expect(gone.status).toBe(404);
      expect(gone.body).toEqual({
        statusCode: 404,
        error: 'Not Found',
        message:
          'No configuration for CRUD ONE_DAY; the defaults apply (compression_level MEDIUM, retention_days 730)',
      });
      const again = await remove('CRUD/ONE_DAY');
      expect(again.status).toBe(404);
      // The other series are untouched.
      expect((await get('CRUD/ONE_MINUTE')).status).toBe(200);
    });

    it('should answer 404 for a series never configured', async () => {
      const res = await get('NEVER/FIVE_MINUTES');

      expect(res.status).toBe(404);
      expect((res.body as unknown as ErrorBody).message).toMatch(
        /^No configuration for NEVER FIVE_MINUTES/,
      );
    });

    it('should take an instrument id holding a slash, URL-encoded', async () => {
      const res = await put('BTC%2FUSD/ONE_HOUR', { compression_level: 'LOW' });

      expect(res.status).toBe(201);
      expect(res.body.instrument_id).toBe('BTC/USD');
      expect((await get('BTC%2FUSD/ONE_HOUR')).body.compression_level).toBe('LOW');
    });
  });

  describe('validation', () => {
    it.each<[string, unknown, string]>([
      ['an unknown level', { compression_level: 'ULTRA' }, 'compression_level'],
      ['a lower-case level', { compression_level: 'high' }, 'compression_level'],
      ['no level', { retention_days: 30 }, 'compression_level'],
      ['an empty body', {}, 'compression_level'],
      ['retention 0', { compression_level: 'LOW', retention_days: 0 }, 'retention_days'],
      ['retention 40000', { compression_level: 'LOW', retention_days: 40000 }, 'retention_days'],
      ['retention 1.5', { compression_level: 'LOW', retention_days: 1.5 }, 'retention_days'],
      [
        'retention as a string',
        { compression_level: 'LOW', retention_days: '30' },
        'retention_days',
      ],
      ['retention -1', { compression_level: 'LOW', retention_days: -1 }, 'retention_days'],
      [
        'an unknown indexing strategy',
        { compression_level: 'LOW', indexing_strategy: 'brin' },
        'indexing_strategy',
      ],
      ['an unknown body field', { compression_level: 'LOW', ttl_days: 5 }, 'ttl_days'],
    ])('should refuse %s with 400 naming the field and store nothing', async (_, body, field) => {
      const res = await put('BAD.BODY/ONE_MINUTE', body);

      expectBadRequest(res, field);
      expect((await get('BAD.BODY/ONE_MINUTE')).status).toBe(404);
    });

    it('should say which indexing strategy is accepted and why', async () => {
      const res = await put('BAD.BODY/ONE_MINUTE', {
        compression_level: 'LOW',
        indexing_strategy: 'hash',
      });

      expect(expectBadRequest(res, 'indexing_strategy').message).toBe(
        'indexing_strategy must be time_instrument, the only strategy today (the index on instrument_id, timeframe, timestamp)',
      );
    });

    it('should name the accepted levels', async () => {
      const res = await put('BAD.BODY/ONE_MINUTE', { compression_level: 'ULTRA' });

      expect(expectBadRequest(res, 'compression_level').message).toBe(
        'compression_level must be one of NONE, LOW, MEDIUM, HIGH',
      );
    });

    it.each([
      ['a control character in the instrument id', 'A%09B/ONE_MINUTE', 'instrument_id'],
      ['a too long instrument id', `${'A'.repeat(21)}/ONE_MINUTE`, 'instrument_id'],
      ['a trailing space in the instrument id', 'AB%20/ONE_MINUTE', 'instrument_id'],
      ['an unknown timeframe', 'AAPL/TEN_MINUTES', 'timeframe'],
      ['a lower-case timeframe', 'AAPL/one_minute', 'timeframe'],
    ])('should refuse %s in the path with 400 on GET, PUT and DELETE', async (_, path, field) => {
      const responses = [
        await get(path),
        await put(path, { compression_level: 'LOW' }),
        await remove(path),
      ];

      for (const res of responses) expectBadRequest(res, field);
    });

    it('should refuse a body that is not JSON with 400', async () => {
      const res = await request(app.baseUrl, 'PUT', `${CONFIGURATIONS}/AAPL/ONE_MINUTE`, '{', {
        'content-type': 'application/json',
      });

      expect(res.status).toBe(400);
      expect((res.body as ErrorBody).statusCode).toBe(400);
    });
  });

  describe('with the store endpoint', () => {
    const storeBars = (instrumentId: string, compression?: string) =>
      call('POST', `${BASE}/store`, {
        instrument_id: instrumentId,
        timeframe: 'ONE_MINUTE',
        ...(compression ? { compression } : {}),
        data_points: makeBars('2025-06-20T00:00:00Z', 3),
      });

    it('should record the compression level of a store as the series configuration', async () => {
      const stored = await storeBars('STORE.HIGH', 'HIGH');
      expect(stored.status).toBe(200);

      const res = await get('STORE.HIGH/ONE_MINUTE');

      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        instrument_id: 'STORE.HIGH',
        timeframe: 'ONE_MINUTE',
        compression_level: 'HIGH',
        retention_days: 730,
        indexing_strategy: 'time_instrument',
      });
      expect((await list()).body.configurations.map((c) => c.instrument_id)).toContain(
        'STORE.HIGH',
      );
    });

    it('should change only the level of an existing configuration, and nothing without one', async () => {
      await put('STORE.KEEP/ONE_MINUTE', { compression_level: 'NONE', retention_days: 90 });

      await storeBars('STORE.KEEP', 'HIGH');
      const changed = await get('STORE.KEEP/ONE_MINUTE');
      await storeBars('STORE.KEEP');
      const unchanged = await get('STORE.KEEP/ONE_MINUTE');
      await storeBars('STORE.NONE');

      expect(changed.body).toMatchObject({ compression_level: 'HIGH', retention_days: 90 });
      expect(unchanged.body).toEqual(changed.body);
      expect((await get('STORE.NONE/ONE_MINUTE')).status).toBe(404);
    });

    it('should not touch updated_at when a store repeats the same level', async () => {
      await storeBars('STORE.SAME', 'LOW');
      const first = await get('STORE.SAME/ONE_MINUTE');

      await storeBars('STORE.SAME', 'LOW');

      expect((await get('STORE.SAME/ONE_MINUTE')).body).toEqual(first.body);
    });
  });

  describe('compression task in the app', () => {
    it('should compress the old chunk of a HIGH series on TimescaleDB, and do nothing on PostgreSQL', async () => {
      // A day well past any chunk's end, well within the default retention.
      const day = new Date(Math.floor(Date.now() / 86_400_000 - 60) * 86_400_000).toISOString();
      const stored = await call('POST', `${BASE}/store`, {
        instrument_id: 'JOB.HIGH',
        timeframe: 'ONE_MINUTE',
        compression: 'HIGH',
        data_points: makeBars(day, 1440),
      });
      expect(stored.status).toBe(200);
      const report = (await runAppTask(app.app, 'compression')) as CompressionReport;

      if (capabilitiesOf(engine).timescale) {
        expect(report).toMatchObject({ ran: true, failed_chunks: [] });
        // The chunk holding that day, whatever the chunk interval (LAYOUT_CHUNK_INTERVAL_HOURS).
        expect(
          report.compressed_chunks.filter((c) => c.range_start <= day && c.range_end > day),
        ).toHaveLength(1);
        // A full day of bars compresses (a handful of rows would grow instead).
        const again = await call<{ compression_ratio: number }>('POST', `${BASE}/store`, {
          instrument_id: 'JOB.HIGH',
          timeframe: 'ONE_MINUTE',
          data_points: makeBars(day, 1),
        });
        expect(again.body.compression_ratio).toBeGreaterThan(0);
      } else {
        expect(report).toEqual({
          ran: false,
          reason: NO_COMPRESSION_REASON,
          compressed_chunks: [],
          skipped: 0,
          compressed_rollup_chunks: [],
          skipped_rollup_chunks: 0,
          failed_chunks: [],
        });
      }
      const read = await call<{ total_count: number }>(
        'GET',
        `${BASE}/query?instrument_id=JOB.HIGH&timeframe=ONE_MINUTE&start_time=${day}&end_time=${new Date(Date.parse(day) + 86_400_000).toISOString()}`,
      );
      expect(read.body.total_count).toBe(1440);
    });
  });

  describe('OpenAPI document', () => {
    it('should describe the configuration endpoints with the level mapping', async () => {
      const res = await request<{ paths: Record<string, Record<string, unknown>> }>(
        app.baseUrl,
        'GET',
        '/api/docs-json',
      );

      expect(res.status).toBe(200);
      expect(Object.keys(res.body.paths[CONFIGURATIONS])).toEqual(['get']);
      expect(
        Object.keys(res.body.paths[`${CONFIGURATIONS}/{instrument_id}/{timeframe}`]).sort(),
      ).toEqual(['delete', 'get', 'put']);
      expect(res.text).toContain('NONE never, LOW after 7 days, MEDIUM after 24 hours');
    });
  });
});
