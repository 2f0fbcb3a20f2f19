import { loadSettings } from '../src/settings/settings';
import { Logger } from '@nestjs/common';
import { formatInstantMicros } from '../src/common/time';
import { TimeFrame, TIMEFRAME_MS } from '../src/common/market-data.types';
import { DatabaseConnection } from '../src/database/database-connection';
import { QUOTE_FIELDS, QuotesReader } from '../src/repositories/quotes.reader';
import { QuoteRow, QuotesRepository } from '../src/repositories/quotes.repository';
import { TickPosition } from '../src/repositories/tick-tables';
import { TRADE_FIELDS, TradesReader } from '../src/repositories/trades.reader';
import { TradeRow, TradesRepository } from '../src/repositories/trades.repository';
import { TickLifecycleTask } from '../src/lifecycle/tick-lifecycle.task';
import { runTask } from './support/lifecycle';
import {
  capabilitiesOf,
  createTestDatabase,
  ENGINES,
  TestDatabase,
  TestEngine,
} from './support/test-database';
import { makeTradeRows } from './support/trades';

/**
 * 1,000,000 trades on the local PostgreSQL (COPY path); 200,000 on the
 * embedded engine, whose array path in one PGlite session would make a
 * million a several-minute test on the shared 2-core machine.
 */
/** Trades round-tripped: a million on a server, fewer on the slower embedded engine. */
const ROUND_TRIP_COUNT: Record<TestEngine, number> = {
  postgresql: 1_000_000,
  timescaledb: 1_000_000,
  embedded: 200_000,
};
const DAY_US = 86_400_000_000;
const FAR = { fromUs: Date.UTC(1990, 0, 1) * 1000, toUs: Date.UTC(2100, 0, 1) * 1000 };

interface JsonTrade {
  timestamp: string;
  price: number;
  size: number;
  trade_id: string | null;
  conditions: string[] | null;
  source: string | null;
}

async function walkTrades(
  repo: TradesReader,
  instrumentId: string,
  limit: number,
  range = FAR,
): Promise<{ points: JsonTrade[]; pages: number; firstTotal?: number }> {
  const points: JsonTrade[] = [];
  let after: TickPosition | undefined;
  let pages = 0;
  let firstTotal: number | undefined;
  do {
    const page = await repo.findPage(instrumentId, range, TRADE_FIELDS, limit, after, pages === 0);
    if (pages === 0) firstTotal = page.totalCount;
    else expect(page.totalCount).toBeUndefined();
    points.push(...(JSON.parse(page.pointsJson) as JsonTrade[]));
    after = page.next;
    pages++;
  } while (after);
  return { points, pages, firstTotal };
}

function expectedTrade(row: TradeRow): JsonTrade {
  return {
    timestamp: formatInstantMicros(row.timestampUs),
    price: row.price,
    size: row.size,
    trade_id: row.key.startsWith('~') ? null : row.key,
    conditions: row.conditions === null ? null : [...row.conditions],
    source: row.source,
  };
}

/** Bars recomputed in the test: first/last by (timestamp, key), sums exact in cents. */
function recomputeBars(rows: readonly TradeRow[], timeframe: TimeFrame) {
  const step = TIMEFRAME_MS[timeframe] * 1000;
  const sorted = [...rows].sort((a, b) =>
    a.timestampUs !== b.timestampUs
      ? a.timestampUs - b.timestampUs
      : a.key < b.key
        ? -1
        : a.key > b.key
          ? 1
          : 0,
  );
  const bars = new Map<
    number,
    {
      open: number;
      high: number;
      low: number;
      close: number;
      volume: number;
      cents: number;
      n: number;
    }
  >();
  for (const t of sorted) {
    const bucket = Math.floor(t.timestampUs / step) * step;
    const bar = bars.get(bucket);
    const cents = Math.round(t.price * 100) * t.size;
    if (!bar) {
      bars.set(bucket, {
        open: t.price,
        high: t.price,
        low: t.price,
        close: t.price,
        volume: t.size,
        cents,
        n: 1,
      });
    } else {
      bar.high = Math.max(bar.high, t.price);
      bar.low = Math.min(bar.low, t.price);
      bar.close = t.price;
      bar.volume += t.size;
      bar.cents += cents;
      bar.n++;
    }
  }
  return [...bars.entries()].map(([bucket, b]) => ({
    timestamp: new Date(bucket / 1000).toISOString(),
    open: b.open,
    high: b.high,
    low: b.low,
    close: b.close,
    volume: b.volume,
    dollar_volume: b.cents / 100,
    trade_count: b.n,
  }));
}

