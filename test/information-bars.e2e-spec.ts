import { STATUS_CODES } from 'node:http';
import { formatInstantMicros } from '../src/common/time';
import { JsonResponse, request, startTestApp, TestApp } from './support/test-app';
import { ENGINES } from './support/test-database';
import { random } from './support/trades';

/**
 * GET /query with data_type=TRADE and bar=volume:N|dollar:N|tick:N
 * (docs/research-reads.md, "Volume, dollar and tick bars") against bars
 * recomputed here from the stored trades with exact decimal arithmetic
 * (BigInt), independently of the service's SQL.
 */
const BASE = '/api/v1/storage';
const DAY = '2025-06-23T00:00:00Z';
const NEXT_DAY = '2025-06-24T00:00:00Z';
const OPEN_US = Date.parse('2025-06-23T13:30:00Z') * 1000;

interface Trade {
  timestamp: string;
  price: number;
  size: number;
  trade_id: string;
}

/** Decimal digits kept by the recomputation: every test price and size has at most 6. */
const SCALE = 6;
const ONE = 10n ** BigInt(SCALE);

function scaled(value: number | string): bigint {
  const [whole, fraction = ''] = String(value).split('.');
  return BigInt(whole) * ONE + BigInt(fraction.padEnd(SCALE, '0'));
}

/** The decimal text of `value / 10^scale`, trailing zeros dropped. */
function abs(value: bigint): bigint {
  return value < 0n ? -value : value;
}

function decimal(value: bigint, scale: number): string {
  const sign = value < 0n ? '-' : '';
  value = abs(value);
  const unit = 10n ** BigInt(scale);
  const whole = value / unit;
  const fraction = (value % unit).toString().padStart(scale, '0').replace(/0+$/, '');
  return sign + (fraction ? `${whole}.${fraction}` : `${whole}`);
}

function micros(iso: string): number {
  return Date.parse(iso.slice(0, 23) + 'Z') * 1000 + Number(iso.slice(23, 26));
}

/**
 * The definition, step by step: trades in (timestamp, trade_id) order from
 * the first at or after `fromUs`; the running total BEFORE a trade, divided
 * by N and floored, is its bar; a bar is complete when its last trade's
 * running total reached (bar + 1) * N.
 */
function expectedBars(
  trades: readonly Trade[],
  kind: 'volume' | 'dollar' | 'tick',
  n: string,
  fromUs = -Infinity,
  toUs = Infinity,
) {
  const ordered = trades
    .map((t) => ({ ...t, us: micros(t.timestamp) }))
    .filter((t) => t.us >= fromUs && t.us < toUs)
    .sort((a, b) => a.us - b.us || (a.trade_id < b.trade_id ? -1 : 1));
  // Totals in units of 10^-SCALE (volume, tick) or 10^-2*SCALE (dollar).
  const threshold =
    kind === 'dollar' ? scaled(n) * ONE : kind === 'tick' ? BigInt(n) * ONE : scaled(n);
  const measure = (t: Trade): bigint =>
    kind === 'volume'
      ? scaled(t.size)
      : kind === 'dollar'
        ? abs(scaled(t.price)) * scaled(t.size)
        : ONE;
  const bars = new Map<bigint, { trades: Trade[]; upto: bigint }>();
  let total = 0n;
  for (const t of ordered) {
    const bar = total / threshold;
    total += measure(t);
    const entry = bars.get(bar) ?? { trades: [], upto: 0n };
    entry.trades.push(t);
    entry.upto = total;
    bars.set(bar, entry);
  }
  return [...bars.entries()].map(([bar, { trades: inBar, upto }]) => {
    const volume = inBar.reduce((s, t) => s + scaled(t.size), 0n);
    const dollars = inBar.reduce((s, t) => s + scaled(t.price) * scaled(t.size), 0n);
    return {
      timestamp: inBar[0].timestamp,
      open: inBar[0].price,
      high: Math.max(...inBar.map((t) => t.price)),
      low: Math.min(...inBar.map((t) => t.price)),
      close: inBar[inBar.length - 1].price,
      volume: Number(decimal(volume, SCALE)),
      dollar_volume: Number(decimal(dollars, 2 * SCALE)),
      trade_count: inBar.length,
      end_timestamp: inBar[inBar.length - 1].timestamp,
      complete: upto >= (bar + 1n) * threshold,
    };
  });
}

