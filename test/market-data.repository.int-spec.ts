import { Logger } from '@nestjs/common';
import { Client } from 'pg';
import {
  PointField,
  POINT_FIELDS,
  SeriesKey,
  TimeFrame,
  TIMEFRAME_MS,
  TIMEFRAMES_FINEST_FIRST,
} from '../src/common/market-data.types';
import { DatabaseConnection } from '../src/database/database-connection';
import { BarsReader, Page } from '../src/repositories/bars.reader';
import { SPLIT_PAGE_ROWS } from '../src/repositories/halved-page';
import {
  BarRow,
  MarketDataRepository,
  TimeRange,
} from '../src/repositories/market-data.repository';
import { makeBarRows } from './support/bar-rows';
import { capabilitiesOf, createTestDatabase, ENGINES, TestDatabase } from './support/test-database';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const ALL_PAGE = { limit: 100_000, offset: 0 };
const ALL_FIELDS: readonly PointField[] = POINT_FIELDS;
const MAX_INT8 = '9223372036854775807';
const ABOVE_2_POW_53 = '9007199254740993';

/** A point as the repository serializes it (small volumes: JSON.parse is exact). */
interface JsonPoint {
  timestamp: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  dollar_volume: number | null;
  trade_count: number | null;
}

function series(instrumentId: string, timeframe = TimeFrame.ONE_MINUTE): SeriesKey {
  return { instrumentId, timeframe };
}

function rangeOf(fromIso: string, toIso: string): TimeRange {
  return { fromMs: Date.parse(fromIso), toMs: Date.parse(toIso) };
}

/** What findRange must return for a stored row, all fields. */
function expectedPoint(row: BarRow): JsonPoint {
  return {
    timestamp: new Date(row.timestampMs).toISOString(),
    open: row.open,
    high: row.high,
    low: row.low,
    close: row.close,
    volume: Number(row.volume),
    dollar_volume: row.dollarVolume,
    trade_count: row.tradeCount,
  };
}

function withValues(rows: readonly BarRow[], change: (row: BarRow, i: number) => Partial<BarRow>) {
  return rows.map((row, i) => ({ ...row, ...change(row, i) }));
}

interface DerivedBar {
  timestamp: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: bigint;
  dollar_volume: number | null;
  trade_count: number | null;
}

/** Recomputation of findDerivedRange, independent of the SQL: buckets aligned on the epoch (UTC). */
function deriveInTypeScript(rows: readonly BarRow[], bucketMs: number, range: TimeRange) {
  const inRange = rows
    .filter((r) => r.timestampMs >= range.fromMs && r.timestampMs < range.toMs)
    .sort((a, b) => a.timestampMs - b.timestampMs);
  const buckets = new Map<number, DerivedBar>();
  for (const row of inRange) {
    const start = Math.floor(row.timestampMs / bucketMs) * bucketMs;
    const bar = buckets.get(start);
    if (!bar) {
      buckets.set(start, {
        timestamp: new Date(start).toISOString(),
        open: row.open,
        high: row.high,
        low: row.low,
        close: row.close,
        volume: BigInt(row.volume),
        dollar_volume: row.dollarVolume,
        trade_count: row.tradeCount,
      });
      continue;
    }
    bar.high = Math.max(bar.high, row.high);
    bar.low = Math.min(bar.low, row.low);
    bar.close = row.close;
    bar.volume += BigInt(row.volume);
    // A sum is only known when every bar of the bucket has the value.
    bar.dollar_volume =
      bar.dollar_volume === null || row.dollarVolume === null
        ? null
        : bar.dollar_volume + row.dollarVolume;
    bar.trade_count =
      bar.trade_count === null || row.tradeCount === null ? null : bar.trade_count + row.tradeCount;
  }
  return [...buckets.values()];
}

