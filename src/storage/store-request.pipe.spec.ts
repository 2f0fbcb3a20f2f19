import { rejectionOf } from '../../test/support/service-mocks';
import { InvalidRequestError, PayloadTooLargeError } from '../common/errors';
import { CompressionLevel, DataType, TimeFrame } from '../common/market-data.types';
import { loadSettings, Settings } from '../settings/settings';
import { StoreRequestDto } from './dto/store-request.dto';
import { StoreRequestPipe } from './store-request.pipe';

const MAX_POINTS = 3;

function settings(): Settings {
  return { ...loadSettings({}), maxPointsPerRequest: MAX_POINTS };
}

function point(minute = 0): Record<string, unknown> {
  return {
    timestamp: `2025-06-21T10:${String(minute).padStart(2, '0')}:00Z`,
    open: 1,
    high: 1,
    low: 1,
    close: 1,
    volume: 1,
  };
}

function body(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    instrument_id: 'AAPL',
    timeframe: 'ONE_MINUTE',
    data_points: [point()],
    ...overrides,
  };
}

describe('StoreRequestPipe', () => {
  let pipe: StoreRequestPipe;

  beforeEach(() => {
    pipe = new StoreRequestPipe(settings());
  });

  describe('transform', () => {
    it('should pass a valid request through as a StoreRequestDto', async () => {
      const request = await pipe.transform(body());

      expect(request).toBeInstanceOf(StoreRequestDto);
      expect(request).toEqual({
        instrument_id: 'AAPL',
        timeframe: TimeFrame.ONE_MINUTE,
        data_points: [point()],
      });
    });

    it('should accept the optional data_type and compression', async () => {
      const request = await pipe.transform(
        body({ data_type: 'OHLCV', compression: 'HIGH', instrument_id: 'BTC/USD:x-1.2_3' }),
      );

      expect(request).toMatchObject({
        instrument_id: 'BTC/USD:x-1.2_3',
        data_type: DataType.OHLCV,
        compression: CompressionLevel.HIGH,
      });
    });

    it('should leave the points to bar-rules, even invalid ones', async () => {
      const points = [{ nonsense: true }, 'not a point', null];

      const request = await pipe.transform(body({ data_points: points }));

      expect(request.data_points).toEqual(points);
    });

    it(`should accept exactly maxPointsPerRequest points`, async () => {
      const points = [point(0), point(1), point(2)];

      const request = await pipe.transform(body({ data_points: points }));

      expect(request.data_points).toHaveLength(MAX_POINTS);
    });

    it.each([
      ['null', null],
      ['undefined', undefined],
      ['an array', [body()]],
      ['a string', '{"instrument_id":"AAPL"}'],
      ['a number', 42],
    ])('should refuse %s as the body', async (_name, raw) => {
      const error = await rejectionOf(pipe.transform(raw));

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({
        field: 'body',
        message: 'body must be a JSON object (a StorageRequest)',
      });
    });

    it('should refuse an unknown top-level field by name', async () => {
      const error = await rejectionOf(pipe.transform(body({ priority: 'high' })));

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({
        field: 'priority',
        message: 'priority is not an accepted field',
      });
    });

    it('should refuse a "constructor" key by name instead of losing the validation rules', async () => {
      const error = await rejectionOf(pipe.transform(body({ constructor: { name: 'x' } })));

      expect(error).toMatchObject({
        field: 'constructor',
        message: 'constructor is not an accepted field',
      });
    });

    it.each(['', undefined])(
      'should say a missing timeframe %p is required, and what it takes',
      async (timeframe) => {
        const error = await rejectionOf(pipe.transform(body({ timeframe })));

        expect(error).toMatchObject({
          field: 'timeframe',
          message:
            'timeframe is required (must be one of ONE_MINUTE, FIVE_MINUTES, FIFTEEN_MINUTES, ONE_HOUR, ONE_DAY)',
        });
      },
    );

    it.each(['TWO_MINUTES', 'one_minute', 60])(
      'should refuse the timeframe %p',
      async (timeframe) => {
        const error = await rejectionOf(pipe.transform(body({ timeframe })));

        expect(error).toBeInstanceOf(InvalidRequestError);
        expect(error).toMatchObject({
          field: 'timeframe',
          message:
            'timeframe must be one of ONE_MINUTE, FIVE_MINUTES, FIFTEEN_MINUTES, ONE_HOUR, ONE_DAY',
        });
      },
    );

    it.each(['', undefined])(
      'should say a missing instrument_id %p is required, and what it takes',
      async (instrumentId) => {
        const error = await rejectionOf(pipe.transform(body({ instrument_id: instrumentId })));

        expect(error).toMatchObject({
          field: 'instrument_id',
          message:
            'instrument_id is required (must be 1-20 printable characters: no control or invisible formatting characters, no leading or trailing space)',
        });
      },
    );

    it.each([' AAPL', 'AAPL ', 'AAPL\tUS', 'A\u202eB', 'X'.repeat(21), 42])(
      'should refuse the instrument_id %p',
      async (instrumentId) => {
        const error = await rejectionOf(pipe.transform(body({ instrument_id: instrumentId })));

        expect(error).toBeInstanceOf(InvalidRequestError);
        expect(error).toMatchObject({
          field: 'instrument_id',
          message:
            'instrument_id must be 1-20 printable characters: no control or invisible formatting characters, no leading or trailing space',
        });
      },
    );

    it('should refuse an unknown data_type', async () => {
      const error = await rejectionOf(pipe.transform(body({ data_type: 'CANDLES' })));

      expect(error).toMatchObject({
        field: 'data_type',
        message: 'data_type must be one of OHLCV, TICK, QUOTE, TRADE',
      });
    });

    it.each(['TRADE', 'TICK', 'QUOTE'])(
      'should take a %s request without a timeframe, and check one that is sent',
      async (data_type) => {
        const withoutTimeframe = body({ data_type });
        delete withoutTimeframe.timeframe;

        await expect(pipe.transform(withoutTimeframe)).resolves.toMatchObject({ data_type });
        const error = await rejectionOf(pipe.transform(body({ data_type, timeframe: 'TEN' })));
        expect(error).toMatchObject({ field: 'timeframe' });
      },
    );

    it('should still require the timeframe of an OHLCV request', async () => {
      const withoutTimeframe = body({ data_type: 'OHLCV' });
      delete withoutTimeframe.timeframe;

      const error = await rejectionOf(pipe.transform(withoutTimeframe));

      expect(error).toMatchObject({ field: 'timeframe' });
    });

    it('should refuse an unknown compression level', async () => {
      const error = await rejectionOf(pipe.transform(body({ compression: 'ULTRA' })));

      expect(error).toMatchObject({
        field: 'compression',
        message: 'compression must be one of NONE, LOW, MEDIUM, HIGH',
      });
    });

    it('should refuse empty data_points', async () => {
      const error = await rejectionOf(pipe.transform(body({ data_points: [] })));

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({
        field: 'data_points',
        message: 'data_points must hold at least one point',
      });
    });

    it.each([
      ['missing', undefined],
      ['an object', { 0: point() }],
      ['a string', '[]'],
    ])('should refuse data_points that are %s', async (_name, dataPoints) => {
      const error = await rejectionOf(pipe.transform(body({ data_points: dataPoints })));

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({ field: 'data_points' });
    });

    it('should refuse more than maxPointsPerRequest points as too large', async () => {
      const points = [point(0), point(1), point(2), point(3)];

      const error = await rejectionOf(pipe.transform(body({ data_points: points })));

      expect(error).toBeInstanceOf(PayloadTooLargeError);
      expect((error as Error).message).toBe('data_points holds 4 points; at most 3 per request');
    });
  });
});