/** 600 trades: about one in five shares the microsecond before it; ids whose byte order is not their number order. */
function randomTrades(seed: number): Trade[] {
  const next = random(seed);
  let us = OPEN_US;
  let cents = 25_000;
  return Array.from({ length: 600 }, (_, i) => {
    us += next() < 0.2 ? 0 : 1 + Math.floor(next() * 20_000_000);
    cents = Math.max(1, cents + Math.floor(next() * 9) - 4);
    return {
      timestamp: formatInstantMicros(us),
      price: cents / 100,
      // Whole lots and fractional sizes (crypto-like) in 0.000001 steps, exact as decimal text.
      size:
        next() < 0.5
          ? 1 + Math.floor(next() * 500)
          : (100_000 + Math.floor(next() * 5_000_000)) / 1e6,
      trade_id: `R${i}`,
    };
  });
}

/** Hand-built: one trade reaches 10 exactly, the next bar overshoots to 25, two pairs share a microsecond. */
const EDGES: Trade[] = [
  { timestamp: '2025-06-23T14:00:00.000001Z', price: 100, size: 4, trade_id: 'B' },
  { timestamp: '2025-06-23T14:00:00.000001Z', price: 101, size: 6, trade_id: 'C' },
  { timestamp: '2025-06-23T14:00:00.000002Z', price: 99, size: 7, trade_id: 'A' },
  { timestamp: '2025-06-23T14:00:00.000003Z', price: 102, size: 8, trade_id: 'Z' },
  { timestamp: '2025-06-23T14:00:00.000003Z', price: 98, size: 1, trade_id: 'Y' },
  { timestamp: '2025-06-23T14:00:01.000000Z', price: 103, size: 2, trade_id: 'D' },
];

/** 0.7 + 0.1 is 0.7999999999999999 in floats: a float running sum would miss volume:0.8. */
const DECIMALS: Trade[] = [
  { timestamp: '2025-06-23T15:00:00.000000Z', price: 10.1, size: 0.7, trade_id: 'a' },
  { timestamp: '2025-06-23T15:00:00.000001Z', price: 10.2, size: 0.1, trade_id: 'b' },
  { timestamp: '2025-06-23T15:00:00.000002Z', price: 10.3, size: 0.3, trade_id: 'c' },
  { timestamp: '2025-06-23T15:00:00.000003Z', price: 10.4, size: 0.5, trade_id: 'd' },
];

/** A negative price counts by its magnitude in dollar bars: 5, then 3 (total 8), then 2. */
const NEGATIVE: Trade[] = [
  { timestamp: '2025-06-23T16:00:00.000000Z', price: -5, size: 1, trade_id: 'n1' },
  { timestamp: '2025-06-23T16:00:00.000001Z', price: 3, size: 1, trade_id: 'n2' },
  { timestamp: '2025-06-23T16:00:00.000002Z', price: -2, size: 1, trade_id: 'n3' },
];

function pointsOf(res: JsonResponse): Record<string, unknown>[] {
  return res.body.data_points as Record<string, unknown>[];
}

function expectError(res: JsonResponse, field: string): void {
  expect({ status: res.status, error: res.body?.error, field: res.body?.field }).toEqual({
    status: 400,
    error: STATUS_CODES[400],
    field,
  });
  expect(res.body.message).toMatch(new RegExp(`^${field} `));
}

