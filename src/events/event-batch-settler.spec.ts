import { DatabaseUnavailableError } from '../common/errors';
import { MetricsService } from '../metrics/metrics.service';
import type { EventBatchResult } from './event-ingest';
import { EventBatchSettler, SettleTarget } from './event-batch-settler';

/** A message as the fake transport sees it: its payload and how often it was delivered. */
interface FakeMessage {
  readonly id: string;
  readonly payload: string;
  readonly deliveries: number;
}

/** Records what happened to each message: the outcome the transport would apply. */
class FakeTarget implements SettleTarget<FakeMessage> {
  readonly transport = 'nats' as const;
  readonly outcome = new Map<string, string>();
  deadLetterWorks = true;
  canRetry = true;

  decode(m: FakeMessage): unknown {
    return JSON.parse(m.payload);
  }
  deliveries(m: FakeMessage): number {
    return m.deliveries;
  }
  ack(m: FakeMessage): void {
    this.outcome.set(m.id, 'ack');
  }
  retryLater(m: FakeMessage, delayMs: number): boolean {
    if (!this.canRetry) return false;
    this.outcome.set(m.id, `retry ${delayMs}`);
    return true;
  }
  deadLetter(m: FakeMessage, reason: string): Promise<boolean> {
    if (this.deadLetterWorks) this.outcome.set(m.id, `dead letter: ${reason}`);
    return Promise.resolve(this.deadLetterWorks);
  }
}

function metricsMock(): jest.Mocked<MetricsService> {
  return {
    eventsReceived: jest.fn(),
    eventsSettled: jest.fn(),
    eventDeadLettered: jest.fn(),
  } as unknown as jest.Mocked<MetricsService>;
}

function message(id: string, value: unknown = { id }, deliveries = 1): FakeMessage {
  return { id, payload: typeof value === 'string' ? value : JSON.stringify(value), deliveries };
}

function result(rejected: { index: number; reason: string }[] = []): EventBatchResult {
  return { storedCount: 0, supersededCount: 0, rejected, series: [], storageTimeMs: 1 };
}

const OPTIONS = { maxDeliver: 0, retryBaseMs: 1000, retryMaxMs: 8000 };

