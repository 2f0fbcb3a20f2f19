import { createHash } from 'node:crypto';
import { TimeFrame } from '../common/market-data.types';
import { loadSettings } from '../settings/settings';
import { IntegrityRequestDto } from './dto/integrity.dto';
import { canonicalLine } from './integrity-checksum';
import { IntegrityRepository, StoredBar } from '../repositories/integrity.repository';
import { IntegrityService, MAX_LISTED, violationOf } from './integrity.service';

const MINUTE = 60_000;
const T0 = Date.parse('2025-06-20T00:00:00Z');

function bar(minute: number, overrides: Partial<StoredBar> = {}): StoredBar {
  return {
    timestampMs: T0 + minute * MINUTE,
    open: 10,
    high: 11,
    low: 9,
    close: 10.5,
    volume: '100',
    dollarVolume: null,
    tradeCount: null,
    qualityScore: 1,
    source: null,
    ...overrides,
  };
}

/** A repository over an in-memory list, answering keyset pages as the SQL does. */
function repositoryOver(bars: StoredBar[]): { repo: IntegrityRepository; calls: number[] } {
  const calls: number[] = [];
  const repo = {
    findBarsAfter: jest.fn(
      async (
        _series: unknown,
        range: { fromMs: number; toMs: number },
        after: number | null,
        limit: number,
      ) => {
        calls.push(limit);
        return bars
          .filter((b) => b.timestampMs >= range.fromMs && b.timestampMs < range.toMs)
          .filter((b) => after === null || b.timestampMs > after)
          .slice(0, limit);
      },
    ),
  } as unknown as IntegrityRepository;
  return { repo, calls };
}

function request(overrides: Partial<IntegrityRequestDto> = {}): IntegrityRequestDto {
  return Object.assign(new IntegrityRequestDto(), {
    timeframe: TimeFrame.ONE_MINUTE,
    start_time: '2025-06-20T00:00:00Z',
    end_time: '2025-06-21T00:00:00Z',
    ...overrides,
  });
}

function service(bars: StoredBar[], env: Record<string, string> = {}) {
  const { repo, calls } = repositoryOver(bars);
  return { service: new IntegrityService(repo, loadSettings(env)), calls };
}

describe('IntegrityService', () => {
  describe('check', () => {
    it('should report an empty range with the checksum of no lines', async () => {
      const report = await service([]).service.check('AAPL', request());

      expect(report).toMatchObject({
        count: 0,
        first_timestamp: null,
        last_timestamp: null,
        expected_count: 0,
        missing_count: 0,
        gap_count: 0,
        gaps: [],
        violation_count: 0,
        checksum: {
          algorithm: 'sha256',
          format: 'mds-ohlcv-v1',
          value: createHash('sha256').update('').digest('hex'),
        },
      });
    });

    it('should list gaps of the grid between stored bars, not before the first or after the last', async () => {
      const report = await service([bar(5), bar(6), bar(9), bar(10), bar(20)]).service.check(
        'AAPL',
        request(),
      );

      expect(report).toMatchObject({
        count: 5,
        first_timestamp: '2025-06-20T00:05:00.000Z',
        last_timestamp: '2025-06-20T00:20:00.000Z',
        expected_count: 16,
        missing_count: 11,
        gap_count: 2,
        gaps: [
          {
            start_time: '2025-06-20T00:07:00.000Z',
            end_time: '2025-06-20T00:09:00.000Z',
            missing_count: 2,
          },
          {
            start_time: '2025-06-20T00:11:00.000Z',
            end_time: '2025-06-20T00:20:00.000Z',
            missing_count: 9,
          },
        ],
      });
    });

    it('should count every gap but list at most MAX_LISTED', async () => {
      const bars = Array.from({ length: MAX_LISTED + 6 }, (_, i) => bar(i * 2));
      const report = await service(bars).service.check(
        'AAPL',
        request({ end_time: '2025-06-23T00:00:00Z' }),
      );

      expect(report.gap_count).toBe(MAX_LISTED + 5);
      expect(report.missing_count).toBe(MAX_LISTED + 5);
      expect(report.gaps).toHaveLength(MAX_LISTED);
    });

    it('should read a long range in pieces and hash every bar in order', async () => {
      const bars = Array.from({ length: 12_001 }, (_, i) => bar(i, { volume: String(i) }));
      const { service: s, calls } = service(bars, { MAX_QUERY_RANGE_DAYS: '30' });
      const report = await s.check('AAPL', request({ end_time: '2025-06-29T00:00:00Z' }));

      expect(calls).toEqual([5000, 5000, 5000]);
      expect(report.count).toBe(12_001);
      expect(report.gap_count).toBe(0);
      expect(report.checksum.value).toBe(
        createHash('sha256').update(bars.map(canonicalLine).join('')).digest('hex'),
      );
    });

    it('should refuse a range longer than MAX_QUERY_RANGE_DAYS', async () => {
      await expect(
        service([], { MAX_QUERY_RANGE_DAYS: '1' }).service.check(
          'AAPL',
          request({ end_time: '2025-06-21T00:00:01Z' }),
        ),
      ).rejects.toMatchObject({ field: 'end_time' });
    });

    it('should report each violating bar with its first broken rule', async () => {
      const report = await service([
        bar(0),
        bar(1, { low: 12 }),
        bar(2, { open: Number.NaN }),
        bar(3, { volume: '-5' }),
      ]).service.check('AAPL', request());

      expect(report.violation_count).toBe(3);
      expect(report.violations).toEqual([
        { timestamp: '2025-06-20T00:01:00.000Z', field: 'low', rule: 'low must not exceed high' },
        {
          timestamp: '2025-06-20T00:02:00.000Z',
          field: 'open',
          rule: 'open must be a finite number',
        },
        { timestamp: '2025-06-20T00:03:00.000Z', field: 'volume', rule: 'volume must be >= 0' },
      ]);
    });
  });
});

describe('violationOf', () => {
  it.each<[Partial<StoredBar>, string | null]>([
    [{}, null],
    [{ high: Number.POSITIVE_INFINITY }, 'high'],
    [{ low: 10.6 }, 'low'],
    [{ high: 10.4 }, 'high'],
    [{ timestampMs: T0 + 30_000 }, 'timestamp'],
    [{ dollarVolume: Number.NaN }, 'dollar_volume'],
    [{ tradeCount: -1 }, 'trade_count'],
    [{ qualityScore: 1.5 }, 'quality_score'],
  ])('should find %p breaking %p', (overrides, field) => {
    expect(violationOf(bar(0, overrides), MINUTE)?.field ?? null).toBe(field);
  });
});

describe('canonicalLine', () => {
  it('should write the documented text: UTC ms time, shortest numbers, empty nulls, JSON source', () => {
    expect(
      canonicalLine(
        bar(0, {
          open: 0.1,
          high: 1e21,
          low: 1e-7,
          close: -0,
          volume: '9223372036854775807',
          dollarVolume: 123456789.125,
          tradeCount: 7,
          qualityScore: 0.5,
          source: 'NY|"SE"',
        }),
      ),
    ).toBe(
      '2025-06-20T00:00:00.000Z|0.1|1e+21|1e-7|0|9223372036854775807|123456789.125|7|0.5|"NY|\\"SE\\""\n',
    );
    expect(canonicalLine(bar(0, { qualityScore: null }))).toBe(
      '2025-06-20T00:00:00.000Z|10|11|9|10.5|100||||\n',
    );
  });
});
