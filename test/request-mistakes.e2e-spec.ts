import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { request, startTestApp, TestApp } from './support/test-app';
import { ENGINES } from './support/test-database';

/**
 * The usual mistakes of a first request by hand (curl, a browser's address
 * bar), each answered with what to send instead, or understood when the
 * intent is certain.
 */
const BASE = '/api/v1/storage';
const BAR = {
  timestamp: '2025-06-23T13:30:00Z',
  open: 1.5,
  high: 2,
  low: 1.25,
  close: 1.75,
  volume: 10,
};
const STORE = JSON.stringify({
  instrument_id: 'HANDS',
  timeframe: 'ONE_MINUTE',
  data_points: [BAR],
});
const CONTENT_TYPE_MESSAGE =
  "content-type must be application/json: send the body as JSON with the header content-type: application/json (curl: -H 'content-type: application/json')";

const exec = promisify(execFile);

async function curl(...args: string[]): Promise<{ status: number; body: unknown }> {
  const { stdout } = await exec('curl', ['-s', '-w', '\n%{http_code}', ...args], {
    encoding: 'utf8',
  });
  const at = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(at + 1)), body: JSON.parse(stdout.slice(0, at)) };
}

describe.each(ENGINES)('request mistakes on %s', (engine) => {
  let service: TestApp;

  beforeAll(async () => {
    service = await startTestApp(engine);
  });

  afterAll(async () => {
    await service?.close();
  });

  it('should answer curl -d without a content-type with 415 saying which header to send, storing nothing', async () => {
    // curl -d sends application/x-www-form-urlencoded.
    const answer = await curl('-d', STORE, `${service.baseUrl}${BASE}/store`);
    expect(answer).toEqual({
      status: 415,
      body: { statusCode: 415, error: 'Unsupported Media Type', message: CONTENT_TYPE_MESSAGE },
    });
    const latest = await request(
      service.baseUrl,
      'GET',
      `${BASE}/instruments/HANDS/latest?timeframe=ONE_MINUTE`,
    );
    expect(latest.status).toBe(404);
  });

  it('should answer a text/plain body the same way', async () => {
    const answer = await curl(
      '-H',
      'content-type: text/plain',
      '-d',
      STORE,
      `${service.baseUrl}${BASE}/store`,
    );
    expect(answer.status).toBe(415);
    expect(answer.body).toMatchObject({ message: CONTENT_TYPE_MESSAGE });
  });

  it('should read an unencoded "+" offset in a query string (form decoding made it a space)', async () => {
    const stored = await curl(
      '-H',
      'content-type: application/json',
      '-d',
      STORE,
      `${service.baseUrl}${BASE}/store`,
    );
    expect(stored).toMatchObject({ status: 200, body: { stored_count: 1 } });
    // 13:30Z is 15:30+02:00; sent as a raw "+", the server receives a space.
    const query = `instrument_id=HANDS&timeframe=ONE_MINUTE&start_time=2025-06-23T15:30:00+02:00&end_time=2025-06-23T15:31:00+02:00`;
    const answer = await curl(`${service.baseUrl}${BASE}/query?${query}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      total_count: 1,
      data_points: [{ timestamp: '2025-06-23T13:30:00.000Z', close: 1.75 }],
    });
  });

  it('should still refuse a space that is not an offset, naming the field', async () => {
    const query = `instrument_id=HANDS&timeframe=ONE_MINUTE&start_time=2025-06-23 15:30:00Z&end_time=2025-06-24T00:00:00Z`;
    const answer = await request(service.baseUrl, 'GET', `${BASE}/query?${encodeURI(query)}`);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ field: 'start_time' });
  });

  it.each([
    ['limit=abc', 'limit', 'limit must be a whole number'],
    ['limit=0', 'limit', 'limit must be at least 1'],
    ['offset=-1', 'offset', 'offset must be at least 0'],
  ])('should name what a %s should be before its bounds', async (extra, field, message) => {
    const query = `instrument_id=HANDS&timeframe=ONE_MINUTE&start_time=2025-06-23T00:00:00Z&end_time=2025-06-24T00:00:00Z&${extra}`;
    const answer = await request(service.baseUrl, 'GET', `${BASE}/query?${query}`);
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 400,
      body: { statusCode: 400, error: 'Bad Request', message, field },
    });
  });

  it('should say a missing instrument_id is required before what it should look like', async () => {
    const query = await request(
      service.baseUrl,
      'GET',
      `${BASE}/query?timeframe=ONE_MINUTE&start_time=2025-06-23T00:00:00Z&end_time=2025-06-24T00:00:00Z`,
    );
    const store = await request(service.baseUrl, 'POST', `${BASE}/store`, {
      timeframe: 'ONE_MINUTE',
      data_points: [BAR],
    });
    for (const answer of [query, store])
      expect(answer.body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message:
          'instrument_id is required (must be 1-20 printable characters: no control or invisible formatting characters, no leading or trailing space)',
        field: 'instrument_id',
      });
  });

  it('should report a lowercase data_type on data_type, not on the timeframe it made seem missing', async () => {
    const expected = {
      statusCode: 400,
      error: 'Bad Request',
      message: 'data_type must be one of OHLCV, TICK, QUOTE, TRADE',
      field: 'data_type',
    };
    const store = await request(service.baseUrl, 'POST', `${BASE}/store`, {
      instrument_id: 'HANDS',
      data_type: 'trade',
      data_points: [{ timestamp: '2025-06-23T13:30:00Z', price: 1.5, size: 10 }],
    });
    expect(store.body).toEqual(expected);
    const query = await request(
      service.baseUrl,
      'GET',
      `${BASE}/query?instrument_id=HANDS&data_type=trade&start_time=2025-06-23T00:00:00Z&end_time=2025-06-24T00:00:00Z`,
    );
    expect(query.body).toEqual(expected);
  });
});