/** The volume of each point as written in the JSON text (a decimal string past 2^53-1). */
function volumesInText(json: string): string[] {
  return [...json.matchAll(/"volume"\s*:\s*"?(-?[\d.]+)/g)].map((m) => m[1]);
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(ENGINES)('MarketDataRepository on %s', (engine) => {
  let db: TestDatabase;
  let connection: DatabaseConnection;
  let repository: MarketDataRepository;
  let reader: BarsReader;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = await createTestDatabase(engine);
    connection = await DatabaseConnection.open(db.settings);
    repository = new MarketDataRepository(connection);
    reader = new BarsReader(connection);
  });

  afterAll(async () => {
    await connection?.close();
    await db?.drop();
  });

  async function countRows(instrumentId: string, timeframe?: TimeFrame): Promise<number> {
    const { rows } = await connection.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM market_data_ts
        WHERE instrument_id = $1 AND ($2::text IS NULL OR timeframe = $2)`,
      [instrumentId, timeframe ?? null],
    );
    return Number(rows[0].n);
  }

  async function readAll(key: SeriesKey): Promise<JsonPoint[]> {
    const page = await reader.findRange(
      key,
      { fromMs: 0, toMs: Date.parse('2100-01-01T00:00:00Z') },
      ALL_FIELDS,
      ALL_PAGE,
    );
    return JSON.parse(page.pointsJson) as JsonPoint[];
  }

  /** Records the SQL sent by every pg client while `work` runs (to see which write path ran). */
  async function sqlSentDuring(work: () => Promise<void>): Promise<string[]> {
    // A spy calls through to the real query.
    const spy = jest.spyOn(Client.prototype, 'query');
    try {
      await work();
      return spy.mock.calls.map(([first]: unknown[]) =>
        typeof first === 'string' ? first : ((first as { text?: string })?.text ?? ''),
      );
    } finally {
      spy.mockRestore();
    }
  }

  describe('upsertBars', () => {
    it('should store new rows that findRange reads back exactly, all fields', async () => {
      const key = series('UP.NEW');
      const rows = withValues(makeBarRows('2025-01-06T09:30:00Z', 30), (_row, i) =>
        i === 3
          ? { open: 0.1 + 0.2, high: 1e6 + 0.015625, low: 1e-7, close: 0.30000000000000004 }
          : {},
      );

      await repository.upsertBars(key, rows);

      await expect(readAll(key)).resolves.toEqual(rows.map(expectedPoint));
      await expect(countRows('UP.NEW')).resolves.toBe(30);
    });

    it('should store null dollar_volume and trade_count as null', async () => {
      const key = series('UP.NULLS');
      const rows = withValues(makeBarRows('2025-01-06T00:00:00Z', 3), () => ({
        dollarVolume: null,
        tradeCount: null,
        source: null,
      }));

      await repository.upsertBars(key, rows);

      const points = await readAll(key);
      expect(points.map((p) => [p.dollar_volume, p.trade_count])).toEqual([
        [null, null],
        [null, null],
        [null, null],
      ]);
    });

    it('should replace existing rows with the new values and keep the row count', async () => {
      const key = series('UP.REPLACE');
      const first = makeBarRows('2025-01-07T10:00:00Z', 20);
      await repository.upsertBars(key, first);
      const second = withValues(first, (row, i) => ({
        open: row.open + 1,
        high: row.high + 2,
        low: row.low - 1,
        close: row.close + 1,
        volume: String(7_000 + i),
        dollarVolume: 123.25 + i,
        tradeCount: i,
        qualityScore: 0.5,
        source: 'replayed',
      }));

      await repository.upsertBars(key, second.slice(5, 15));

      const expected = [...first.slice(0, 5), ...second.slice(5, 15), ...first.slice(15)];
      await expect(readAll(key)).resolves.toEqual(expected.map(expectedPoint));
      await expect(countRows('UP.REPLACE')).resolves.toBe(20);
      const { rows: stored } = await connection.pool.query<{ q: number; s: string; n: string }>(
        `SELECT quality_score AS q, source AS s, count(*) AS n FROM market_data_ts
          WHERE instrument_id = 'UP.REPLACE' GROUP BY 1, 2 ORDER BY 1`,
      );
      expect(stored).toEqual([
        { q: 0.5, s: 'replayed', n: '10' },
        { q: 1, s: 'test', n: '10' },
      ]);
    });

    it('should keep series apart: the same timestamps of another instrument or timeframe are other rows', async () => {
      const rows = makeBarRows('2025-01-08T00:00:00Z', 5);
      const changed = withValues(rows, () => ({ close: 42, high: 1000 }));

      await repository.upsertBars(series('UP.A'), rows);
      await repository.upsertBars(series('UP.B'), changed);
      await repository.upsertBars(series('UP.A', TimeFrame.ONE_HOUR), changed);

      await expect(readAll(series('UP.A'))).resolves.toEqual(rows.map(expectedPoint));
      await expect(readAll(series('UP.B'))).resolves.toEqual(changed.map(expectedPoint));
      await expect(readAll(series('UP.A', TimeFrame.ONE_HOUR))).resolves.toEqual(
        changed.map(expectedPoint),
      );
    });

    it.each(TIMEFRAMES_FINEST_FIRST)('should store and read back %s bars', async (timeframe) => {
      const key = series('UP.EVERY', timeframe);
      const rows = makeBarRows('2025-01-08T00:00:00Z', 3, TIMEFRAME_MS[timeframe]);

      await repository.upsertBars(key, rows);

      await expect(readAll(key)).resolves.toEqual(rows.map(expectedPoint));
    });

    it('should do nothing for an empty batch', async () => {
      await repository.upsertBars(series('UP.EMPTY'), []);

      await expect(countRows('UP.EMPTY')).resolves.toBe(0);
    });

    it('should store a batch of 500 or more new rows (COPY on a server) exactly', async () => {
      const key = series('UP.BULK');
      const rows = makeBarRows('2025-01-09T00:00:00Z', 1_200, MINUTE, 7);

      const sql = await sqlSentDuring(() => repository.upsertBars(key, rows));

      await expect(readAll(key)).resolves.toEqual(rows.map(expectedPoint));
      await expect(countRows('UP.BULK')).resolves.toBe(1_200);
      const copied = sql.some((s) => s.startsWith('COPY market_data_ts'));
      expect(copied).toBe(!capabilitiesOf(engine).embedded);
    });

    it('should store a bulk batch whose bars jump between months, back and forth', async () => {
      // On plain PostgreSQL each month is a partition made before the COPY: every month of
      // the batch must be found, also one met again after another and one before the first.
      const key = series('UP.MONTHS');
      const months = ['2031-01-31T23:00:00Z', '2031-03-01T00:00:00Z', '2030-12-31T23:00:00Z'];
      const rows = months
        .flatMap((start, i) => makeBarRows(start, 200, MINUTE, i + 1))
        .concat(makeBarRows('2031-01-15T00:00:00Z', 200, MINUTE, 9));

      await repository.upsertBars(key, rows);

      const sorted = [...rows].sort((a, b) => a.timestampMs - b.timestampMs);
      await expect(readAll(key)).resolves.toEqual(sorted.map(expectedPoint));
    });

    it('should merge a batch of 500 or more that partly collides with stored rows', async () => {
      const key = series('UP.BULKMIX');
      const old = makeBarRows('2025-01-10T00:00:00Z', 300, MINUTE, 3);
      await repository.upsertBars(key, old);
      const batch = withValues(makeBarRows('2025-01-10T00:00:00Z', 800, MINUTE, 11), (_row, i) => ({
        volume: String(1_000_000 + i),
        source: 'second',
      }));

      const sql = await sqlSentDuring(() => repository.upsertBars(key, batch));

      await expect(readAll(key)).resolves.toEqual(batch.map(expectedPoint));
      await expect(countRows('UP.BULKMIX')).resolves.toBe(800);
      const { rows: sources } = await connection.pool.query<{ source: string }>(
        `SELECT DISTINCT source FROM market_data_ts WHERE instrument_id = 'UP.BULKMIX'`,
      );
      expect(sources).toEqual([{ source: 'second' }]);
      if (!capabilitiesOf(engine).embedded) {
        expect(sql.some((s) => s.startsWith('COPY '))).toBe(true);
        expect(sql.some((s) => s.includes('ON CONFLICT'))).toBe(true);
      }
    });

    it('should end with one row per timestamp, all from one batch, when two bulk writers of the same new rows race', async () => {
      const key = series('UP.RACE');
      const first = makeBarRows('2025-01-10T00:00:00Z', 700, MINUTE, 12);
      const second = withValues(first, (row, i) => ({
        close: row.close,
        volume: String(2_000_000 + i),
        source: 'second',
      }));

      await Promise.all([repository.upsertBars(key, first), repository.upsertBars(key, second)]);

      const points = await readAll(key);
      expect([first.map(expectedPoint), second.map(expectedPoint)]).toContainEqual(points);
      await expect(countRows('UP.RACE')).resolves.toBe(700);
    });

    // A second session writing meanwhile: only a server has one.
    if (!capabilitiesOf(engine).embedded) {
      it('should fall back to the merge when its COPY collides with a row committed meanwhile', async () => {
        const key = series('UP.COLLIDE');
        const batch = makeBarRows('2025-01-14T00:00:00Z', 600, MINUTE, 13);
        await repository.preparePartitionsAhead(batch[0].timestampMs, 0);
        const other = new Client({ connectionString: db.settings.databaseUrl });
        await other.connect();
        try {
          // An uncommitted row in the middle of the batch: invisible to any pre-check,
          // it makes the COPY wait on the unique key, then fail once committed.
          await other.query('BEGIN');
          await other.query(
            `INSERT INTO market_data_ts ("timestamp", instrument_id, timeframe,
               open_price, high_price, low_price, close_price, volume)
             VALUES ($1, 'UP.COLLIDE', 'ONE_MINUTE', 1, 1, 1, 1, 1)`,
            [new Date(batch[300].timestampMs).toISOString()],
          );
          const writing = repository.upsertBars(key, batch);
          await waitUntil(async () => {
            const { rows } = await connection.pool.query<{ waiting: boolean }>(
              `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                               WHERE datname = current_database() AND wait_event_type = 'Lock'
                                 AND query LIKE 'COPY%') AS waiting`,
            );
            return rows[0].waiting;
          });
          await other.query('COMMIT');
          await writing;
        } finally {
          await other.end();
        }

        await expect(readAll(key)).resolves.toEqual(batch.map(expectedPoint));
        await expect(countRows('UP.COLLIDE')).resolves.toBe(600);
      });
    }

    it('should merge a bulk batch that looks new but meets a row stored by another writer mid-batch', async () => {
      const key = series('UP.OTHERWRITER');
      const batch = makeBarRows('2025-01-15T00:00:00Z', 700, MINUTE, 17);
      await repository.preparePartitionsAhead(batch[0].timestampMs, 0);
      // Stored behind this repository's back: it cannot know the row is there.
      await connection.pool.query(
        `INSERT INTO market_data_ts ("timestamp", instrument_id, timeframe,
           open_price, high_price, low_price, close_price, volume, source)
         VALUES ($1, 'UP.OTHERWRITER', 'ONE_MINUTE', 1, 1, 1, 1, 1, 'other')`,
        [new Date(batch[450].timestampMs).toISOString()],
      );

      const sql = await sqlSentDuring(() => repository.upsertBars(key, batch));

      await expect(readAll(key)).resolves.toEqual(batch.map(expectedPoint));
      await expect(countRows('UP.OTHERWRITER')).resolves.toBe(700);
      if (!capabilitiesOf(engine).embedded) {
        // COPY first, refused by the unique key, then the merge of the same data.
        const copyFirst = sql.findIndex((s) => s.startsWith('COPY market_data_ts'));
        const merge = sql.findIndex((s) => s.includes('ON CONFLICT'));
        expect(copyFirst).toBeGreaterThanOrEqual(0);
        expect(merge).toBeGreaterThan(copyFirst);
      }
    });

    it('should send the next overwriting batch of a collided series straight to the merge', async () => {
      const key = series('UP.REPLAY');
      const stored = makeBarRows('2025-01-16T00:00:00Z', 1_200, MINUTE, 19);
      await connection.pool.query(
        `INSERT INTO market_data_ts ("timestamp", instrument_id, timeframe,
           open_price, high_price, low_price, close_price, volume)
         SELECT t, 'UP.REPLAY', 'ONE_MINUTE', 1, 1, 1, 1, 1 FROM unnest($1::timestamptz[]) AS t`,
        [stored.map((r) => new Date(r.timestampMs).toISOString())],
      );
      // A replay in two batches: the first collides, the second is known to overwrite.
      await repository.upsertBars(key, stored.slice(0, 600));

      const sql = await sqlSentDuring(() => repository.upsertBars(key, stored.slice(600)));

      await expect(readAll(key)).resolves.toEqual(stored.map(expectedPoint));
      await expect(countRows('UP.REPLAY')).resolves.toBe(1_200);
      if (!capabilitiesOf(engine).embedded) {
        expect(sql.some((s) => s.startsWith('COPY market_data_ts'))).toBe(false);
        expect(sql.some((s) => s.startsWith('COPY market_data_staging'))).toBe(true);
      }
    });

    it('should store new rows of several series in one bulk call and leave none of them on a failure', async () => {
      const a = makeBarRows('2025-01-17T00:00:00Z', 400, MINUTE, 23);
      const b = makeBarRows('2025-01-17T00:00:00Z', 400, 5 * MINUTE, 29);
      const bad = withValues(makeBarRows('2025-01-18T00:00:00Z', 400, MINUTE, 31), (_r, i) => ({
        // The 301st row breaks the column's range: the whole call must fail.
        tradeCount: i === 300 ? 2 ** 40 : 1,
      }));

      await repository.upsertSeriesBars([
        { series: series('UP.MULTI.A'), bars: a },
        { series: series('UP.MULTI.B', TimeFrame.FIVE_MINUTES), bars: b },
      ]);
      await expect(
        repository.upsertSeriesBars([
          { series: series('UP.MULTI.C'), bars: a },
          { series: series('UP.MULTI.D'), bars: bad },
        ]),
      ).rejects.toThrow();

      await expect(readAll(series('UP.MULTI.A'))).resolves.toEqual(a.map(expectedPoint));
      await expect(countRows('UP.MULTI.B', TimeFrame.FIVE_MINUTES)).resolves.toBe(400);
      await expect(countRows('UP.MULTI.C')).resolves.toBe(0);
      await expect(countRows('UP.MULTI.D')).resolves.toBe(0);
    });

    it('should store a bulk batch whose rows all exist already with the new values', async () => {
      const key = series('UP.BULKALL');
      const old = makeBarRows('2025-01-11T00:00:00Z', 600, MINUTE, 5);
      await repository.upsertBars(key, old);
      const again = withValues(old, (row) => ({ close: row.close, open: row.open, volume: '1' }));

      await repository.upsertBars(key, again);

      await expect(readAll(key)).resolves.toEqual(again.map(expectedPoint));
      await expect(countRows('UP.BULKALL')).resolves.toBe(600);
    });

    it.each([
      ['a small batch', 2],
      ['a bulk batch', 600],
    ])('should round-trip volumes of 2^63-1 and 2^53+1 exactly in %s', async (_label, count) => {
      const instrumentId = `UP.BIGVOL${count}`;
      const key = series(instrumentId);
      const rows = withValues(makeBarRows('2025-01-12T00:00:00Z', count), (_row, i) => ({
        volume: i % 2 === 0 ? MAX_INT8 : ABOVE_2_POW_53,
      }));

      await repository.upsertBars(key, rows);

      const page = await reader.findRange(
        key,
        rangeOf('2025-01-12T00:00:00Z', '2025-01-13T00:00:00Z'),
        ['timestamp', 'volume'],
        ALL_PAGE,
      );
      expect(volumesInText(page.pointsJson)).toEqual(rows.map((r) => r.volume));
      const latest = await reader.findLatest(key, ['volume']);
      // Past 2^53-1 as a decimal string, which JSON.parse keeps exact.
      expect(latest).toBe(`{"volume":"${rows[rows.length - 1].volume}"}`);
      const { rows: stored } = await connection.pool.query<{ volume: string }>(
        `SELECT volume FROM market_data_ts WHERE instrument_id = $1 ORDER BY "timestamp"`,
        [instrumentId],
      );
      expect(stored.map((r) => r.volume)).toEqual(rows.map((r) => r.volume));
    });

    describe.each([
      ['a small batch', 4],
      ['a bulk batch', 600],
    ])('the later event wins, in %s', (_label, count) => {
      const T = Date.parse('2025-01-14T00:00:00Z') * 1000;
      const at = (us: number | null) => (row: BarRow) => ({ ...row, streamTimeUs: us });
      const streamTimes = async (instrumentId: string) => {
        const { rows } = await connection.pool.query<{ us: string | null }>(
          `SELECT DISTINCT (extract(epoch FROM stream_time) * 1e6)::bigint::text AS us
             FROM market_data_ts WHERE instrument_id = $1`,
          [instrumentId],
        );
        return rows.map((r) => (r.us === null ? null : Number(r.us)));
      };

      it('should keep the bar of an event the stream stored later than the one arriving now', async () => {
        const key = series(`UP.LATER${count}`);
        const later = makeBarRows('2025-01-14T00:00:00Z', count, MINUTE, 21).map(at(T + 2));
        const earlier = withValues(makeBarRows('2025-01-14T00:00:00Z', count, MINUTE, 22), () => ({
          streamTimeUs: T + 1,
        }));

        await repository.upsertBars(key, later);
        await repository.upsertBars(key, earlier);

        await expect(readAll(key)).resolves.toEqual(later.map(expectedPoint));
        await expect(streamTimes(key.instrumentId)).resolves.toEqual([T + 2]);
      });

      it('should replace a bar with an event stored later, or at the same instant', async () => {
        const key = series(`UP.NEWER${count}`);
        const first = makeBarRows('2025-01-14T00:00:00Z', count, MINUTE, 23).map(at(T + 1));
        const second = makeBarRows('2025-01-14T00:00:00Z', count, MINUTE, 24).map(at(T + 5));
        const tie = makeBarRows('2025-01-14T00:00:00Z', count, MINUTE, 25).map(at(T + 5));

        await repository.upsertBars(key, first);
        await repository.upsertBars(key, second);
        await expect(readAll(key)).resolves.toEqual(second.map(expectedPoint));
        await repository.upsertBars(key, tie);

        await expect(readAll(key)).resolves.toEqual(tie.map(expectedPoint));
        await expect(streamTimes(key.instrumentId)).resolves.toEqual([T + 5]);
      });

      it('should let a REST write (no stream time) replace an event bar, and any event replace it', async () => {
        const key = series(`UP.REST${count}`);
        const fromEvent = makeBarRows('2025-01-14T00:00:00Z', count, MINUTE, 26).map(at(T + 9));
        const fromRest = makeBarRows('2025-01-14T00:00:00Z', count, MINUTE, 27);
        const olderEvent = makeBarRows('2025-01-14T00:00:00Z', count, MINUTE, 28).map(at(T + 1));

        await repository.upsertBars(key, fromEvent);
        await repository.upsertBars(key, fromRest);
        await expect(readAll(key)).resolves.toEqual(fromRest.map(expectedPoint));
        await expect(streamTimes(key.instrumentId)).resolves.toEqual([null]);

        await repository.upsertBars(key, olderEvent);
        await expect(readAll(key)).resolves.toEqual(olderEvent.map(expectedPoint));
      });

      it('should apply the rule per bar: a batch partly newer, partly older', async () => {
        const key = series(`UP.MIXED${count}`);
        const stored = makeBarRows('2025-01-14T00:00:00Z', count, MINUTE, 29).map(at(T + 5));
        const incoming = makeBarRows('2025-01-14T00:00:00Z', count, MINUTE, 30).map((row, i) =>
          at(i % 2 === 0 ? T + 6 : T + 4)(row),
        );

        await repository.upsertBars(key, stored);
        await repository.upsertBars(key, incoming);

        const expected = incoming.map((row, i) => (i % 2 === 0 ? row : stored[i]));
        await expect(readAll(key)).resolves.toEqual(expected.map(expectedPoint));
      });
    });

    it.each([
      ['a small batch', 3],
      ['a bulk batch', 600],
    ])(
      'should round-trip sources holding tabs, backslashes, newlines and \\N in %s',
      async (_label, count) => {
        const instrumentId = `UP.SRC${count}`;
        const sources = ['tab\there', 'back\\slash', 'new\nline\r', '\\N', null, 'plain'];
        const rows = withValues(makeBarRows('2025-01-13T00:00:00Z', count), (_row, i) => ({
          source: sources[i % sources.length],
        }));

        await repository.upsertBars(series(instrumentId), rows);

        const { rows: stored } = await connection.pool.query<{ source: string | null }>(
          `SELECT source FROM market_data_ts WHERE instrument_id = $1 ORDER BY "timestamp"`,
          [instrumentId],
        );
        expect(stored.map((r) => r.source)).toEqual(rows.map((r) => r.source));
      },
    );
  });

  describe('findRange', () => {
    const key = series('FR.SERIES');
    const rows = makeBarRows('2025-02-03T14:00:00Z', 120, MINUTE, 21);

    beforeAll(async () => {
      await repository.upsertBars(key, rows);
      // Neighbours that must never leak into the answer.
      await repository.upsertBars(series('FR.OTHER'), makeBarRows('2025-02-03T14:00:00Z', 10));
      await repository.upsertBars(
        series('FR.SERIES', TimeFrame.ONE_HOUR),
        makeBarRows('2025-02-03T14:00:00Z', 2, HOUR),
      );
    });

    it('should return the rows of the range in ascending order with the total count', async () => {
      const page = await reader.findRange(
        key,
        rangeOf('2025-02-03T14:00:00Z', '2025-02-03T16:00:00Z'),
        ALL_FIELDS,
        ALL_PAGE,
      );

      expect(page.totalCount).toBe(120);
      expect(JSON.parse(page.pointsJson)).toEqual(rows.map(expectedPoint));
    });

    it('should treat the range as half-open [from, to)', async () => {
      const page = await reader.findRange(
        key,
        rangeOf('2025-02-03T14:10:00Z', '2025-02-03T14:20:00Z'),
        ['timestamp'],
        ALL_PAGE,
      );

      const timestamps = (JSON.parse(page.pointsJson) as JsonPoint[]).map((p) => p.timestamp);
      expect(timestamps[0]).toBe('2025-02-03T14:10:00.000Z');
      expect(timestamps[timestamps.length - 1]).toBe('2025-02-03T14:19:00.000Z');
      expect(timestamps).toHaveLength(10);
      expect(page.totalCount).toBe(10);
    });

    it('should include a row exactly at from and exclude one exactly at to when bounds are off the minute', async () => {
      const page = await reader.findRange(
        { ...key },
        {
          fromMs: Date.parse('2025-02-03T14:10:00Z'),
          toMs: Date.parse('2025-02-03T14:10:00Z') + 1,
        },
        ['timestamp'],
        ALL_PAGE,
      );

      expect(JSON.parse(page.pointsJson)).toEqual([{ timestamp: '2025-02-03T14:10:00.000Z' }]);
    });

    it('should return only the requested fields, in the requested order', async () => {
      const page = await reader.findRange(
        key,
        rangeOf('2025-02-03T14:00:00Z', '2025-02-03T14:03:00Z'),
        ['timestamp', 'close', 'volume'],
        ALL_PAGE,
      );

      const points = JSON.parse(page.pointsJson) as Record<string, unknown>[];
      expect(points).toEqual(
        rows.slice(0, 3).map((r) => ({
          timestamp: new Date(r.timestampMs).toISOString(),
          close: r.close,
          volume: Number(r.volume),
        })),
      );
      expect(Object.keys(points[0])).toEqual(['timestamp', 'close', 'volume']);
    });

    it('should page with limit and offset while total_count counts the whole range', async () => {
      const range = rangeOf('2025-02-03T14:00:00Z', '2025-02-03T15:00:00Z');

      const page = await reader.findRange(key, range, ALL_FIELDS, { limit: 7, offset: 20 });

      expect(page.totalCount).toBe(60);
      expect(JSON.parse(page.pointsJson)).toEqual(rows.slice(20, 27).map(expectedPoint));
    });

    it('should tell the total from a last page shorter than its limit', async () => {
      const range = rangeOf('2025-02-03T14:00:00Z', '2025-02-03T15:00:00Z');

      const page = await reader.findRange(key, range, ALL_FIELDS, { limit: 50, offset: 30 });

      expect(page.totalCount).toBe(60);
      expect(JSON.parse(page.pointsJson)).toEqual(rows.slice(30, 60).map(expectedPoint));
    });

    it('should count the range when the page is exactly full', async () => {
      const range = rangeOf('2025-02-03T14:00:00Z', '2025-02-03T15:00:00Z');

      const page = await reader.findRange(key, range, ['timestamp'], { limit: 60, offset: 0 });

      expect(page.totalCount).toBe(60);
      expect(JSON.parse(page.pointsJson)).toHaveLength(60);
    });

    it('should tell the total of a full last page without counting, and count when more follows', async () => {
      const range = rangeOf('2025-02-03T14:00:00Z', '2025-02-03T15:00:00Z'); // 60 bars
      type Read = (page: Page) => Promise<{ totalCount: number }>;
      /** The page's total and how many counts of the range were sent to get it. */
      const totalAndCounts = async (read: Read, page: Page) => {
        let total = 0;
        const sql = await sqlSentDuring(async () => {
          total = (await read(page)).totalCount;
        });
        return { total, counts: sql.filter((q) => q.includes('AS total_count')).length };
      };
      const reads: Read[] = [
        (page) => reader.findRange(key, range, ['timestamp'], page),
        (page) => reader.findRangeColumns(key, range, ['timestamp', 'close'], page),
      ];
      for (const read of reads) {
        await expect(totalAndCounts(read, { limit: 60, offset: 0 })).resolves.toEqual({
          total: 60,
          counts: 0,
        });
        await expect(totalAndCounts(read, { limit: 20, offset: 40 })).resolves.toEqual({
          total: 60,
          counts: 0,
        });
        await expect(totalAndCounts(read, { limit: 20, offset: 20 })).resolves.toEqual({
          total: 60,
          counts: 1,
        });
      }
    });

    it('should count the range for an empty page far past its end', async () => {
      const range = rangeOf('2025-02-03T14:00:00Z', '2025-02-03T15:00:00Z');

      const page = await reader.findRange(key, range, ALL_FIELDS, { limit: 10, offset: 500 });

      expect(page).toEqual({ totalCount: 60, pointsJson: '[]' });
    });

    it('should return an empty page past the end with the total count still right', async () => {
      const range = rangeOf('2025-02-03T14:00:00Z', '2025-02-03T15:00:00Z');

      const page = await reader.findRange(key, range, ALL_FIELDS, { limit: 10, offset: 60 });

      expect(page).toEqual({ totalCount: 60, pointsJson: '[]' });
    });

    it('should return an empty array and a zero count for a range without data', async () => {
      const page = await reader.findRange(
        key,
        rangeOf('2024-02-03T14:00:00Z', '2024-02-04T14:00:00Z'),
        ALL_FIELDS,
        ALL_PAGE,
      );

      expect(page).toEqual({ totalCount: 0, pointsJson: '[]' });
    });

    it('should return an empty array for an unknown series', async () => {
      const page = await reader.findRange(
        series('FR.NOPE'),
        rangeOf('2025-02-03T14:00:00Z', '2025-02-03T16:00:00Z'),
        ALL_FIELDS,
        ALL_PAGE,
      );

      expect(page).toEqual({ totalCount: 0, pointsJson: '[]' });
    });
  });

  describe('findRange and findRangeColumns of a long page (read in two halves where a second session is free)', () => {
    const key = series('LONG.SERIES');
    const ROWS = SPLIT_PAGE_ROWS + 4_001; // odd: halves of unequal length
    const rows = makeBarRows('2025-03-03T00:00:00Z', ROWS, MINUTE, 7);
    const range = rangeOf('2025-03-03T00:00:00Z', '2025-04-03T00:00:00Z');
    const fields: readonly PointField[] = ['timestamp', 'close', 'volume'];

    beforeAll(async () => {
      await repository.upsertBars(key, rows);
    });

    /** What a columns page of `rows` from `from` must hold. */
    function expectedColumns(from: number, count: number) {
      const page = rows.slice(from, from + count);
      return {
        timestamp: page.map((row) => row.timestampMs * 1000),
        close: page.map((row) => row.close),
        volume: page.map((row) => Number(row.volume)),
      };
    }

    /** What a JSON page of `rows` from `from` must hold. */
    function expectedPoints(from: number, count: number) {
      return rows.slice(from, from + count).map((row) => ({
        timestamp: new Date(row.timestampMs).toISOString(),
        close: row.close,
        volume: Number(row.volume),
      }));
    }

    /** The SQL the work sent: how many reads of a page's second half, and whether a transaction began. */
    async function readsDuring(work: () => Promise<unknown>) {
      const sql = await sqlSentDuring(async () => {
        await work();
      });
      return {
        splits: sql.filter((q) => q.includes(`t."timestamp" >= ('epoch'`)).length,
        middles: sql.filter((q) => q.includes('AS micros')).length,
        began: sql.some((q) => q.startsWith('BEGIN')),
      };
    }

    const LONG_PAGES = [
      { name: 'the whole range', page: { limit: ROWS, offset: 0 } },
      { name: 'a page from an offset', page: { limit: SPLIT_PAGE_ROWS, offset: 1_000 } },
      {
        name: 'a last page shorter than its limit',
        page: { limit: SPLIT_PAGE_ROWS, offset: 10_000 },
      },
      {
        name: 'a page whose middle lies past the end',
        page: { limit: SPLIT_PAGE_ROWS, offset: 20_000 },
      },
    ];

    /** Whether the page is read in two halves: on a server (the embedded engine has one session), with rows past its middle. */
    function halved(page: Page): boolean {
      return engine !== 'embedded' && page.offset + page.limit / 2 < ROWS;
    }

    it.each(LONG_PAGES)(
      'should return $name as columns exactly as its rows, bar for bar',
      async ({ page }) => {
        let answer: Awaited<ReturnType<BarsReader['findRangeColumns']>> | undefined;
        const { splits, middles } = await readsDuring(async () => {
          answer = await reader.findRangeColumns(key, range, fields, page);
        });

        const count = Math.min(page.limit, ROWS - page.offset);
        expect(answer).toEqual({
          totalCount: ROWS,
          count,
          columns: expectedColumns(page.offset, count),
        });
        expect(splits).toBe(halved(page) ? 1 : 0);
        // A page that does not hold its whole range is split at its middle row, found by a query.
        expect(middles).toBe(engine === 'embedded' ? 0 : 1);
      },
    );

    it.each(LONG_PAGES)(
      'should return $name as JSON exactly as its rows, bar for bar',
      async ({ page }) => {
        let answer: Awaited<ReturnType<BarsReader['findRange']>> | undefined;
        const { splits } = await readsDuring(async () => {
          answer = await reader.findRange(key, range, fields, page);
        });

        const count = Math.min(page.limit, ROWS - page.offset);
        expect(answer!.totalCount).toBe(ROWS);
        expect(JSON.parse(answer!.pointsJson)).toEqual(expectedPoints(page.offset, count));
        expect(splits).toBe(halved(page) ? 1 : 0);
      },
    );

    // A page that holds its whole range (offset 0, a limit no smaller than the range's minutes)
    // is split at the range's middle instant, with no query for a middle row.
    it.each([
      {
        name: 'with rows on both sides of its middle',
        range: rangeOf('2025-03-03T00:00:00Z', '2025-04-03T00:00:00Z'),
        parts: 2,
      },
      {
        name: 'with every row before its middle',
        range: rangeOf('2025-03-03T00:00:00Z', '2025-05-03T00:00:00Z'),
        parts: 1,
      },
      {
        name: 'from a start within the rows',
        range: rangeOf('2025-03-10T00:00:00Z', '2025-04-10T00:00:00Z'),
        parts: 1,
      },
    ])('should return a page holding its whole range $name exactly as its rows', async (shape) => {
      const page = { limit: 100_000, offset: 0 };
      const from = (shape.range.fromMs - rows[0].timestampMs) / MINUTE;
      const inRange = Math.min(ROWS - from, (shape.range.toMs - shape.range.fromMs) / MINUTE);
      let columns: Awaited<ReturnType<BarsReader['findRangeColumns']>> | undefined;
      let json: Awaited<ReturnType<BarsReader['findRange']>> | undefined;
      const reads = await readsDuring(async () => {
        columns = await reader.findRangeColumns(key, shape.range, fields, page);
        json = await reader.findRange(key, shape.range, fields, page);
      });

      expect(columns).toEqual({
        totalCount: inRange,
        count: inRange,
        columns: expectedColumns(from, inRange),
      });
      expect(json!.totalCount).toBe(inRange);
      expect(JSON.parse(json!.pointsJson)).toEqual(expectedPoints(from, inRange));
      // Two halves read per answer on a server, whether or not the second holds rows.
      const server = engine !== 'embedded';
      expect(reads).toEqual({ splits: server ? 2 : 0, middles: 0, began: server });
    });

    it('should read a page as asked when its range holds more rows than its grid (stored past the rules)', async () => {
      // Bars every 30 s in a ONE_MINUTE series: more than one a minute, which the API refuses but
      // the table does not. The halves then hold more than the page, which is read whole.
      const dense = series('LONG.DENSE');
      const denseRows = makeBarRows('2025-03-03T00:00:00Z', ROWS, 30_000, 3);
      await repository.upsertBars(dense, denseRows);
      const denseRange = rangeOf('2025-03-03T00:00:00Z', '2025-03-16T21:20:00Z'); // 20,000 minutes
      const page = { limit: SPLIT_PAGE_ROWS, offset: 0 };

      let answer: Awaited<ReturnType<BarsReader['findRangeColumns']>> | undefined;
      const reads = await readsDuring(async () => {
        answer = await reader.findRangeColumns(dense, denseRange, fields, page);
      });

      const first = denseRows.slice(0, SPLIT_PAGE_ROWS);
      expect(answer).toEqual({
        totalCount: ROWS,
        count: SPLIT_PAGE_ROWS,
        columns: {
          timestamp: first.map((row) => row.timestampMs * 1000),
          close: first.map((row) => row.close),
          volume: first.map((row) => Number(row.volume)),
        },
      });
      // Halved at the range's middle instant first, then read whole on finding too many rows.
      const server = engine !== 'embedded';
      expect(reads).toEqual({ splits: server ? 1 : 0, middles: 0, began: server });
    });

    it('should return the page after a bar (keyset) exactly as its rows', async () => {
      const after = rows[2_999];
      let answer: Awaited<ReturnType<BarsReader['findRangeColumnsAfter']>> | undefined;
      const reads = await readsDuring(async () => {
        answer = await reader.findRangeColumnsAfter(
          key,
          range,
          after.timestampMs * 1000,
          fields,
          SPLIT_PAGE_ROWS,
        );
      });

      expect(answer).toEqual({
        count: SPLIT_PAGE_ROWS,
        columns: expectedColumns(3_000, SPLIT_PAGE_ROWS),
      });
      // Both halves in one snapshot: a transaction on each server session.
      const server = engine !== 'embedded';
      expect(reads).toEqual({ splits: server ? 1 : 0, middles: server ? 1 : 0, began: server });
    });

    it('should read a range too short to hold a long page in one statement, with no transaction', async () => {
      // One day of minutes under a limit of 100,000: at most 1,442 bars, never worth two halves.
      const day = rangeOf('2025-03-04T00:00:00Z', '2025-03-05T00:00:00Z');
      const longLimit = { limit: 100_000, offset: 0 };
      let columns: Awaited<ReturnType<BarsReader['findRangeColumns']>> | undefined;
      let json: Awaited<ReturnType<BarsReader['findRange']>> | undefined;
      const reads = await readsDuring(async () => {
        columns = await reader.findRangeColumns(key, day, fields, longLimit);
        json = await reader.findRange(key, day, fields, longLimit);
      });

      expect(reads).toEqual({ splits: 0, middles: 0, began: false });
      expect(columns).toEqual({
        totalCount: 1_440,
        count: 1_440,
        columns: expectedColumns(1_440, 1_440),
      });
      expect(JSON.parse(json!.pointsJson)).toEqual(expectedPoints(1_440, 1_440));
    });
  });

  describe('findDerivedRange', () => {
    const instrumentId = 'DR.SERIES';
    // Day 1 with gaps (every 7th minute, 10:00-11:59 entirely, nulls 13:00-13:04),
    // day 2 missing entirely, day 3 until 06:00 with 03:00-03:59 missing.
    const start = Date.parse('2025-04-07T00:00:00Z');
    const rows = makeBarRows('2025-04-07T00:00:00Z', 3 * 1440, MINUTE, 99)
      .filter((row, i) => {
        const t = row.timestampMs - start;
        if (i % 7 === 3) return false;
        if (t >= 10 * HOUR && t < 12 * HOUR) return false;
        if (t >= DAY && t < 2 * DAY) return false;
        if (t >= 2 * DAY + 3 * HOUR && t < 2 * DAY + 4 * HOUR) return false;
        return t < 2 * DAY + 6 * HOUR;
      })
      .map((row) =>
        row.timestampMs >= start + 13 * HOUR && row.timestampMs < start + 13 * HOUR + 5 * MINUTE
          ? { ...row, dollarVolume: null, tradeCount: null }
          : row,
      );
    const wholeRange = rangeOf('2025-04-07T00:00:00Z', '2025-04-10T00:00:00Z');

    beforeAll(async () => {
      await repository.upsertBars(series(instrumentId), rows);
      // Another stored timeframe of the same instrument must not be mixed in.
      await repository.upsertBars(
        series(instrumentId, TimeFrame.ONE_HOUR),
        makeBarRows('2025-04-07T00:00:00Z', 30, HOUR, 5),
      );
    });

    function expectSameBars(json: string, expected: DerivedBar[]) {
      const points = JSON.parse(json) as JsonPoint[];
      expect(points.map((p) => p.timestamp)).toEqual(expected.map((e) => e.timestamp));
      points.forEach((point, i) => {
        const e = expected[i];
        expect({
          open: point.open,
          high: point.high,
          low: point.low,
          close: point.close,
          trade_count: point.trade_count,
        }).toEqual({
          open: e.open,
          high: e.high,
          low: e.low,
          close: e.close,
          trade_count: e.trade_count,
        });
        if (e.dollar_volume === null) expect(point.dollar_volume).toBeNull();
        // Float sums may differ in the last bits with the order of addition.
        else
          expect(Math.abs(point.dollar_volume! - e.dollar_volume)).toBeLessThan(
            1e-9 * e.dollar_volume,
          );
      });
      expect(volumesInText(json)).toEqual(expected.map((e) => e.volume.toString()));
    }

    it.each([TimeFrame.FIVE_MINUTES, TimeFrame.ONE_HOUR, TimeFrame.ONE_DAY])(
      'should equal a recomputation of %s from ONE_MINUTE, gaps included',
      async (target) => {
        const expected = deriveInTypeScript(rows, TIMEFRAME_MS[target], wholeRange);

        const page = await reader.findDerivedRange(
          instrumentId,
          TimeFrame.ONE_MINUTE,
          target,
          wholeRange,
          ALL_FIELDS,
          ALL_PAGE,
        );

        expect(page.totalCount).toBe(expected.length);
        expectSameBars(page.pointsJson, expected);
      },
    );

    it('should have the buckets expected around the gaps', async () => {
      const hourly = await reader.findDerivedRange(
        instrumentId,
        TimeFrame.ONE_MINUTE,
        TimeFrame.ONE_HOUR,
        wholeRange,
        ['timestamp'],
        ALL_PAGE,
      );
      const daily = await reader.findDerivedRange(
        instrumentId,
        TimeFrame.ONE_MINUTE,
        TimeFrame.ONE_DAY,
        wholeRange,
        ['timestamp'],
        ALL_PAGE,
      );

      // 24 - 2 hours on day 1, none on day 2, 6 - 1 on day 3.
      expect(hourly.totalCount).toBe(22 + 5);
      expect(hourly.pointsJson).not.toContain('2025-04-07T10:00:00.000Z');
      expect(hourly.pointsJson).not.toContain('2025-04-09T03:00:00.000Z');
      expect(JSON.parse(daily.pointsJson)).toEqual([
        { timestamp: '2025-04-07T00:00:00.000Z' },
        { timestamp: '2025-04-09T00:00:00.000Z' },
      ]);
    });

    it('should give null dollar_volume and trade_count to a bucket where any bar lacks them', async () => {
      const fiveMinutes = await reader.findDerivedRange(
        instrumentId,
        TimeFrame.ONE_MINUTE,
        TimeFrame.FIVE_MINUTES,
        rangeOf('2025-04-07T13:00:00Z', '2025-04-07T13:10:00Z'),
        ['timestamp', 'dollar_volume', 'trade_count'],
        ALL_PAGE,
      );
      const hourly = await reader.findDerivedRange(
        instrumentId,
        TimeFrame.ONE_MINUTE,
        TimeFrame.ONE_HOUR,
        rangeOf('2025-04-07T12:00:00Z', '2025-04-07T14:00:00Z'),
        ['timestamp', 'dollar_volume', 'trade_count'],
        ALL_PAGE,
      );

      // 13:00-13:04 lack both values: the whole 5-minute bucket and part of the hour.
      const [allMissing, complete] = JSON.parse(fiveMinutes.pointsJson) as JsonPoint[];
      expect(allMissing).toEqual({
        timestamp: '2025-04-07T13:00:00.000Z',
        dollar_volume: null,
        trade_count: null,
      });
      expect(complete.trade_count).toEqual(expect.any(Number));
      const [noon, partlyMissing] = JSON.parse(hourly.pointsJson) as JsonPoint[];
      expect(noon.dollar_volume).toEqual(expect.any(Number));
      expect(partlyMissing).toEqual({
        timestamp: '2025-04-07T13:00:00.000Z',
        dollar_volume: null,
        trade_count: null,
      });
    });

    it('should derive only from the rows inside the range', async () => {
      const range = rangeOf('2025-04-07T08:20:00Z', '2025-04-07T09:40:00Z');
      const expected = deriveInTypeScript(rows, HOUR, range);

      const page = await reader.findDerivedRange(
        instrumentId,
        TimeFrame.ONE_MINUTE,
        TimeFrame.ONE_HOUR,
        range,
        ALL_FIELDS,
        ALL_PAGE,
      );

      expect(expected).toHaveLength(2);
      expectSameBars(page.pointsJson, expected);
    });

    it('should page over buckets with total_count counting all of them', async () => {
      const expected = deriveInTypeScript(rows, 5 * MINUTE, wholeRange);

      const page = await reader.findDerivedRange(
        instrumentId,
        TimeFrame.ONE_MINUTE,
        TimeFrame.FIVE_MINUTES,
        wholeRange,
        ALL_FIELDS,
        { limit: 12, offset: 30 },
      );

      expect(page.totalCount).toBe(expected.length);
      expectSameBars(page.pointsJson, expected.slice(30, 42));
    });

    it('should tell total_count from a last page of buckets shorter than its limit, and count past the end', async () => {
      const expected = deriveInTypeScript(rows, 5 * MINUTE, wholeRange);
      const derive = (offset: number) =>
        reader.findDerivedRange(
          instrumentId,
          TimeFrame.ONE_MINUTE,
          TimeFrame.FIVE_MINUTES,
          wholeRange,
          ALL_FIELDS,
          { limit: 1000, offset },
        );

      const last = await derive(expected.length - 3);
      const beyond = await derive(expected.length + 100);

      expect(last.totalCount).toBe(expected.length);
      expectSameBars(last.pointsJson, expected.slice(-3));
      expect(beyond).toEqual({ totalCount: expected.length, pointsJson: '[]' });
    });

    it('should return only the requested fields', async () => {
      const page = await reader.findDerivedRange(
        instrumentId,
        TimeFrame.ONE_MINUTE,
        TimeFrame.ONE_DAY,
        wholeRange,
        ['timestamp', 'high', 'low'],
        ALL_PAGE,
      );

      const expected = deriveInTypeScript(rows, DAY, wholeRange);
      expect(JSON.parse(page.pointsJson)).toEqual(
        expected.map((e) => ({ timestamp: e.timestamp, high: e.high, low: e.low })),
      );
    });

    it('should sum volumes past 2^63 without overflow or rounding', async () => {
      const key = series('DR.BIGVOL');
      await repository.upsertBars(
        key,
        withValues(makeBarRows('2025-04-07T00:00:00Z', 3), (_row, i) => ({
          volume: i === 2 ? ABOVE_2_POW_53 : MAX_INT8,
        })),
      );

      const page = await reader.findDerivedRange(
        'DR.BIGVOL',
        TimeFrame.ONE_MINUTE,
        TimeFrame.FIVE_MINUTES,
        wholeRange,
        ['timestamp', 'volume'],
        ALL_PAGE,
      );

      const sum = 2n * BigInt(MAX_INT8) + BigInt(ABOVE_2_POW_53);
      expect(volumesInText(page.pointsJson)).toEqual([sum.toString()]);
    });

    it('should return no buckets for a range without data', async () => {
      const page = await reader.findDerivedRange(
        instrumentId,
        TimeFrame.ONE_MINUTE,
        TimeFrame.ONE_HOUR,
        rangeOf('2025-04-08T00:00:00Z', '2025-04-09T00:00:00Z'),
        ALL_FIELDS,
        ALL_PAGE,
      );

      expect(page).toEqual({ totalCount: 0, pointsJson: '[]' });
    });
  });

  describe('findTimeframesWithData', () => {
    const range = rangeOf('2025-05-05T00:00:00Z', '2025-05-06T00:00:00Z');

    beforeAll(async () => {
      await repository.upsertBars(series('TF.SERIES'), makeBarRows('2025-05-05T10:00:00Z', 5));
      await repository.upsertBars(
        series('TF.SERIES', TimeFrame.ONE_HOUR),
        makeBarRows('2025-05-05T10:00:00Z', 5, HOUR),
      );
      // Only outside the range.
      await repository.upsertBars(
        series('TF.SERIES', TimeFrame.ONE_DAY),
        makeBarRows('2025-05-06T00:00:00Z', 5, DAY),
      );
    });

    it('should return the candidates that have rows in the range', async () => {
      const found = await reader.findTimeframesWithData(
        'TF.SERIES',
        [
          TimeFrame.ONE_MINUTE,
          TimeFrame.FIVE_MINUTES,
          TimeFrame.FIFTEEN_MINUTES,
          TimeFrame.ONE_HOUR,
          TimeFrame.ONE_DAY,
        ],
        range,
      );

      expect([...found].sort()).toEqual([TimeFrame.ONE_HOUR, TimeFrame.ONE_MINUTE]);
    });

    it('should ignore timeframes that are not candidates', async () => {
      const found = await reader.findTimeframesWithData(
        'TF.SERIES',
        [TimeFrame.ONE_DAY, TimeFrame.ONE_HOUR],
        range,
      );

      expect(found).toEqual([TimeFrame.ONE_HOUR]);
    });

    it('should treat the range as half-open', async () => {
      const found = await reader.findTimeframesWithData(
        'TF.SERIES',
        [TimeFrame.ONE_DAY],
        rangeOf('2025-05-05T00:00:00Z', '2025-05-06T00:00:00Z'),
      );
      const next = await reader.findTimeframesWithData(
        'TF.SERIES',
        [TimeFrame.ONE_DAY],
        rangeOf('2025-05-06T00:00:00Z', '2025-05-06T00:00:00.001Z'),
      );

      expect(found).toEqual([]);
      expect(next).toEqual([TimeFrame.ONE_DAY]);
    });

    it('should return nothing for another instrument or no candidates', async () => {
      await expect(
        reader.findTimeframesWithData('TF.OTHER', [TimeFrame.ONE_MINUTE], range),
      ).resolves.toEqual([]);
      await expect(reader.findTimeframesWithData('TF.SERIES', [], range)).resolves.toEqual([]);
    });
  });

  describe('findLatest', () => {
    const key = series('LT.SERIES');
    const rows = makeBarRows('2025-06-02T09:00:00Z', 50, MINUTE, 8);

    beforeAll(async () => {
      // Written newest first: the answer must not depend on insertion order.
      await repository.upsertBars(key, [...rows].reverse());
      await repository.upsertBars(
        series('LT.SERIES', TimeFrame.ONE_HOUR),
        makeBarRows('2025-07-01T00:00:00Z', 3, HOUR),
      );
      await repository.upsertBars(series('LT.OTHER'), makeBarRows('2025-08-01T00:00:00Z', 3));
    });

    it('should return null when the series has no rows', async () => {
      await expect(reader.findLatest(series('LT.NONE'), ALL_FIELDS)).resolves.toBeNull();
      await expect(
        reader.findLatest(series('LT.SERIES', TimeFrame.ONE_DAY), ALL_FIELDS),
      ).resolves.toBeNull();
    });

    it('should return the newest bar of the series with all fields', async () => {
      const latest = await reader.findLatest(key, ALL_FIELDS);

      expect(JSON.parse(latest!)).toEqual(expectedPoint(rows[rows.length - 1]));
    });

    it('should return only the requested fields', async () => {
      const latest = await reader.findLatest(key, ['timestamp', 'close']);

      const point = JSON.parse(latest!) as Record<string, unknown>;
      expect(point).toEqual({ timestamp: '2025-06-02T09:49:00.000Z', close: rows[49].close });
      expect(Object.keys(point)).toEqual(['timestamp', 'close']);
    });

    it('should follow a newer write', async () => {
      const newer = makeBarRows('2025-06-02T10:30:00Z', 1, MINUTE, 77);
      await repository.upsertBars(key, newer);

      const latest = await reader.findLatest(key, ALL_FIELDS);

      expect(JSON.parse(latest!)).toEqual(expectedPoint(newer[0]));
    });
  });

  describe('points JSON text', () => {
    const key = series('JS.SERIES');
    const from = '2025-05-01T00:00:00Z';
    /** row_to_json of the stored columns, newest last: the form the answers had before they were concatenated. */
    async function referencePoints(): Promise<string[]> {
      const { rows } = await connection.pool.query<{ point: string }>(
        `SELECT row_to_json(p)::text AS point FROM (
           SELECT to_char(t."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "timestamp",
                  open_price AS open, high_price AS high, low_price AS low, close_price AS close,
                  -- A JSON string past 2^53-1, where JSON.parse would round (these volumes are integers).
                  CASE WHEN volume > 9007199254740991 THEN to_json(volume::text) ELSE to_json(volume) END
                    AS volume,
                  dollar_volume, trade_count
             FROM market_data_ts t WHERE instrument_id = $1 ORDER BY t."timestamp") p`,
        [key.instrumentId],
      );
      return rows.map((r) => r.point);
    }

    beforeAll(async () => {
      // Creates the month's partition on plain PostgreSQL.
      await repository.upsertBars(series('JS.OTHER'), makeBarRows(from, 1));
      // Values the write path never produces but a table may hold: a price with trailing
      // zeros (numeric keeps its scale), tiny and huge magnitudes, a millisecond timestamp.
      await connection.pool.query(
        `INSERT INTO market_data_ts ("timestamp", instrument_id, timeframe, open_price, high_price,
                                     low_price, close_price, volume, dollar_volume, trade_count)
         VALUES ('2025-05-01T00:00:00Z', $1, 'ONE_MINUTE', 100.50, 101, 0.0001, 100.5, ${MAX_INT8}, NULL, NULL),
                ('2025-05-01T00:01:00Z', $1, 'ONE_MINUTE', 1e-7, 2, 1e-7, 1.25, 0, 123456789.123456789, 7),
                ('2025-05-01T00:02:00.123Z', $1, 'ONE_MINUTE', 5, 5, 5, 5, 1, 1.5, NULL)`,
        [key.instrumentId],
      );
    });

    it('should write a range byte for byte as row_to_json of the stored columns', async () => {
      const reference = await referencePoints();

      const page = await reader.findRange(
        key,
        rangeOf(from, '2025-05-02T00:00:00Z'),
        ALL_FIELDS,
        ALL_PAGE,
      );

      expect(page.pointsJson).toBe(`[${reference.join(',')}]`);
      expect(page.pointsJson).toContain(
        '{"timestamp":"2025-05-01T00:00:00.000Z","open":100.50,"high":101,"low":0.0001,"close":100.5,' +
          `"volume":"${MAX_INT8}","dollar_volume":null,"trade_count":null}`,
      );
      expect(page.pointsJson).toContain('"timestamp":"2025-05-01T00:02:00.123Z"');
    });

    it('should write the newest point byte for byte as row_to_json of its columns', async () => {
      const reference = await referencePoints();

      const latest = await reader.findLatest(key, ALL_FIELDS);

      expect(reference).toHaveLength(3);
      expect(latest).toBe(reference[2]);
    });

    it('should write null sums of derived buckets as null and keep the projection', async () => {
      const page = await reader.findDerivedRange(
        key.instrumentId,
        TimeFrame.ONE_MINUTE,
        TimeFrame.FIVE_MINUTES,
        rangeOf(from, '2025-05-02T00:00:00Z'),
        ['timestamp', 'close', 'dollar_volume', 'trade_count'],
        ALL_PAGE,
      );

      expect(page.pointsJson).toBe(
        '[{"timestamp":"2025-05-01T00:00:00.000Z","close":5,"dollar_volume":null,"trade_count":null}]',
      );
    });
  });

  describe('deleteRange', () => {
    const instrumentId = 'DL.SERIES';

    beforeEach(async () => {
      await repository.upsertBars(series(instrumentId), makeBarRows('2025-09-01T00:00:00Z', 60));
      await repository.upsertBars(
        series(instrumentId, TimeFrame.ONE_HOUR),
        makeBarRows('2025-09-01T00:00:00Z', 12, HOUR),
      );
      await repository.upsertBars(series('DL.OTHER'), makeBarRows('2025-09-01T00:00:00Z', 60));
    });

    afterEach(async () => {
      await connection.pool.query(
        `DELETE FROM market_data_ts WHERE instrument_id IN ('DL.SERIES', 'DL.OTHER')`,
      );
    });

    it('should delete the rows of one timeframe in [from, to) and return the count', async () => {
      const deleted = await repository.deleteRange(
        instrumentId,
        TimeFrame.ONE_MINUTE,
        rangeOf('2025-09-01T00:10:00Z', '2025-09-01T00:30:00Z'),
      );

      expect(deleted).toBe(20);
      const left = (await readAll(series(instrumentId))).map((p) => p.timestamp);
      expect(left).toHaveLength(40);
      expect(left).toContain('2025-09-01T00:09:00.000Z');
      expect(left).not.toContain('2025-09-01T00:10:00.000Z');
      expect(left).not.toContain('2025-09-01T00:29:00.000Z');
      expect(left).toContain('2025-09-01T00:30:00.000Z');
      await expect(countRows(instrumentId, TimeFrame.ONE_HOUR)).resolves.toBe(12);
      await expect(countRows('DL.OTHER')).resolves.toBe(60);
    });

    it('should delete the rows of every timeframe when none is given', async () => {
      const deleted = await repository.deleteRange(
        instrumentId,
        undefined,
        rangeOf('2025-09-01T00:30:00Z', '2025-09-01T03:00:00Z'),
      );

      // Minutes 00:30-00:59, hours 01:00 and 02:00.
      expect(deleted).toBe(30 + 2);
      await expect(countRows(instrumentId, TimeFrame.ONE_MINUTE)).resolves.toBe(30);
      await expect(countRows(instrumentId, TimeFrame.ONE_HOUR)).resolves.toBe(10);
      await expect(countRows('DL.OTHER')).resolves.toBe(60);
    });

    it('should return 0 when nothing is in the range', async () => {
      const deleted = await repository.deleteRange(
        instrumentId,
        undefined,
        rangeOf('2024-09-01T00:00:00Z', '2024-09-02T00:00:00Z'),
      );

      expect(deleted).toBe(0);
      await expect(countRows(instrumentId)).resolves.toBe(72);
    });
  });

  describe('measureCompressionRatio', () => {
    const key = series('CX.SERIES');
    const rows = makeBarRows('2025-10-06T00:00:00Z', 2 * 1440, MINUTE, 31);

    beforeAll(async () => {
      await repository.upsertBars(key, rows);
    });

    it('should be 0 while nothing is compressed', async () => {
      await expect(repository.measureCompressionRatio(key)).resolves.toBe(0);
    });

    if (!capabilitiesOf(engine).timescale) {
      it('should stay 0 on plain PostgreSQL, which has no compression', async () => {
        await expect(repository.measureCompressionRatio(key)).resolves.toBe(0);
        expect(connection.info.engine).toBe('postgresql');
      });
      return;
    }

    describe('after compressing every chunk', () => {
      beforeAll(async () => {
        await connection.pool.query(
          `SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('market_data_ts') c`,
        );
      });

      it('should be between 0 and 1', async () => {
        const ratio = await repository.measureCompressionRatio(key);

        expect(ratio).toBeGreaterThan(0);
        expect(ratio).toBeLessThan(1);
      });

      it('should be 0 for a series without rows', async () => {
        await expect(repository.measureCompressionRatio(series('CX.NONE'))).resolves.toBe(0);
      });

      it('should read compressed rows exactly', async () => {
        await expect(readAll(key)).resolves.toEqual(rows.map(expectedPoint));
        const latest = await reader.findLatest(key, ALL_FIELDS);
        expect(JSON.parse(latest!)).toEqual(expectedPoint(rows[rows.length - 1]));
      });

      it('should upsert into compressed chunks: replace existing rows and add new ones', async () => {
        const replaced = withValues(rows.slice(100, 700), (row, i) => ({
          close: row.close,
          volume: String(500_000 + i),
          source: 'after-compression',
        }));
        const added = makeBarRows('2025-10-07T12:00:30Z', 5, MINUTE, 4);

        await repository.upsertBars(key, replaced);
        await repository.upsertBars(key, added);

        const expected = [...rows.slice(0, 100), ...replaced, ...rows.slice(700), ...added].sort(
          (a, b) => a.timestampMs - b.timestampMs,
        );
        await expect(readAll(key)).resolves.toEqual(expected.map(expectedPoint));
        await expect(countRows('CX.SERIES')).resolves.toBe(rows.length + 5);
      });

      it('should delete from compressed chunks and return the count', async () => {
        await connection.pool.query(
          `SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('market_data_ts') c`,
        );

        const deleted = await repository.deleteRange(
          'CX.SERIES',
          TimeFrame.ONE_MINUTE,
          rangeOf('2025-10-06T00:00:00Z', '2025-10-06T12:00:00Z'),
        );

        expect(deleted).toBe(720);
        const left = await readAll(key);
        expect(left).toHaveLength(rows.length + 5 - 720);
        expect(left[0].timestamp).toBe('2025-10-06T12:00:00.000Z');
      });
    });
  });
});
