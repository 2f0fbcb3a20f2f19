import fc from 'fast-check';
import { alignedMs, isoWithOffset, mutatedPoint, validPoint } from '../../test/support/arbitraries';
import { instantOf, SentPoint, volumeText } from '../../test/support/client-checksum';
import { DomainError, InvalidRequestError } from '../common/errors';
import { TimeFrame } from '../common/market-data.types';
import { parseIsoInstant } from '../common/time';
import { createValidationPipe } from '../common/validation';
import { LatestRequestDto, QueryRequestDto } from '../query/dto/query-request.dto';
import { parseFields } from '../query/query.service';
import { loadSettings } from '../settings/settings';
import { checkBars } from './bar-rules';
import { StoreRequestPipe } from './store-request.pipe';

/** Property-based tests of the write path's rules and the request DTOs (no database). */

const RUNS = { numRuns: 300 };
const TIMEFRAME = fc.constantFrom(...Object.values(TimeFrame));

/** -0 is stored as 0. */
const plain = (v: number) => (v === 0 ? 0 : v);

describe('checkBars (properties)', () => {
  it('should account for every point of any JSON input, never throwing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.jsonValue(), mutatedPoint, validPoint()), { maxLength: 20 }),
        TIMEFRAME,
        (points, timeframe) => {
          const checked = checkBars(points, timeframe);
          expect(checked.rows.length + checked.failedCount + checked.supersededCount).toBe(
            points.length,
          );
          expect(checked.errors).toHaveLength(checked.failedCount);
          for (const error of checked.errors) {
            expect(error.index).toBeGreaterThanOrEqual(0);
            expect(error.index).toBeLessThan(points.length);
            expect(error.message.startsWith(`${error.field} `)).toBe(true);
          }
        },
      ),
      RUNS,
    );
  });

  it('should keep every valid point unaltered, the last one per instant', () => {
    fc.assert(
      fc.property(fc.array(validPoint(), { minLength: 1, maxLength: 20 }), (points) => {
        const checked = checkBars(points, TimeFrame.ONE_MINUTE);
        expect(checked.failedCount).toBe(0);
        const expected = new Map<number, SentPoint>();
        for (const p of points) expected.set(instantOf(p.timestamp), p);
        expect(checked.rows).toHaveLength(expected.size);
        for (const row of checked.rows) {
          const p = expected.get(row.timestampMs)!;
          expect(p).toBeDefined();
          expect(row).toEqual({
            timestampMs: row.timestampMs,
            open: plain(p.open),
            high: plain(p.high),
            low: plain(p.low),
            close: plain(p.close),
            volume: volumeText(p.volume),
            dollarVolume: p.dollar_volume == null ? null : plain(p.dollar_volume),
            tradeCount: p.trade_count ?? null,
            qualityScore: p.quality_score === undefined ? 1 : plain(p.quality_score),
            source: p.source ?? null,
            streamTimeUs: null,
          });
          expect(Object.is(row.open, -0)).toBe(false);
        }
      }),
      RUNS,
    );
  });
});

describe('parseIsoInstant (properties)', () => {
  it('should read any aligned instant written with any offset as that instant', () => {
    fc.assert(
      fc.property(
        alignedMs.chain((ms) => isoWithOffset(ms).map((iso) => [ms, iso] as const)),
        ([ms, iso]) => {
          expect(parseIsoInstant(iso)).toEqual({
            ms,
            subMillisecond: false,
            micros: 0,
            subMicrosecond: false,
          });
        },
      ),
      RUNS,
    );
  });

  it('should accept exactly the real calendar dates', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1900, max: 2199 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 31 }),
        (year, month, day) => {
          const iso = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T00:00:00Z`;
          const date = new Date(Date.UTC(year, month - 1, day));
          const real = date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
          expect(parseIsoInstant(iso)?.ms ?? null).toBe(real ? date.getTime() : null);
        },
      ),
      RUNS,
    );
  });

  it('should never throw on any text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.jsonValue()), (value) => {
        const parsed = parseIsoInstant(value);
        if (parsed) expect(Number.isFinite(parsed.ms)).toBe(true);
      }),
      RUNS,
    );
  });
});

/** The error a call throws, or undefined. */
async function thrownBy(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('StoreRequestPipe (properties)', () => {
  const pipe = new StoreRequestPipe(loadSettings({ MAX_POINTS_PER_REQUEST: '5' }));

  it('should take any JSON body or refuse it with a domain error (a 4xx), nothing else', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue(),
          fc.record(
            {
              instrument_id: fc.oneof(fc.string(), fc.jsonValue()),
              timeframe: fc.oneof(TIMEFRAME, fc.jsonValue()),
              data_points: fc.oneof(fc.array(fc.jsonValue(), { maxLength: 8 }), fc.jsonValue()),
              data_type: fc.jsonValue(),
            },
            { requiredKeys: [] },
          ),
        ),
        async (body) => {
          const error = await thrownBy(() => pipe.transform(body));
          if (error !== undefined) expect(error).toBeInstanceOf(DomainError);
        },
      ),
      RUNS,
    );
  });
});

describe('query request DTOs (properties)', () => {
  const pipe = createValidationPipe();
  const KEYS = [
    'instrument_id',
    'timeframe',
    'start_time',
    'end_time',
    'fields',
    'limit',
    'offset',
  ];
  const queryString = fc.dictionary(
    fc.oneof(fc.constantFrom(...KEYS), fc.string()),
    fc.oneof(
      fc.string(),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.constantFrom('AAPL', 'ONE_MINUTE', '2025-06-21T10:00:00Z', '1e3', '-1', '100001', 'close'),
    ),
  );

  it.each([
    ['QueryRequestDto', QueryRequestDto],
    ['LatestRequestDto', LatestRequestDto],
  ])('should validate any query string of a %s into the DTO or a 400', async (_name, metatype) => {
    await fc.assert(
      fc.asyncProperty(queryString, async (query) => {
        const error = await thrownBy(async () => {
          const dto = (await pipe.transform(query, { type: 'query', metatype })) as {
            fields?: string;
          };
          parseFields(dto.fields);
        });
        if (error !== undefined) expect(error).toBeInstanceOf(InvalidRequestError);
      }),
      RUNS,
    );
  });
});