describe('EventBatchSettler', () => {
  let target: FakeTarget;
  let metrics: jest.Mocked<MetricsService>;
  let store: jest.Mock<Promise<EventBatchResult>, [unknown[]]>;

  beforeEach(() => {
    target = new FakeTarget();
    metrics = metricsMock();
    store = jest.fn();
  });

  function settler(options = OPTIONS) {
    return new EventBatchSettler(target, store, options, metrics);
  }

  describe('settle', () => {
    it('should ack every message of a stored batch after one store of the whole batch', async () => {
      store.mockResolvedValue(result());

      const summary = await settler().settle([message('a'), message('b'), message('c')]);

      expect(store).toHaveBeenCalledTimes(1);
      expect(store.mock.calls[0]?.[0]).toEqual([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
      expect(Object.fromEntries(target.outcome)).toEqual({ a: 'ack', b: 'ack', c: 'ack' });
      expect(summary).toEqual({
        stored: 3,
        deadLettered: 0,
        retried: 0,
        dropped: 0,
        databaseUnavailable: false,
      });
    });

    it('should dead-letter what is not JSON without storing it, and store the rest', async () => {
      store.mockResolvedValue(result());

      await settler().settle([message('a'), message('bad', 'not json'), message('c')]);

      expect(store.mock.calls[0]?.[0]).toEqual([{ id: 'a' }, { id: 'c' }]);
      expect(target.outcome.get('a')).toBe('ack');
      expect(target.outcome.get('c')).toBe('ack');
      expect(target.outcome.get('bad')).toMatch(/^dead letter: payload is not JSON: /);
      expect(metrics.eventDeadLettered).toHaveBeenCalledWith('nats', 'invalid');
    });

    it('should dead-letter the events the store refused, by their index among the stored', async () => {
      store.mockResolvedValue(
        result([{ index: 1, reason: 'market_data.ohlcv_data.low must not exceed high' }]),
      );

      const summary = await settler().settle([
        message('junk', '{'),
        message('a'),
        message('b'),
        message('c'),
      ]);

      expect(Object.fromEntries(target.outcome)).toEqual({
        junk: expect.stringMatching(/^dead letter: payload is not JSON/),
        a: 'ack',
        b: 'dead letter: market_data.ohlcv_data.low must not exceed high',
        c: 'ack',
      });
      expect(summary).toMatchObject({ stored: 2, deadLettered: 2 });
    });

    it('should store the bars of a batch event with the other events, and dead-letter it for its refused bars only', async () => {
      const bars = [0, 1, 2].map((n) => ({ instrument_id: 'A', timeframe: 'ONE_MINUTE', n }));
      const batch = { event_id: 'b', timestamp: 't', market_data: bars };
      // Index 2 is bar 1 of the batch (after event a); index 4 is event c.
      store.mockResolvedValue(
        result([
          { index: 2, reason: 'market_data.ohlcv_data.low must not exceed high' },
          { index: 4, reason: 'event_id must be a string' },
        ]),
      );

      const summary = await settler().settle([
        message('a'),
        message('batch', batch),
        message('c'),
        message('whole', {
          event_id: 'w',
          market_data: [bars[0], { ...bars[1], instrument_id: 'B' }],
        }),
      ]);

      expect(store.mock.calls[0]?.[0]).toEqual([
        { id: 'a' },
        ...bars.map((bar) => ({ event_id: 'b', timestamp: 't', market_data: bar })),
        { id: 'c' },
      ]);
      expect(Object.fromEntries(target.outcome)).toEqual({
        a: 'ack',
        batch:
          'dead letter: 1 of 3 bars refused (the others are stored): market_data[1].ohlcv_data.low must not exceed high',
        c: 'dead letter: event_id must be a string',
        whole: expect.stringMatching(/^dead letter: market_data\[1\] must have the instrument_id/),
      });
      expect(summary).toMatchObject({ stored: 1, deadLettered: 3 });
    });

    it('should hand every message back with a delay growing per delivery when the database is unavailable', async () => {
      store.mockRejectedValue(new DatabaseUnavailableError(new Error('ECONNREFUSED')));

      const summary = await settler().settle([
        message('first', { n: 1 }, 1),
        message('second', { n: 2 }, 2),
        message('fourth', { n: 4 }, 4),
        message('tenth', { n: 10 }, 10),
      ]);

      expect(Object.fromEntries(target.outcome)).toEqual({
        first: 'retry 1000',
        second: 'retry 2000',
        fourth: 'retry 8000',
        tenth: 'retry 8000',
      });
      expect(summary).toMatchObject({ stored: 0, retried: 4, databaseUnavailable: true });
    });

    it('should treat an error carrying the DATABASE_UNAVAILABLE code from another realm alike', async () => {
      store.mockRejectedValue({ code: 'DATABASE_UNAVAILABLE', message: 'down' });

      const summary = await settler().settle([message('a')]);

      expect(target.outcome.get('a')).toBe('retry 1000');
      expect(summary.databaseUnavailable).toBe(true);
    });

    it('should dead-letter a message that reached maxDeliver instead of handing it back again', async () => {
      store.mockRejectedValue(new DatabaseUnavailableError());

      await settler({ ...OPTIONS, maxDeliver: 3 }).settle([
        message('young', { n: 1 }, 2),
        message('old', { n: 2 }, 3),
      ]);

      expect(target.outcome.get('young')).toBe('retry 2000');
      expect(target.outcome.get('old')).toBe(
        'dead letter: not stored after 3 deliveries: The database is unavailable; retry shortly',
      );
      expect(metrics.eventDeadLettered).toHaveBeenCalledWith('nats', 'undeliverable');
    });

    it('should isolate a poison message by halving the batch and store all the others', async () => {
      store.mockImplementation((events) =>
        events.some((e) => (e as { id: string }).id === 'poison')
          ? Promise.reject(new Error('value out of range for type integer'))
          : Promise.resolve(result()),
      );
      const ids = ['a', 'b', 'c', 'poison', 'e', 'f', 'g'];

      const summary = await settler().settle(ids.map((id) => message(id)));

      expect(Object.fromEntries(target.outcome)).toEqual({
        a: 'ack',
        b: 'ack',
        c: 'ack',
        poison: 'dead letter: could not be stored: value out of range for type integer',
        e: 'ack',
        f: 'ack',
        g: 'ack',
      });
      expect(summary).toMatchObject({ stored: 6, deadLettered: 1, retried: 0 });
      expect(metrics.eventDeadLettered).toHaveBeenCalledWith('nats', 'storage_error');
    });

    it('should hand a message back when its dead letter cannot be published, so it is never lost', async () => {
      store.mockResolvedValue(result());
      target.deadLetterWorks = false;

      const summary = await settler().settle([message('bad', 'nope', 2), message('good')]);

      expect(target.outcome.get('bad')).toBe('retry 2000');
      expect(target.outcome.get('good')).toBe('ack');
      expect(summary).toMatchObject({ stored: 1, deadLettered: 0, retried: 1 });
      expect(metrics.eventDeadLettered).not.toHaveBeenCalled();
    });

    it('should count messages as dropped where the transport cannot redeliver (at most once)', async () => {
      store.mockRejectedValue(new DatabaseUnavailableError());
      target.canRetry = false;

      const summary = await settler().settle([message('a'), message('b')]);

      expect(target.outcome.size).toBe(0);
      expect(summary).toMatchObject({ stored: 0, retried: 0, dropped: 2 });
      expect(metrics.eventsSettled).toHaveBeenCalledWith('nats', summary);
    });

    it('should count received and redelivered messages', async () => {
      store.mockResolvedValue(result());

      await settler().settle([message('a', {}, 1), message('b', {}, 3), message('c', {}, 2)]);

      expect(metrics.eventsReceived).toHaveBeenCalledWith('nats', 3, 2);
    });
  });

  describe('retryDelayMs', () => {
    it('should double from the base per delivery up to the ceiling', () => {
      const s = settler({ maxDeliver: 0, retryBaseMs: 100, retryMaxMs: 1000 });

      expect([1, 2, 3, 4, 5, 100].map((n) => s.retryDelayMs(n))).toEqual([
        100, 200, 400, 800, 1000, 1000,
      ]);
    });
  });
});
