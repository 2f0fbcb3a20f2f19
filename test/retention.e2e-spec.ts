import { Logger } from '@nestjs/common';
import { NatsConnection } from 'nats';
import { makeBars } from './support/bars';
import {
  Collector,
  connectNats,
  deleteStream,
  eventOf,
  EventNames,
  publishAll,
  storedCountOf,
  uniqueEventNames,
  waitFor,
  waitForConsumer,
} from './support/events';
import { ENGINES } from './support/test-database';
import { request, startTestApp, TestApp } from './support/test-app';

/**
 * Retention a user can see and control (issue 15), through the real
 * application on every engine, with the service's default retention (730
 * days): a store refuses what retention would delete and says until when it
 * keeps what it stored; retention_days null keeps forever and has no cap; a
 * dry run lists what a real run then deletes; the statistics show the next
 * drop; an event retention would delete is dead-lettered once. Timers are
 * off: every task runs through the endpoint.
 */
const BASE = '/api/v1/storage';
const DAY = 86_400_000;
/** The UTC midnight `days` ago (a ONE_DAY bar's instant). */
const dayAgo = (days: number) =>
  new Date((Math.floor(Date.now() / DAY) - days) * DAY).toISOString();
const barAt = (iso: string, seed = 1) => makeBars(iso, 1, DAY, seed)[0];
const RANGE = 'start_time=2000-01-01T00:00:00Z&end_time=2100-01-01T00:00:00Z';