describe.each(ENGINES)('TradesRepository, QuotesRepository and their readers on %s', (engine) => {
  let db: TestDatabase;
  let connection: DatabaseConnection;
  let trades: TradesRepository;
  let quotes: QuotesRepository;
  let tradeReads: TradesReader;
  let quoteReads: QuotesReader;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = await createTestDatabase(engine);
    connection = await DatabaseConnection.open(db.settings);
    trades = new TradesRepository(connection);
    quotes = new QuotesRepository(connection);
    tradeReads = new TradesReader(connection);
    quoteReads = new QuotesReader(connection);
  }, 120_000);

  afterAll(async () => {
    await connection?.close();
    await db?.drop();
  });

  describe('upsertTrades and TradesReader.findPage', () => {
    it(`should give back ${ROUND_TRIP_COUNT[engine].toLocaleString('en')} trades with their microseconds exactly`, async () => {
      const rows = makeTradeRows('2025-06-02T13:30:00Z', ROUND_TRIP_COUNT[engine]);
      for (let at = 0; at < rows.length; at += 100_000) {
        await trades.upsertTrades([{ instrumentId: 'RT', trades: rows.slice(at, at + 100_000) }]);
      }

      const { points, pages, firstTotal } = await walkTrades(tradeReads, 'RT', 100_000);

      expect(firstTotal).toBe(rows.length);
      expect(pages).toBe(Math.ceil(rows.length / 100_000));
      expect(points.length).toBe(rows.length);
      // Stored order is (timestamp, key); the factory's is by timestamp, then index: compare as sets per row.
      const byKey = new Map(points.map((p) => [`${p.timestamp}|${p.trade_id}`, p]));
      expect(byKey.size).toBe(rows.length);
      let mismatches = 0;
      for (const row of rows) {
        const got = byKey.get(`${formatInstantMicros(row.timestampUs)}|${row.key}`);
        if (JSON.stringify(got) !== JSON.stringify(expectedTrade(row))) mismatches++;
      }
      expect(mismatches).toBe(0);
      const sharing = rows.filter((r, i) => i > 0 && r.timestampUs === rows[i - 1].timestampUs);
      expect(sharing.length).toBeGreaterThan(rows.length / 20);
      expect(rows.some((r) => r.timestampUs % 1000 !== 0)).toBe(true);
    }, 900_000);

    it('should replace a trade written again with the same timestamp and key (idempotent replay)', async () => {
      const rows = makeTradeRows('2025-06-03T13:30:00Z', 1_200, 11);
      await trades.upsertTrades([{ instrumentId: 'REPLAY', trades: rows }]);
      await trades.upsertTrades([{ instrumentId: 'REPLAY', trades: rows }]);
      const changed = rows.map((r, i) => (i === 5 ? { ...r, price: 999.5, conditions: ['Z'] } : r));
      await trades.upsertTrades([{ instrumentId: 'REPLAY', trades: changed }]);

      const { points } = await walkTrades(tradeReads, 'REPLAY', 1000);

      expect(points.length).toBe(rows.length);
      const fifth = points.find((p) => p.trade_id === 'T5');
      expect(fifth).toMatchObject({ price: 999.5, conditions: ['Z'] });
    });

    it('should walk every row exactly once with small pages, in (timestamp, key) order', async () => {
      const rows = makeTradeRows('2025-06-04T13:30:00Z', 257, 3);
      await trades.upsertTrades([{ instrumentId: 'PAGES', trades: rows }]);

      const { points, pages } = await walkTrades(tradeReads, 'PAGES', 10);

      expect(pages).toBe(26);
      const keys = points.map((p) => `${p.timestamp}|${p.trade_id}`);
      expect(new Set(keys).size).toBe(257);
      const expected = rows
        .map((r) => ({ ts: r.timestampUs, key: r.key }))
        .sort((a, b) => a.ts - b.ts || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
        .map((r) => `${formatInstantMicros(r.ts)}|${r.key}`);
      expect(keys).toEqual(expected);
    });

    it('should keep the range half-open to the microsecond', async () => {
      const base = Date.parse('2025-06-05T10:00:00Z') * 1000;
      const rows: TradeRow[] = [0, 1, 2, 3].map((d) => ({
        timestampUs: base + d,
        key: `K${d}`,
        price: 10,
        size: 1,
        conditions: null,
        qualityScore: 1,
        source: null,
      }));
      await trades.upsertTrades([{ instrumentId: 'EDGE', trades: rows }]);

      const page = await tradeReads.findPage(
        'EDGE',
        { fromUs: base + 1, toUs: base + 3 },
        ['timestamp'],
        10,
        undefined,
        true,
      );

      expect(page.totalCount).toBe(2);
      expect(JSON.parse(page.pointsJson)).toEqual([
        { timestamp: '2025-06-05T10:00:00.000001Z' },
        { timestamp: '2025-06-05T10:00:00.000002Z' },
      ]);
      expect(page.next).toBeUndefined();
    });

    it('should answer the newest trade, and null for an instrument without trades', async () => {
      const rows = makeTradeRows('2025-06-06T13:30:00Z', 50, 5);
      await trades.upsertTrades([{ instrumentId: 'LATEST', trades: rows }]);
      const newest = [...rows].sort(
        (a, b) => b.timestampUs - a.timestampUs || (b.key > a.key ? 1 : -1),
      )[0];

      const latest = await tradeReads.findLatest('LATEST', ['timestamp', 'price', 'trade_id']);

      expect(JSON.parse(latest!)).toEqual({
        timestamp: formatInstantMicros(newest.timestampUs),
        price: newest.price,
        trade_id: newest.key,
      });
      await expect(tradeReads.findLatest('NOTRADES', ['timestamp'])).resolves.toBeNull();
    });
  });

  describe('findBarsFromTrades', () => {
    it.each([TimeFrame.ONE_MINUTE, TimeFrame.FIVE_MINUTES, TimeFrame.ONE_HOUR])(
      'should build %s bars equal to an independent recomputation',
      async (timeframe) => {
        const instrumentId = `BARS${timeframe.length}`;
        const rows = makeTradeRows('2025-06-09T13:30:00Z', 20_000, 21);
        await trades.upsertTrades([{ instrumentId, trades: rows }]);
        const expected = recomputeBars(rows, timeframe);
        const from = Date.parse('2025-06-09T13:00:00Z');

        const page = await tradeReads.findBarsFromTrades(
          instrumentId,
          timeframe,
          { fromMs: from, toMs: from + DAY_US / 1000 },
          ['timestamp', 'open', 'high', 'low', 'close', 'volume', 'dollar_volume', 'trade_count'],
          { limit: 100_000, offset: 0 },
        );

        expect(page.totalCount).toBe(expected.length);
        expect(JSON.parse(page.pointsJson)).toEqual(expected);
      },
    );
  });

  describe('quotes', () => {
    const at = (us: number): QuoteRow => ({
      timestampUs: Date.parse('2025-06-10T14:00:00Z') * 1000 + us,
      bid: 100 + us / 100,
      ask: 100.05 + us / 100,
      bidSize: 300,
      askSize: 200,
      source: '',
    });

    it('should store one quote per timestamp and source, a later write replacing it', async () => {
      const rows = [at(0), { ...at(0), source: 'ARCX' }, at(7), at(9)];
      await quotes.upsertQuotes([{ instrumentId: 'Q', quotes: rows }]);
      await quotes.upsertQuotes([
        { instrumentId: 'Q', quotes: [{ ...at(7), bid: 99, ask: 99.5 }] },
      ]);

      const page = await quoteReads.findPage('Q', FAR, QUOTE_FIELDS, 2, undefined, true);
      const rest = await quoteReads.findPage('Q', FAR, QUOTE_FIELDS, 2, page.next, false);

      expect(page.totalCount).toBe(4);
      expect([...JSON.parse(page.pointsJson), ...JSON.parse(rest.pointsJson)]).toEqual([
        {
          timestamp: '2025-06-10T14:00:00.000000Z',
          bid: 100,
          ask: 100.05,
          bid_size: 300,
          ask_size: 200,
          source: null,
        },
        {
          timestamp: '2025-06-10T14:00:00.000000Z',
          bid: 100,
          ask: 100.05,
          bid_size: 300,
          ask_size: 200,
          source: 'ARCX',
        },
        {
          timestamp: '2025-06-10T14:00:00.000007Z',
          bid: 99,
          ask: 99.5,
          bid_size: 300,
          ask_size: 200,
          source: null,
        },
        {
          timestamp: '2025-06-10T14:00:00.000009Z',
          bid: 100.09,
          ask: 100.14,
          bid_size: 300,
          ask_size: 200,
          source: null,
        },
      ]);
      expect(rest.next).toBeUndefined();
      expect(JSON.parse((await quoteReads.findLatest('Q', ['timestamp', 'bid']))!)).toEqual({
        timestamp: '2025-06-10T14:00:00.000009Z',
        bid: 100.09,
      });
    });

    it('should write 5,000 quotes in bulk and again (the COPY and merge paths on a server)', async () => {
      const rows = Array.from({ length: 5_000 }, (_, i) => at(i * 3));
      await quotes.upsertQuotes([{ instrumentId: 'QBULK', quotes: rows }]);
      await quotes.upsertQuotes([
        { instrumentId: 'QBULK', quotes: rows.map((r) => ({ ...r, askSize: 1 })) },
      ]);

      const page = await quoteReads.findPage(
        'QBULK',
        FAR,
        ['timestamp', 'ask_size'],
        100_000,
        undefined,
        true,
      );

      expect(page.totalCount).toBe(5_000);
      const points = JSON.parse(page.pointsJson) as { timestamp: string; ask_size: number }[];
      expect(points.every((p) => p.ask_size === 1)).toBe(true);
      expect(points.map((p) => p.timestamp)).toEqual(
        rows.map((r) => formatInstantMicros(r.timestampUs)),
      );
    });
  });

  describe('compression and retention', () => {
    it(
      capabilitiesOf(engine).timescale
        ? 'should compress the trades chunks ended before the cutoff and measure the ratio'
        : 'should compress nothing and report 0 on plain PostgreSQL',
      async () => {
        const compressed = await trades.maintenance.compressChunksEndedBefore(
          Date.parse('2025-06-06T00:00:00Z'),
        );
        const ratio = await trades.maintenance.measureCompressionRatio('RT');

        if (capabilitiesOf(engine).timescale) {
          expect(compressed.length).toBeGreaterThan(0);
          expect(ratio).toBeGreaterThan(0.5);
          // Compressed rows still read back, and a replay into them still upserts.
          const rows = makeTradeRows('2025-06-03T13:30:00Z', 1_200, 11);
          await trades.upsertTrades([{ instrumentId: 'REPLAY', trades: rows }]);
          const { points } = await walkTrades(tradeReads, 'REPLAY', 1000);
          expect(points.length).toBe(1_200);
        } else {
          expect(compressed).toEqual([]);
          expect(ratio).toBe(0);
        }
      },
      300_000,
    );

    it('should drop the data wholly before the retention cutoff', async () => {
      const old: TradeRow = {
        timestampUs: Date.parse('2021-03-10T10:00:00Z') * 1000,
        key: 'OLD',
        price: 1,
        size: 1,
        conditions: null,
        qualityScore: 1,
        source: null,
      };
      await trades.upsertTrades([{ instrumentId: 'RETAIN', trades: [old] }]);

      const dropped = await trades.maintenance.dropDataBefore(Date.parse('2022-01-01T00:00:00Z'));

      expect(dropped).toBeGreaterThan(0);
      const { points } = await walkTrades(tradeReads, 'RETAIN', 10);
      expect(points).toEqual([]);
      const { points: kept } = await walkTrades(tradeReads, 'PAGES', 1000);
      expect(kept.length).toBe(257);
    });
  });

  describe('TickLifecycleTask', () => {
    it('should drop what is past retention and compress what is past a day (TimescaleDB)', async () => {
      const trade = (iso: string, key: string): TradeRow => ({
        timestampUs: Date.parse(iso) * 1000,
        key,
        price: 1,
        size: 1,
        conditions: null,
        qualityScore: 1,
        source: null,
      });
      await trades.upsertTrades([
        {
          instrumentId: 'LIFE',
          trades: [trade('2023-01-10T10:00:00Z', 'OLD'), trade('2025-06-17T10:00:00Z', 'NEW')],
        },
      ]);
      await quotes.upsertQuotes([
        {
          instrumentId: 'LIFE',
          quotes: [
            {
              timestampUs: Date.parse('2025-06-17T10:00:00Z') * 1000,
              bid: 1,
              ask: 1,
              bidSize: 1,
              askSize: 1,
              source: '',
            },
          ],
        },
      ]);
      const task = new TickLifecycleTask(trades, quotes, loadSettings({}));

      const report = await runTask(connection, task, new Date('2025-06-20T00:00:00Z'));

      expect(report.dropped_parts).toBeGreaterThanOrEqual(1);
      const { points } = await walkTrades(tradeReads, 'LIFE', 10);
      expect(points.map((p) => p.trade_id)).toEqual(['NEW']);
      if (capabilitiesOf(engine).timescale) {
        const compressed = report.compressed_chunks as string[];
        expect(compressed.some((c) => c.includes('_hyper_'))).toBe(true);
        expect(await quotes.maintenance.measureCompressionRatio('LIFE')).not.toBe(0);
      } else {
        expect(report.compressed_chunks).toEqual([]);
      }
    });
  });
});