describe.each(ENGINES)('volume, dollar and tick bars on %s', (engine) => {
  let t: TestApp;
  const random1 = randomTrades(11);

  const bars = (id: string, bar: string, extra: Record<string, string | number> = {}) =>
    request(
      t.baseUrl,
      'GET',
      `${BASE}/query?${new URLSearchParams({
        instrument_id: id,
        data_type: 'TRADE',
        start_time: DAY,
        end_time: NEXT_DAY,
        bar,
        ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, String(v)])),
      }).toString()}`,
    );

  async function store(instrumentId: string, points: Trade[]) {
    const res = await request(t.baseUrl, 'POST', `${BASE}/store`, {
      instrument_id: instrumentId,
      data_type: 'TRADE',
      data_points: points,
    });
    expect(res.status).toBe(200);
    expect(res.body.failed_count).toBe(0);
  }

  beforeAll(async () => {
    t = await startTestApp(engine);
    await store('IB.EDGES', EDGES);
    await store('IB.DEC', DECIMALS);
    await store('IB.RAND', random1);
    await store('IB.NEG', NEGATIVE);
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  it('should close a volume bar at the trade that reaches N exactly and at the one that overshoots, whole', async () => {
    const res = await bars('IB.EDGES', 'volume:10');

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      instrument_id: 'IB.EDGES',
      data_type: 'TRADE',
      bar: 'volume:10',
      total_count: 3,
    });
    // Same microsecond, by key: B before C, Y before Z. B 4 + C 6 = 10 closes bar 0 exactly; A 7,
    // Y 1, Z 8: 26 passes 20, Z closes bar 1 whole (the 6 over counts toward 30); D 2: 28 < 30.
    expect(res.body.data_points).toEqual([
      {
        timestamp: '2025-06-23T14:00:00.000001Z',
        open: 100,
        high: 101,
        low: 100,
        close: 101,
        volume: 10,
        dollar_volume: 1006,
        trade_count: 2,
        end_timestamp: '2025-06-23T14:00:00.000001Z',
        complete: true,
      },
      {
        timestamp: '2025-06-23T14:00:00.000002Z',
        open: 99,
        high: 102,
        low: 98,
        close: 102,
        volume: 16,
        dollar_volume: 693 + 98 + 816,
        trade_count: 3,
        end_timestamp: '2025-06-23T14:00:00.000003Z',
        complete: true,
      },
      {
        timestamp: '2025-06-23T14:00:01.000000Z',
        open: 103,
        high: 103,
        low: 103,
        close: 103,
        volume: 2,
        dollar_volume: 206,
        trade_count: 1,
        end_timestamp: '2025-06-23T14:00:01.000000Z',
        complete: false,
      },
    ]);
    expect(res.body.data_points).toEqual(expectedBars(EDGES, 'volume', '10'));
  });

  it('should answer the fields asked for, then end_timestamp and complete', async () => {
    const res = await bars('IB.EDGES', 'volume:10', { fields: 'trade_count' });

    expect(res.status).toBe(200);
    expect(res.body.data_points[0]).toEqual({
      timestamp: '2025-06-23T14:00:00.000001Z',
      trade_count: 2,
      end_timestamp: '2025-06-23T14:00:00.000001Z',
      complete: true,
    });
  });

  it('should sum decimal sizes exactly: 0.7 + 0.1 reaches volume:0.8', async () => {
    const res = await bars('IB.DEC', 'volume:0.8');

    expect(res.status).toBe(200);
    expect(pointsOf(res).map((p) => [p.volume, p.complete])).toEqual([
      [0.8, true],
      [0.8, true],
    ]);
    expect(res.body.data_points).toEqual(expectedBars(DECIMALS, 'volume', '0.8'));
  });

  it('should count a negative price by its magnitude toward dollar:N', async () => {
    const res = await bars('IB.NEG', 'dollar:4');

    expect(res.status).toBe(200);
    expect(pointsOf(res).map((p) => [p.trade_count, p.dollar_volume, p.complete])).toEqual([
      [1, -5, true],
      [1, 3, true],
      [1, -2, false],
    ]);
    expect(res.body.data_points).toEqual(expectedBars(NEGATIVE, 'dollar', '4'));
  });

  it.each([
    ['volume', '2500'],
    ['volume', '333.333333'],
    ['dollar', '250000'],
    ['dollar', '12345.67'],
    ['tick', '7'],
    ['tick', '1'],
    ['tick', '600'],
    ['tick', '1000'],
  ] as const)('should answer %s:%s bars equal to the recomputation', async (kind, n) => {
    const expected = expectedBars(random1, kind, n);

    const res = await bars('IB.RAND', `${kind}:${n}`, { limit: 100_000 });

    expect(res.status).toBe(200);
    expect(res.body.total_count).toBe(expected.length);
    expect(res.body.data_points).toEqual(expected);
  });

  it('should page bars by limit and offset, total_count the whole range', async () => {
    const all = expectedBars(random1, 'tick', '7');

    const page = await bars('IB.RAND', 'tick:7', { limit: 10, offset: 20 });

    expect(page.body.total_count).toBe(all.length);
    expect(page.body.data_points).toEqual(all.slice(20, 30));
  });

  it('should count bars from the first trade at or after start_time', async () => {
    const fromUs = micros(random1[137].timestamp) + 1;
    const toUs = micros(random1[500].timestamp);
    const expected = expectedBars(random1, 'volume', '2500', fromUs, toUs);

    const res = await bars('IB.RAND', 'volume:2500', {
      start_time: formatInstantMicros(fromUs),
      end_time: formatInstantMicros(toUs),
    });

    expect(res.status).toBe(200);
    expect(res.body.data_points).toEqual(expected);
    expect(res.body.data_points).not.toEqual(
      expectedBars(random1, 'volume', '2500').slice(0, expected.length),
    );
  });

  it('should answer from the cache the second time, one entry per spelling of N, and see a new trade', async () => {
    const first = await bars('IB.EDGES', 'tick:2');
    const again = await bars('IB.EDGES', 'tick:02.000');

    expect(first.body.cache_hit).toBe(false);
    expect(again.body).toMatchObject({ cache_hit: true, bar: 'tick:2' });
    expect(again.body.data_points).toEqual(first.body.data_points);

    const added = { timestamp: '2025-06-23T14:00:02.000000Z', price: 104, size: 1, trade_id: 'E' };
    await store('IB.EDGES', [added]);
    const after = await bars('IB.EDGES', 'tick:2');
    expect(after.body.cache_hit).toBe(false);
    expect(after.body.data_points).toEqual(expectedBars([...EDGES, added], 'tick', '2'));
  });

  it('should answer TICK as TRADE', async () => {
    const res = await bars('IB.EDGES', 'volume:10', { data_type: 'TICK' });

    expect(res.status).toBe(200);
    expect(res.body.data_type).toBe('TRADE');
  });

  it.each([
    ['foo:10'],
    ['volume'],
    ['volume:'],
    ['volume:0'],
    ['volume:0.000'],
    ['volume:-5'],
    ['volume:abc'],
    ['volume:1e6'],
    ['tick:1.5'],
    ['dollar:1234567890123456789'],
  ])('should refuse bar=%s with a 400 naming bar', async (spec) => {
    expectError(await bars('IB.EDGES', spec), 'bar');
  });

  it.each([['OHLCV'], ['QUOTE']])('should refuse bar with data_type %s', async (dataType) => {
    expectError(
      await bars('IB.EDGES', 'volume:10', { data_type: dataType, timeframe: 'ONE_MINUTE' }),
      'bar',
    );
  });

  it('should refuse a cursor with bar: bars page by offset', async () => {
    expectError(await bars('IB.EDGES', 'volume:10', { cursor: 'abc' }), 'cursor');
  });
});
