import { DatabaseConnection } from '../src/database/database-connection';
import { DATABASE_CONNECTION } from '../src/database/database.tokens';
import { makeBars } from './support/bars';
import { clientChecksum, SentPoint } from './support/client-checksum';
import { ENGINES } from './support/test-database';
import { request, startTestApp, TestApp } from './support/test-app';

/** GET /api/v1/storage/instruments/{id}/integrity over HTTP, on both engines. */

const BASE = '/api/v1/storage';
const DAY = '2025-06-20T00:00:00.000Z';
const RANGE = 'start_time=2025-06-20T00:00:00Z&end_time=2025-06-21T00:00:00Z';

/** Points exercising every part of the canonical text. */
const VARIED: SentPoint[] = [
  // An offset: the same instant as 00:00Z.
  {
    timestamp: '2025-06-20T02:00:00+02:00',
    open: 0.1,
    high: 0.30000000000000004,
    low: 0.1,
    close: 0.2,
    volume: 0,
  },
  {
    timestamp: '2025-06-20T00:01:00.000Z',
    open: 123456789012.5,
    high: 123456789013,
    low: 123456789012,
    close: 123456789012.75,
    volume: '9223372036854775807',
    dollar_volume: -1.5e-7,
    trade_count: 2147483647,
    quality_score: 0.25,
    source: 'NY|"SE" \\ äöü 株',
  },
  {
    timestamp: '2025-06-20T00:02:00Z',
    open: -0,
    high: 1e-7,
    low: -5e-324,
    close: 0,
    volume: '000042',
    source: '',
  },
  {
    timestamp: '2025-06-20T00:03:00Z',
    open: 1e21,
    high: 1.7976931348623157e308,
    low: 1e21,
    close: 1e21,
    volume: 1,
    dollar_volume: null,
    trade_count: null,
  },
];

describe.each(ENGINES)('integrity check on %s', (engine) => {
  let t: TestApp;
  const store = (instrument: string, points: unknown[]) =>
    request(t.baseUrl, 'POST', `${BASE}/store`, {
      instrument_id: instrument,
      timeframe: 'ONE_MINUTE',
      data_points: points,
    });
  const integrity = (instrument: string, query = `timeframe=ONE_MINUTE&${RANGE}`) =>
    request(
      t.baseUrl,
      'GET',
      `${BASE}/instruments/${encodeURIComponent(instrument)}/integrity?${query}`,
    );

  beforeAll(async () => {
    t = await startTestApp(engine);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('should answer the checksum a client recomputes from the bars it sent', async () => {
    const stored = await store('CHK', VARIED);
    expect(stored.body.failed_count).toBe(0);

    const res = await integrity('CHK');

    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      instrument_id: 'CHK',
      timeframe: 'ONE_MINUTE',
      start_time: '2025-06-20T00:00:00.000Z',
      end_time: '2025-06-21T00:00:00.000Z',
      count: 4,
      first_timestamp: '2025-06-20T00:00:00.000Z',
      last_timestamp: '2025-06-20T00:03:00.000Z',
      expected_count: 4,
      missing_count: 0,
      gap_count: 0,
      gaps: [],
      violation_count: 0,
      violations: [],
      checksum: { algorithm: 'sha256', format: 'mds-ohlcv-v1', value: clientChecksum(VARIED) },
    });
  });

  it('should follow rewrites: the checksum of the last values sent, duplicates resolved', async () => {
    const bars = makeBars(DAY, 300);
    const rewrite = makeBars('2025-06-20T02:00:00Z', 50, 60_000, 99);
    expect((await store('RW', bars)).status).toBe(200);
    // The second request repeats a timestamp within itself: the last occurrence wins.
    const second = [...rewrite, { ...rewrite[10], close: rewrite[10].open }];
    expect((await store('RW', second)).body.superseded_count).toBe(1);

    const res = await integrity('RW');

    expect(res.body.count).toBe(300);
    expect(res.body.checksum.value).toBe(clientChecksum([...bars, ...second]));
    expect(res.body.checksum.value).not.toBe(clientChecksum(bars));
  });

  it('should report gaps against the grid and list them', async () => {
    const bars = makeBars(DAY, 60);
    const kept = bars.filter((_, i) => !(i >= 10 && i < 13) && i !== 40);
    await store('GAP', kept);

    const res = await integrity('GAP');

    expect(res.body).toMatchObject({
      count: 56,
      expected_count: 60,
      missing_count: 4,
      gap_count: 2,
      gaps: [
        {
          start_time: '2025-06-20T00:10:00.000Z',
          end_time: '2025-06-20T00:13:00.000Z',
          missing_count: 3,
        },
        {
          start_time: '2025-06-20T00:40:00.000Z',
          end_time: '2025-06-20T00:41:00.000Z',
          missing_count: 1,
        },
      ],
    });
    // A 5-minute grid over the same rows: the 1-minute bars are off that grid.
    const coarse = await integrity('GAP', `timeframe=FIVE_MINUTES&${RANGE}`);
    expect(coarse.body.count).toBe(0);
  });

  it('should find rows that break the bar rules when written around the service', async () => {
    await store('BAD', makeBars(DAY, 3));
    const db = t.app.get<DatabaseConnection>(DATABASE_CONNECTION, { strict: false });
    await db.pool.query(
      `UPDATE market_data_ts SET low_price = high_price + 1
        WHERE instrument_id = 'BAD' AND "timestamp" = '2025-06-20T00:01:00Z'`,
    );
    await db.pool.query(
      `UPDATE market_data_ts SET close_price = 'NaN'
        WHERE instrument_id = 'BAD' AND "timestamp" = '2025-06-20T00:02:00Z'`,
    );

    const res = await integrity('BAD');

    expect(res.body.violation_count).toBe(2);
    expect(res.body.violations).toEqual([
      { timestamp: '2025-06-20T00:01:00.000Z', field: 'low', rule: 'low must not exceed high' },
      {
        timestamp: '2025-06-20T00:02:00.000Z',
        field: 'close',
        rule: 'close must be a finite number',
      },
    ]);
    expect(res.body.checksum.value).not.toBe(clientChecksum(makeBars(DAY, 3)));
  });

  it('should answer an empty series with count 0 and the checksum of no lines', async () => {
    const res = await integrity('NONE');

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ count: 0, first_timestamp: null, gaps: [] });
    expect(res.body.checksum.value).toBe(clientChecksum([]));
  });

  it.each([
    ['timeframe=ONE_MINUTE&start_time=2025-06-20T00:00:00Z', 'end_time'],
    [`timeframe=TWO_MINUTES&${RANGE}`, 'timeframe'],
    [`${RANGE}`, 'timeframe'],
    [`timeframe=ONE_MINUTE&${RANGE}&limit=5`, 'limit'],
    [
      'timeframe=ONE_MINUTE&start_time=2025-06-21T00:00:00Z&end_time=2025-06-20T00:00:00Z',
      'end_time',
    ],
  ])('should answer 400 to %s naming %s', async (query, field) => {
    const res = await integrity('CHK', query);

    expect(res.status).toBe(400);
    expect(res.body.field).toBe(field);
  });
});
