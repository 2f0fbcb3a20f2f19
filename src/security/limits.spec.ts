import { ExecutionContext } from '@nestjs/common';
import { loadSettings } from '../settings/settings';
import { rateLimitOptions } from './rate-limit';

/** A point with every field at a realistic widest: 17-digit prices, the largest volume, a 50-character source. */
const WIDE_POINT = {
  timestamp: '2025-06-21T10:00:00.000+05:30',
  open: 187.25000000000003,
  high: 187.90000000000003,
  low: 186.80000000000004,
  close: 187.50000000000003,
  volume: '9223372036854775807',
  dollar_volume: 23437500.123456787,
  trade_count: 2147483647,
  quality_score: 0.9876543210987654,
  source: 'NASDAQ Global Select Market (XNGS), consolidated',
};

function httpContext(route: string, key?: string, ip = '10.1.2.3'): ExecutionContext {
  const request = { routeOptions: { url: route }, headers: key ? { 'x-api-key': key } : {}, ip };
  return {
    getType: () => 'http',
    switchToHttp: () => ({ getRequest: () => request }),
  } as unknown as ExecutionContext;
}

describe('request size defaults', () => {
  it('should let a body of MAX_POINTS_PER_REQUEST widest points through BODY_LIMIT_BYTES', () => {
    const settings = loadSettings({});
    const request = {
      instrument_id: 'AAPL',
      timeframe: 'ONE_MINUTE',
      data_points: Array.from({ length: settings.maxPointsPerRequest }, () => WIDE_POINT),
    };

    expect(settings.maxPointsPerRequest).toBe(100_000);
    expect(Buffer.byteLength(JSON.stringify(request))).toBeLessThan(settings.bodyLimitBytes);
    // Pretty-printed too.
    expect(Buffer.byteLength(JSON.stringify(request, null, 2))).toBeLessThan(
      settings.bodyLimitBytes,
    );
  });
});

describe('rateLimitOptions', () => {
  const settings = loadSettings({ API_KEYS: 'alpha-key=read,beta-key=write' });
  const options = rateLimitOptions(settings) as Exclude<
    ReturnType<typeof rateLimitOptions>,
    unknown[]
  >;

  it('should default to 1000 requests per second per client', () => {
    expect(options.throttlers).toEqual([{ limit: 1000, ttl: 1000 }]);
  });

  it('should limit only /api/v1 routes over HTTP, and nothing when the limit is 0', () => {
    expect(options.skipIf!(httpContext('/api/v1/storage/query'))).toBe(false);
    expect(options.skipIf!(httpContext('/health/live'))).toBe(true);
    expect(options.skipIf!(httpContext('/metrics'))).toBe(true);
    const off = rateLimitOptions(loadSettings({ RATE_LIMIT_REQUESTS: '0' }));
    expect((off as typeof options).skipIf!(httpContext('/api/v1/storage/query'))).toBe(true);
  });

  it('should count per configured key, else per address, one budget across routes', async () => {
    const trackerOf = (key?: string, ip?: string) =>
      options.getTracker!(
        httpContext('/api/v1/storage/query', key, ip).switchToHttp().getRequest(),
        httpContext('/x'),
      );

    const alpha = await trackerOf('alpha-key', '10.0.0.1');
    expect(await trackerOf('alpha-key', '10.0.0.2')).toBe(alpha);
    expect(await trackerOf('beta-key', '10.0.0.1')).not.toBe(alpha);
    expect(alpha).not.toContain('alpha-key');
    expect(await trackerOf('wrong-key', '10.0.0.1')).toBe('ip-10.0.0.1');
    expect(await trackerOf(undefined, '10.0.0.1')).toBe('ip-10.0.0.1');
    expect(options.generateKey!(httpContext('/a'), alpha, 'default')).toBe(
      options.generateKey!(httpContext('/b'), alpha, 'default'),
    );
  });
});