describe.each(ENGINES)('Retention on %s', (engine) => {
  let t: TestApp;

  const store = (instrumentId: string, points: unknown[], extra: Record<string, unknown> = {}) =>
    request(t.baseUrl, 'POST', `${BASE}/store`, {
      instrument_id: instrumentId,
      timeframe: 'ONE_DAY',
      data_points: points,
      ...extra,
    });
  const configure = (instrumentId: string, body: Record<string, unknown>) =>
    request(t.baseUrl, 'PUT', `${BASE}/configurations/${instrumentId}/ONE_DAY`, {
      compression_level: 'MEDIUM',
      ...body,
    });
  const timestamps = async (instrumentId: string) => {
    const res = await request<{ data_points: { timestamp: string }[] }>(
      t.baseUrl,
      'GET',
      `${BASE}/query?instrument_id=${instrumentId}&timeframe=ONE_DAY&${RANGE}&limit=1000`,
    );
    return res.status === 404 ? [] : res.body.data_points.map((p) => p.timestamp);
  };
  const maintenance = (query: string) =>
    request<{ tasks: { name: string; status: string; result: Record<string, any> }[] }>(
      t.baseUrl,
      'POST',
      `${BASE}/maintenance/run${query}`,
    );

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    t = await startTestApp(engine, {
      RETENTION_DEFAULT_DAYS: '730',
      MAINTENANCE_INTERVAL_MS: '0',
      COMPRESSION_JOB_INTERVAL_MS: '0',
      STATS_REFRESH_INTERVAL_MS: '0',
      MAX_QUERY_RANGE_DAYS: '40000',
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('should refuse a bar older than the default retention, naming it and how to change it, and store the newer ones', async () => {
    const points = [barAt(dayAgo(800), 1), barAt(dayAgo(700), 2), barAt(dayAgo(5), 3)];

    const res = await store('RT.OLD', points);

    expect(res.status).toBe(200);
    const message = String(res.body.errors[0]?.message);
    const cutoff = /points before (\S+) are deleted/.exec(message)?.[1] ?? '';
    expect(Date.parse(cutoff)).toBeGreaterThan(Date.now() - 730 * DAY - 60_000);
    expect(Date.parse(cutoff)).toBeLessThanOrEqual(Date.now() - 730 * DAY);
    expect(res.body).toMatchObject({
      stored_count: 2,
      failed_count: 1,
      retention_days: 730,
      // The oldest stored bar (700 days old) plus 730 days.
      kept_until: new Date(Date.parse(dayAgo(700)) + 730 * DAY).toISOString(),
      errors: [
        {
          index: 0,
          field: 'timestamp',
          message:
            `timestamp is older than this series' retention of 730 days (points before ${cutoff} are deleted): ` +
            'configure retention_days (a longer one, or null to keep forever) for ONE_DAY bars of RT.OLD ' +
            '(PUT /api/v1/storage/configurations/RT.OLD/ONE_DAY) or RETENTION_DEFAULT_DAYS',
        },
      ],
    });
    await expect(timestamps('RT.OLD')).resolves.toEqual([
      expect.stringMatching(dayAgo(700).slice(0, 10)),
      expect.stringMatching(dayAgo(5).slice(0, 10)),
    ]);
  });

  it('should refuse trades older than RETENTION_DEFAULT_DAYS the same way', async () => {
    const trade = (iso: string) => ({ timestamp: iso, price: 10, size: 1 });

    const res = await request(t.baseUrl, 'POST', `${BASE}/store`, {
      instrument_id: 'RT.TICKS',
      data_type: 'TRADE',
      data_points: [trade(dayAgo(731)), trade(dayAgo(1))],
    });

    expect(res.body).toMatchObject({
      stored_count: 1,
      failed_count: 1,
      retention_days: 730,
      kept_until: new Date(Date.parse(dayAgo(1)) + 730 * DAY).toISOString(),
      errors: [
        {
          index: 0,
          field: 'timestamp',
          message: expect.stringMatching(
            /^timestamp is older than the retention of trades, RETENTION_DEFAULT_DAYS = 730 days \(points before \S+ are deleted\): set RETENTION_DEFAULT_DAYS longer, or to forever, to store it$/,
          ),
        },
      ],
    });
  });

  it('should keep a 2010 bar forever with retention_days null, through a real retention run', async () => {
    const put = await configure('RT.FOREVER', { retention_days: null });
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({ instrument_id: 'RT.FOREVER', retention_days: null });

    const res = await store('RT.FOREVER', [barAt('2010-03-01T00:00:00Z')]);
    expect(res.body).toMatchObject({
      stored_count: 1,
      failed_count: 0,
      retention_days: null,
      kept_until: null,
    });

    const run = await maintenance('?task=retention');
    expect(run.status).toBe(200);
    expect(run.body.tasks[0]).toMatchObject({ status: 'done', result: { dry_run: false } });
    await expect(timestamps('RT.FOREVER')).resolves.toEqual(['2010-03-01T00:00:00.000Z']);
    const got = await request(t.baseUrl, 'GET', `${BASE}/configurations/RT.FOREVER/ONE_DAY`);
    expect(got.body).toMatchObject({ retention_days: null });
  });

  it('should refuse retention_days 36501 with 400 naming the field and the range, not cap it', async () => {
    const res = await configure('RT.TOOLONG', { retention_days: 36501 });

    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      field: 'retention_days',
      message:
        'retention_days must be a whole number of days 1..36500, or null to keep the bars forever',
    });
    expect(
      (await request(t.baseUrl, 'GET', `${BASE}/configurations/RT.TOOLONG/ONE_DAY`)).status,
    ).toBe(404);
  });

  it('should list in a dry run what retention would delete, delete nothing, then delete exactly that', async () => {
    // As a user gets there: stored while kept forever, then a shorter retention.
    expect((await configure('RT.DRY', { retention_days: null })).status).toBe(201);
    const ages = [10, 40, 100];
    const stored = await store(
      'RT.DRY',
      ages.map((age, i) => barAt(dayAgo(age), i + 1)),
    );
    expect(stored.body.stored_count).toBe(3);
    expect((await configure('RT.DRY', { retention_days: 30 })).status).toBe(200);

    const dry = await maintenance('?task=retention&dry_run=true');

    expect(dry.status).toBe(200);
    const planned = dry.body.tasks[0].result;
    expect(planned).toMatchObject({
      dry_run: true,
      default_retention_days: 730,
      // RT.FOREVER keeps forever: no whole chunk can go.
      longest_retention_days: null,
      dropped_before: null,
      dropped_chunks: [],
      deleted_rows: 2,
      deleted_by_series: [
        {
          instrument_id: 'RT.DRY',
          timeframe: 'ONE_DAY',
          retention_days: 30,
          deleted_before: expect.any(String),
          deleted_rows: 2,
        },
      ],
    });
    await expect(timestamps('RT.DRY')).resolves.toHaveLength(3);

    const real = await maintenance('?task=retention');

    const done = real.body.tasks[0].result;
    const withoutCutoffs = (r: Record<string, any>) => ({
      ...r,
      dry_run: undefined,
      deleted_by_series: (r.deleted_by_series as Record<string, unknown>[]).map((s) => ({
        ...s,
        deleted_before: undefined,
      })),
    });
    expect(done.dry_run).toBe(false);
    expect(withoutCutoffs(done)).toEqual(withoutCutoffs(planned));
    await expect(timestamps('RT.DRY')).resolves.toEqual([
      expect.stringMatching(dayAgo(10).slice(0, 10)),
    ]);
  });

  it('should dry-run the retention of trades and quotes, and refuse dry_run for a task that cannot', async () => {
    const ticks = await maintenance('?task=tick_lifecycle&dry_run=true');
    expect(ticks.status).toBe(200);
    expect(ticks.body.tasks[0]).toMatchObject({
      name: 'tick_lifecycle',
      status: 'done',
      result: {
        dry_run: true,
        retention_days: 730,
        dropped_before: expect.any(String),
        dropped_parts: 0,
        dropped_trade_parts: [],
        dropped_quote_parts: [],
      },
    });

    const compression = await maintenance('?task=compression&dry_run=true');
    expect(compression.status).toBe(400);
    expect(compression.body).toMatchObject({
      field: 'dry_run',
      message:
        'dry_run is for task=retention or task=tick_lifecycle only; compression cannot dry-run',
    });
    const everything = await maintenance('?dry_run=true');
    expect(everything.status).toBe(400);
    expect(everything.body).toMatchObject({ field: 'dry_run' });
    const bad = await maintenance('?task=retention&dry_run=yes');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ field: 'dry_run', message: 'dry_run must be true or false' });
  });

  it('should show per series the retention in force and when its oldest bar is dropped', async () => {
    expect((await configure('RT.NEXT', { retention_days: 100 })).status).toBe(201);
    expect(
      (await store('RT.NEXT', [barAt(dayAgo(20), 1), barAt(dayAgo(10), 2)])).body,
    ).toMatchObject({ stored_count: 2 });
    expect((await maintenance('?task=statistics')).status).toBe(200);

    const res = await request<{ series: Record<string, unknown>[]; next_drop_at: string | null }>(
      t.baseUrl,
      'GET',
      `${BASE}/statistics`,
    );

    expect(res.status).toBe(200);
    const of = (id: string) => res.body.series.find((s) => s.instrument_id === id);
    expect(of('RT.NEXT')).toMatchObject({
      retention_days: 100,
      next_drop_at: new Date(Date.parse(dayAgo(20)) + 100 * DAY).toISOString(),
    });
    expect(of('RT.FOREVER')).toMatchObject({ retention_days: null, next_drop_at: null });
    expect(of('RT.OLD')).toMatchObject({
      retention_days: 730,
      next_drop_at: new Date(Date.parse(dayAgo(700)) + 730 * DAY).toISOString(),
    });
    // The earliest of them: RT.DRY's bar of 10 days ago plus its 30 days.
    expect(res.body.next_drop_at).toBe(new Date(Date.parse(dayAgo(10)) + 30 * DAY).toISOString());
  });
});

describe.each(ENGINES)('Retention of JetStream events on %s', (engine) => {
  let names: EventNames;
  let harness: TestApp;
  let nc: NatsConnection;
  let outputs: Collector<{ storage_data: { instrument_id: string; stored_count: number } }>;
  let deadLetters: Collector<{ reason: string; deliveries: number; payload: string }>;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    names = uniqueEventNames(`ret_${engine}`);
    nc = await connectNats();
    outputs = new Collector(nc, names.subjects.output);
    deadLetters = new Collector(nc, names.subjects.deadLetter);
    harness = await startTestApp(engine, { ...names.env, RETENTION_DEFAULT_DAYS: '730' });
    await waitForConsumer(harness.baseUrl);
  }, 60_000);

  afterAll(async () => {
    await harness?.close();
    if (nc) {
      await deleteStream(nc, names.stream);
      await nc.close();
    }
  });

  it('should dead-letter once an event older than the retention, with the reason, and store the newer one', async () => {
    const minute = (days: number) =>
      new Date(Math.floor((Date.now() - days * DAY) / 60_000) * 60_000).toISOString();
    const old = eventOf('RT.EVENT', makeBars(minute(800), 1, 60_000, 1)[0]);
    const young = eventOf('RT.EVENT', makeBars(minute(1), 1, 60_000, 2)[0]);

    await publishAll(nc.jetstream(), names.subjects.input, [old, young], 2);
    await waitFor('the dead letter', () => deadLetters.received.length >= 1);
    await waitFor('the newer event', () => storedCountOf(outputs.received, ['RT.EVENT']) >= 1);

    expect(deadLetters.received).toEqual([
      expect.objectContaining({
        deliveries: 1,
        payload: JSON.stringify(old),
        reason: expect.stringMatching(
          /^market_data\.timestamp is older than this series' retention of 730 days \(points before \S+ are deleted\): configure retention_days .* for ONE_MINUTE bars of RT\.EVENT \(PUT \/api\/v1\/storage\/configurations\/RT\.EVENT\/ONE_MINUTE\) or RETENTION_DEFAULT_DAYS$/,
        ),
      }),
    ]);
    expect(storedCountOf(outputs.received, ['RT.EVENT'])).toBe(1);
  }, 60_000);
});
