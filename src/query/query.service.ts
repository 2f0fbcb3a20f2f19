import { Inject, Injectable } from '@nestjs/common';
import { cacheAside } from '../cache/cache-aside';
import { aggKey, CACHE_TTL_MS, latestKey, queryKey } from '../cache/cache-keys';
import { QueryCache } from '../cache/query-cache.service';
import { bucketGrid, Filling } from '../common/bucket-grid';
import { InvalidRequestError, NotFoundError } from '../common/errors';
import { toMicroRange, toRange } from '../common/instant-range';
import {
  DataType,
  finerTimeframes,
  isTickDataType,
  PointField,
  SeriesKey,
  TickDataType,
  TimeFrame,
  TIMEFRAME_MS,
} from '../common/market-data.types';
import { BarsReader, ColumnsPage, Page, PointsPage } from '../repositories/bars.reader';
import type { TimeRange } from '../repositories/market-data.repository';
import { QuotesReader } from '../repositories/quotes.reader';
import { ROLLUP_SOURCE, RollupsRepository } from '../repositories/rollups.repository';
import type { MicroRange, TickPage, TickPosition } from '../repositories/tick-tables';
import { TradesReader } from '../repositories/trades.reader';
import { CacheResult, MetricsService, QueryShape } from '../metrics/metrics.service';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { StatisticsService } from '../statistics/statistics.service';
import {
  DEFAULT_LIMIT,
  LatestManyRequestDto,
  LatestRequestDto,
  MAX_LIMIT,
  QueryRequestDto,
} from './dto/query-request.dto';
import {
  QueryResponseParts,
  toDerivedPointJson,
  toLatestManyResponseJson,
  toQueryManyResponseJson,
  toQueryResponseJson,
  toTickPageResponseJson,
} from './dto/query-response.dto';
import { mapBounded, MAX_POINTS_PER_ANSWER, parseInstrumentIds } from './instrument-list';
import { BAR_FIELD_SET, FieldSet, parseFields, QUOTE_FIELD_SET, TRADE_FIELD_SET } from './fields';
import { decodeCursor, encodeCursor } from './tick-cursor';
import { barSpecText, MAX_BARS_PER_RANGE, parseInformationBar } from './information-bar';
import { toInformationBarsResponseJson } from './dto/information-bars-response.dto';
import type { Point } from './formats/columns';
import type { AnswerRun } from './formats/formatted-stream';
import {
  sessionHeader,
  sessionJson,
  sessionKeyPart,
  TradingSession,
} from '../common/trading-session';
import { SESSION_SOURCE_SLACK_MS } from '../repositories/session-buckets.sql';
import { SessionTimeframe, TradingSessionsService } from './trading-sessions.service';

/** The bars' fields parser, where src/storage's property spec imports it from. */
export { parseFields } from './fields';

function ceilTo(ms: number, step: number): number {
  return Math.ceil(ms / step) * step;
}

function floorTo(ms: number, step: number): number {
  return Math.floor(ms / step) * step;
}

/** 0001-01-01T00:00:00Z: the start of "before the range" when looking for the close to carry. */
const EARLIEST_MS = -62_135_596_800_000;

/** A range of bars without its timing: what is cached. */
interface BarsAnswer extends PointsPage {
  /** A finer timeframe, or TRADE for bars built from trades. */
  readonly derivedFrom?: TimeFrame | 'TRADE';
}

/** Cached as `{totalCount}\n{derivedFrom}\n{points}`: the points stay text, never re-parsed. */
function encodeBars(answer: BarsAnswer): string {
  return `${answer.totalCount}\n${answer.derivedFrom ?? ''}\n${answer.pointsJson}`;
}

function decodeBars(text: string): BarsAnswer {
  const first = text.indexOf('\n');
  const second = text.indexOf('\n', first + 1);
  const derivedFrom = text.slice(first + 1, second);
  return {
    totalCount: Number(text.slice(0, first)),
    derivedFrom: derivedFrom ? (derivedFrom as TimeFrame | 'TRADE') : undefined,
    pointsJson: text.slice(second + 1),
  };
}

/** A page of trades or quotes without its timing: what is cached. */
interface TicksAnswer {
  readonly totalCount?: number;
  readonly nextCursor?: string;
  readonly pointsJson: string;
}

function ticksAnswer(page: TickPage): TicksAnswer {
  return {
    totalCount: page.totalCount,
    nextCursor: page.next ? encodeCursor(page.next) : undefined,
    pointsJson: page.pointsJson,
  };
}

/** Cached as `{totalCount or ''}\n{next_cursor or ''}\n{points}`. */
function encodeTicks(answer: TicksAnswer): string {
  return `${answer.totalCount ?? ''}\n${answer.nextCursor ?? ''}\n${answer.pointsJson}`;
}

function decodeTicks(text: string): TicksAnswer {
  const first = text.indexOf('\n');
  const second = text.indexOf('\n', first + 1);
  const total = text.slice(0, first);
  const next = text.slice(first + 1, second);
  return {
    totalCount: total === '' ? undefined : Number(total),
    nextCursor: next === '' ? undefined : next,
    pointsJson: text.slice(second + 1),
  };
}

/**
 * A /query answer as rows for format=csv|arrow: the answer's fields in
 * order, what the JSON body says besides its points (as response headers),
 * and the points, read MAX_LIMIT at a time as the response pulls them.
 */
export interface RowsAnswer {
  readonly fields: readonly string[];
  readonly headers: Readonly<Record<string, string>>;
  readonly runs: AsyncIterable<AnswerRun>;
}

/**
 * A page of a bars answer for format=csv|arrow: its rows (columns for a
 * stored range, JSON points otherwise), how many, and the whole range's count.
 */
interface RowsPage {
  readonly totalCount: number;
  readonly derivedFrom?: TimeFrame | 'TRADE';
  readonly count: number;
  readonly run: AnswerRun;
}

/** A page of a range of bars, at `page`. */
type BarsRead = (page: Page) => Promise<RowsPage>;

/** The pages of a bars answer from `first` (read at `offset`), until `wanted` points or the range's end. */
async function* barRuns(
  first: RowsPage,
  offset: number,
  wanted: number,
  read: BarsRead,
  constant?: Point,
): AsyncGenerator<AnswerRun> {
  let page = first;
  let at = offset;
  let left = wanted;
  for (;;) {
    at += page.count;
    left -= page.count;
    const more = page.count > 0 && left > 0 && at < page.totalCount;
    // The next page is read while this one is encoded and sent.
    const next = more ? ahead(read({ limit: Math.min(MAX_LIMIT, left), offset: at })) : undefined;
    yield { ...page.run, constant };
    if (next === undefined) return;
    page = await next;
  }
}

/** A JSON page as rows. */
function pointsPage(answer: BarsAnswer): RowsPage {
  const points = JSON.parse(answer.pointsJson) as Point[];
  return { ...answer, count: points.length, run: { points } };
}

/** A read started ahead: its failure is seen where it is awaited, not as an unhandled rejection. */
function ahead<T>(read: Promise<T>): Promise<T> {
  read.catch(() => undefined);
  return read;
}

/** The pages of a trades or quotes answer from `first`, walked by their cursor. */
async function* tickRuns(
  first: TickPage,
  wanted: number,
  read: (after: TickPosition, limit: number) => Promise<TickPage>,
): AsyncGenerator<AnswerRun> {
  let page = first;
  let left = wanted;
  for (;;) {
    const points = JSON.parse(page.pointsJson) as Point[];
    left -= points.length;
    const next =
      page.next !== undefined && points.length > 0 && left > 0
        ? ahead(read(page.next, Math.min(MAX_LIMIT, left)))
        : undefined;
    yield { points };
    if (next === undefined) return;
    page = await next;
  }
}

/** A latest point is cached as the JSON text it is. */
const asText = (text: string): string => text;

/** A tick reader (TickReader) over the fields its FieldSet parses. */
interface TickReads {
  findPage(
    instrumentId: string,
    range: MicroRange,
    fields: readonly string[],
    limit: number,
    after: TickPosition | undefined,
    withTotal: boolean,
  ): Promise<TickPage>;
  findLatest(instrumentId: string, fields: readonly string[]): Promise<string | null>;
}

/** How trades or quotes are read: their reader, fields and name. */
interface TickKind {
  /** TICK is stored and answered as TRADE (a tick is a trade print). */
  readonly dataType: DataType.TRADE | DataType.QUOTE;
  readonly reader: TickReads;
  readonly fields: FieldSet<string>;
  readonly noun: 'trades' | 'quotes';
}

/** What a latest read needs of a data kind. */
interface LatestOf<F extends string> {
  /** The timeframe of bars, the data type of trades and quotes: the key's second part. */
  readonly series: string;
  readonly fields: FieldSet<F>;
  readonly find: (fields: readonly F[]) => Promise<string | null>;
  readonly notFound: string;
}

/**
 * The read use case of every data kind: ranges of bars (stored, derived from
 * a finer timeframe or the rollups, or built from trades) paged by offset,
 * pages of trades and quotes walked by cursor, and the newest point; each
 * answer cached under the instrument's generation (a write of bars, trades
 * or quotes of the instrument makes them unreachable at once). Answers are
 * JSON text.
 */
@Injectable()
export class QueryService {
  private readonly ticks: Readonly<Record<TickDataType, TickKind>>;

  constructor(
    private readonly bars: BarsReader,
    private readonly rollups: RollupsRepository,
    private readonly trades: TradesReader,
    quotes: QuotesReader,
    private readonly cache: QueryCache,
    private readonly metrics: MetricsService,
    private readonly statistics: StatisticsService,
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly tradingSessions: TradingSessionsService,
  ) {
    const trade: TickKind = {
      dataType: DataType.TRADE,
      reader: trades,
      fields: TRADE_FIELD_SET,
      noun: 'trades',
    };
    this.ticks = {
      [DataType.TRADE]: trade,
      [DataType.TICK]: trade,
      [DataType.QUOTE]: {
        dataType: DataType.QUOTE,
        reader: quotes,
        fields: QUOTE_FIELD_SET,
        noun: 'quotes',
      },
    };
  }

  /** Points of a series in [start_time, end_time), ascending, as the QueryResponse's bytes. */
  async query(request: QueryRequestDto): Promise<Buffer> {
    const started = performance.now();
    if (request.instrument_ids !== undefined) return this.queryMany(started, request);
    const { data_type } = request;
    // Trades, quotes and information bars have no session: tz, session or calendar there is a 400.
    if (request.bar !== undefined || isTickDataType(data_type)) {
      await this.tradingSessions.sessionOfRead(request, request.instrument_id);
    }
    if (request.bar !== undefined) return this.informationBars(started, request);
    checkPaging(request, isTickDataType(data_type));
    checkFill(request, isTickDataType(data_type));
    return isTickDataType(data_type)
      ? this.tickPage(started, request, this.ticks[data_type])
      : this.barRange(started, request);
  }

  /**
   * format=csv|arrow: the answer /query gives in JSON, all of its pages in
   * one answer (no MAX_LIMIT cap; the range cap still applies), read
   * MAX_LIMIT points at a time as the response pulls them, and not cached:
   * an answer of 500,000 rows is not worth keeping, and not keeping it
   * leaves DESIGN 6's rules as they are (docs/research-reads.md).
   */
  async queryRows(request: QueryRequestDto): Promise<RowsAnswer> {
    const started = performance.now();
    if (request.bar !== undefined) {
      // Information bars are paged JSON of their own (complete flag, cap of bars per range).
      throw new InvalidRequestError('format', 'csv and arrow do not answer bar=: leave format out');
    }
    const { data_type } = request;
    const tick = isTickDataType(data_type);
    if (request.instrument_ids !== undefined) {
      if (request.instrument_id !== undefined) {
        throw new InvalidRequestError('instrument_ids', 'replaces instrument_id: give one of them');
      }
      if (tick) {
        throw new InvalidRequestError(
          'instrument_ids',
          'applies to OHLCV bars; trades and quotes are read one instrument a request',
        );
      }
    }
    checkPaging(request, tick);
    checkFill(request, tick);
    if (tick) {
      await this.tradingSessions.sessionOfRead(request, request.instrument_id);
      return this.tickRows(started, request, this.ticks[data_type]);
    }
    return request.instrument_ids === undefined
      ? this.barRows(started, request)
      : this.barRowsMany(started, request);
  }

  /** The bars of one instrument: its first page read now (it says the headers), the others as pulled. */
  private async barRows(started: number, request: QueryRequestDto): Promise<RowsAnswer> {
    const { fields, read, offset, wanted, filled, session } = await this.barReads(
      request,
      request.instrument_id,
    );
    const first = await read({ limit: Math.min(MAX_LIMIT, wanted), offset });
    this.completed(first.derivedFrom ? 'derived' : 'range', 'bypass', started);
    return {
      fields: filled ? [...fields, 'filled'] : fields,
      headers: {
        'x-total-count': String(first.totalCount),
        ...(first.derivedFrom ? { 'x-derived-from': first.derivedFrom } : {}),
        ...(session ? { 'x-session': sessionHeader(session) } : {}),
      },
      runs: barRuns(first, offset, wanted, read),
    };
  }

  /**
   * instrument_ids: every instrument's rows one after the other, in the
   * order named, an instrument_id column first; each instrument read as
   * barRows reads it (its derived_from is not told: it differs by instrument).
   */
  private async barRowsMany(started: number, request: QueryRequestDto): Promise<RowsAnswer> {
    const ids = parseInstrumentIds(request.instrument_ids ?? []);
    const reads = await mapBounded(ids, this.readConcurrency, async (instrumentId) => ({
      instrumentId,
      ...(await this.barReads(request, instrumentId)),
    }));
    // One x-session when every instrument's bars are aligned to the same session.
    const sessions = new Set(reads.map((r) => (r.session ? sessionHeader(r.session) : '')));
    const [onlySession] = sessions;
    const fields = parseFields(request.fields);
    const filled = (request.fill ?? 'none') !== 'none';
    const completed = (answer: RowsPage) =>
      this.completed(answer.derivedFrom ? 'derived' : 'range', 'bypass', started);
    async function* runs(): AsyncGenerator<AnswerRun> {
      for (const { instrumentId, read, offset, wanted } of reads) {
        const first = await read({ limit: Math.min(MAX_LIMIT, wanted), offset });
        completed(first);
        yield* barRuns(first, offset, wanted, read, { instrument_id: instrumentId });
      }
    }
    return {
      fields: ['instrument_id', ...fields, ...(filled ? ['filled'] : [])],
      headers: {
        'x-instrument-count': String(ids.length),
        ...(sessions.size === 1 && onlySession ? { 'x-session': onlySession } : {}),
      },
      runs: runs(),
    };
  }

  /** How the bars of a request are read for one instrument, page by page (checked before any read). */
  private async barReads(request: QueryRequestDto, instrumentId: string) {
    const fields = parseFields(request.fields);
    const range = toRange(request.start_time, request.end_time, this.maxRangeDays);
    const session = await this.tradingSessions.sessionOfRead(request, instrumentId);
    const fill = fillingOf(request, range);
    const { timeframe } = request;
    const storedPage = this.storedColumnPages({ instrumentId, timeframe }, range, fields);
    const read: BarsRead = async (page) => {
      if (!fill && !session) {
        // Stored bars as columns (no JSON built or parsed); derived ones as computeRange gives them.
        const stored = await storedPage(page);
        if (stored.totalCount > 0)
          return { ...stored, run: { columns: stored.columns, count: stored.count } };
      }
      return pointsPage(
        await this.computeAnyRange(instrumentId, timeframe, range, fields, page, fill, session),
      );
    };
    return {
      fields,
      read,
      offset: request.offset ?? 0,
      wanted: request.limit ?? Number.POSITIVE_INFINITY,
      filled: fill !== undefined,
      session,
    };
  }

  /**
   * Pages of the stored bars of `series` as columns, asked in order: a page
   * that starts where the last one ended is read after its last bar
   * (keyset), not by walking every bar before it again (OFFSET).
   */
  private storedColumnPages(
    series: SeriesKey,
    range: TimeRange,
    fields: PointField[],
  ): (page: Page) => Promise<ColumnsPage> {
    let resume: { offset: number; afterMicros: number; totalCount: number } | undefined;
    return async (page) => {
      const from = resume?.offset === page.offset ? resume : undefined;
      const stored = from
        ? {
            ...(await this.bars.findRangeColumnsAfter(
              series,
              range,
              from.afterMicros,
              fields,
              page.limit,
            )),
            totalCount: from.totalCount,
          }
        : await this.bars.findRangeColumns(series, range, fields, page);
      const last = stored.columns.timestamp?.[stored.count - 1];
      if (typeof last === 'number') {
        resume = {
          offset: page.offset + stored.count,
          afterMicros: last,
          totalCount: stored.totalCount,
        };
      }
      return stored;
    };
  }

  /** The range as asked: session-aligned, gap-filled, or as stored or derived. */
  private computeAnyRange(
    instrumentId: string,
    timeframe: TimeFrame,
    range: TimeRange,
    fields: PointField[],
    page: Page,
    fill: Filling | undefined,
    session: TradingSession | undefined,
  ): Promise<BarsAnswer> {
    if (session) {
      return this.computeSessionRange(
        instrumentId,
        timeframe as SessionTimeframe,
        session,
        range,
        fields,
        page,
      );
    }
    return fill
      ? this.computeFilledRange(instrumentId, timeframe, range, fields, page, fill)
      : this.computeRange(instrumentId, timeframe, range, fields, page);
  }

  /**
   * Session-aligned bars, built from the finest timeframe with rows in the
   * range (the timeframe itself when nothing finer has any: daily bars
   * stored at their session opening stay as they are). Stored UTC-aligned
   * bars of the timeframe are not what was asked, so finer rows win.
   */
  private async computeSessionRange(
    instrumentId: string,
    timeframe: SessionTimeframe,
    session: TradingSession,
    range: TimeRange,
    fields: PointField[],
    page: Page,
  ): Promise<BarsAnswer> {
    const found = await this.bars.findTimeframesWithData(
      instrumentId,
      [...finerTimeframes(timeframe), timeframe],
      { fromMs: range.fromMs, toMs: range.toMs + SESSION_SOURCE_SLACK_MS },
    );
    const [source] = found.sort((a, b) => TIMEFRAME_MS[a] - TIMEFRAME_MS[b]);
    if (source === undefined) return { totalCount: 0, pointsJson: '[]' };
    const bars = await this.bars.findSessionRange(
      instrumentId,
      source,
      timeframe,
      session,
      range,
      fields,
      page,
    );
    return source === timeframe ? bars : { ...bars, derivedFrom: source };
  }

  private async tickRows(
    started: number,
    request: QueryRequestDto,
    tick: TickKind,
  ): Promise<RowsAnswer> {
    const range = toMicroRange(request.start_time, request.end_time, this.maxRangeDays);
    const fields = parseFields(request.fields, tick.fields);
    const after = request.cursor === undefined ? undefined : decodeCursor(request.cursor);
    const wanted = request.limit ?? Number.POSITIVE_INFINITY;
    const { instrument_id: instrumentId } = request;
    const first = await tick.reader.findPage(
      instrumentId,
      range,
      fields,
      Math.min(MAX_LIMIT, wanted),
      after,
      true,
    );
    this.completed('range', 'bypass', started);
    return {
      fields,
      headers: first.totalCount === undefined ? {} : { 'x-total-count': String(first.totalCount) },
      runs: tickRuns(first, wanted, (next, limit) =>
        tick.reader.findPage(instrumentId, range, fields, limit, next, false),
      ),
    };
  }

  /**
   * instrument_ids: each instrument's answer exactly as /query gives it
   * alone (its own cache entry and rules, its own limit and offset), in one
   * response, in the order named; read a few instruments at a time so one
   * request leaves connections to the others.
   */
  private async queryMany(started: number, request: QueryRequestDto): Promise<Buffer> {
    if (request.instrument_id !== undefined) {
      throw new InvalidRequestError('instrument_ids', 'replaces instrument_id: give one of them');
    }
    if (isTickDataType(request.data_type)) {
      throw new InvalidRequestError(
        'instrument_ids',
        'applies to OHLCV bars; trades and quotes are paged by cursor, one instrument a request',
      );
    }
    const ids = parseInstrumentIds(request.instrument_ids ?? []);
    const limit = request.limit ?? DEFAULT_LIMIT;
    if (ids.length * limit > MAX_POINTS_PER_ANSWER) {
      throw new InvalidRequestError(
        'limit',
        `is per instrument, and ${ids.length} instruments x ${limit} is above ${MAX_POINTS_PER_ANSWER} points: at most ${Math.floor(MAX_POINTS_PER_ANSWER / ids.length)} here`,
      );
    }
    checkPaging(request, false);
    checkFill(request, false);
    const answers = await mapBounded(ids, this.readConcurrency, (instrumentId) =>
      this.barAnswer(performance.now(), { ...request, instrument_id: instrumentId }),
    );
    return toQueryManyResponseJson(
      request.timeframe,
      answers,
      Math.round((performance.now() - started) * 100) / 100,
    );
  }

  /** GET /latest: the newest point of each instrument as /instruments/{id}/latest gives it; null where none. */
  async latestMany(request: LatestManyRequestDto): Promise<string> {
    const started = performance.now();
    const ids = parseInstrumentIds(request.instrument_ids);
    const points = await mapBounded(ids, this.readConcurrency, async (instrumentId) => {
      try {
        return await this.latest(instrumentId, request);
      } catch (error) {
        if (error instanceof NotFoundError) return null;
        throw error;
      }
    });
    return toLatestManyResponseJson(
      request.data_type ?? DataType.OHLCV,
      isTickDataType(request.data_type) ? undefined : request.timeframe,
      ids.map((instrumentId, i) => ({ instrumentId, pointJson: points[i] ?? null })),
      Math.round((performance.now() - started) * 100) / 100,
    );
  }

  /** The newest stored point of the series as JSON text. */
  async latest(instrumentId: string, request: LatestRequestDto): Promise<string> {
    const started = performance.now();
    const { data_type, timeframe } = request;
    if (isTickDataType(data_type)) {
      const tick = this.ticks[data_type];
      return this.readLatest(started, instrumentId, request.fields, {
        series: tick.dataType,
        fields: tick.fields,
        find: (fields) => tick.reader.findLatest(instrumentId, fields),
        notFound: `No ${tick.noun} stored for ${instrumentId}`,
      });
    }
    const finer = finerTimeframes(timeframe).length > 0;
    return this.readLatest(started, instrumentId, request.fields, {
      series: timeframe,
      fields: BAR_FIELD_SET,
      find: (fields) => this.findLatestBar(instrumentId, timeframe, fields),
      notFound: `No ${timeframe} data stored for ${instrumentId}${finer ? ', nor any finer timeframe to derive it from' : ''}`,
    });
  }

  /**
   * The newest stored bar of the timeframe when it has any (stored wins, as
   * in /query); otherwise the newest bucket derived from the finest finer
   * timeframe with rows, exactly as /query derives it (deriveRange over that
   * one bucket), with `derived_from`. That bucket holds the source rows
   * stored so far: the current hour is partial until its last minute is
   * stored (docs/decisions.md).
   */
  private async findLatestBar(
    instrumentId: string,
    timeframe: TimeFrame,
    fields: readonly PointField[],
  ): Promise<string | null> {
    const stored = await this.bars.findLatest({ instrumentId, timeframe }, fields);
    if (stored !== null) return stored;
    const newest = await this.bars.findNewestInstants(instrumentId, finerTimeframes(timeframe));
    const [derivedFrom] = [...newest.keys()].sort((a, b) => TIMEFRAME_MS[a] - TIMEFRAME_MS[b]);
    if (derivedFrom === undefined) return null;
    const step = TIMEFRAME_MS[timeframe];
    const bucket = floorTo(newest.get(derivedFrom) ?? 0, step);
    const derived = await this.deriveRange(
      instrumentId,
      derivedFrom,
      timeframe,
      { fromMs: bucket, toMs: bucket + step },
      fields,
      { limit: 1, offset: 0 },
    );
    // Empty only when a delete won the race since the newest instant was read.
    return toDerivedPointJson(derived.pointsJson, derivedFrom);
  }

  private async barRange(started: number, request: QueryRequestDto): Promise<Buffer> {
    return toQueryResponseJson(await this.barAnswer(started, request));
  }

  private async barAnswer(started: number, request: QueryRequestDto): Promise<QueryResponseParts> {
    const fields = parseFields(request.fields);
    const range = toRange(request.start_time, request.end_time, this.maxRangeDays);
    const page: Page = { limit: request.limit ?? DEFAULT_LIMIT, offset: request.offset ?? 0 };
    const { instrument_id: instrumentId, timeframe } = request;
    const session = await this.tradingSessions.sessionOfRead(request, instrumentId);
    const fill = fillingOf(request, range);
    const keyParts = [
      instrumentId,
      timeframe,
      range.fromMs,
      range.toMs,
      fields,
      page.limit,
      page.offset,
      // Unfilled answers keep the keys they had before fill existed.
      ...(fill ? [fill.mode] : []),
      // Cached answers never cross sessions (a declared one changed is another key).
      ...(session ? ['session', sessionKeyPart(session)] : []),
    ];
    const { answer, cacheResult } = await cacheAside(this.cache, {
      instrumentId,
      // A stored range and a derived one under their own keys and TTLs; read in one round trip.
      slots: (generation) => [
        { key: queryKey(generation, keyParts), ttlMs: CACHE_TTL_MS.query },
        { key: aggKey(instrumentId, timeframe, generation, keyParts), ttlMs: CACHE_TTL_MS.agg },
      ],
      slotOf: (computed) => (computed.derivedFrom === undefined ? 0 : 1),
      compute: () =>
        this.computeAnyRange(instrumentId, timeframe, range, fields, page, fill, session),
      encode: encodeBars,
      decode: decodeBars,
    });
    const queryTimeMs = this.completed(
      answer.derivedFrom ? 'derived' : 'range',
      cacheResult,
      started,
    );
    return {
      instrumentId,
      timeframe,
      derivedFrom: answer.derivedFrom,
      sessionJson: session ? sessionJson(session) : undefined,
      pointsJson: answer.pointsPieces ?? answer.pointsJson,
      totalCount: answer.totalCount,
      queryTimeMs,
      cacheHit: cacheResult === 'hit',
    };
  }

  private async tickPage(
    started: number,
    request: QueryRequestDto,
    tick: TickKind,
  ): Promise<Buffer> {
    const range = toMicroRange(request.start_time, request.end_time, this.maxRangeDays);
    const limit = request.limit ?? DEFAULT_LIMIT;
    const after = request.cursor === undefined ? undefined : decodeCursor(request.cursor);
    const instrumentId = request.instrument_id;
    const fields = parseFields(request.fields, tick.fields);
    const keyParts = [
      tick.dataType,
      instrumentId,
      range.fromUs,
      range.toUs,
      fields,
      limit,
      request.cursor ?? '',
    ];
    const { answer, cacheResult } = await cacheAside(this.cache, {
      instrumentId,
      slots: (generation) => [{ key: queryKey(generation, keyParts), ttlMs: CACHE_TTL_MS.query }],
      // The count of the whole range only on the first page: recounting millions of rows per page would dominate the walk.
      compute: async () =>
        ticksAnswer(await tick.reader.findPage(instrumentId, range, fields, limit, after, !after)),
      encode: encodeTicks,
      decode: decodeTicks,
    });
    const queryTimeMs = this.completed('range', cacheResult, started);
    return toTickPageResponseJson({
      instrumentId,
      dataType: tick.dataType,
      pointsJson: answer.pointsJson,
      totalCount: answer.totalCount,
      nextCursor: answer.nextCursor,
      queryTimeMs,
      cacheHit: cacheResult === 'hit',
    });
  }

  /**
   * bar=volume:N|dollar:N|tick:N on TRADE (or TICK): bars built from the
   * trades in [start_time, end_time), paged by limit and offset, cached
   * like any range with the spec in the key.
   */
  private async informationBars(started: number, request: QueryRequestDto): Promise<Buffer> {
    if (request.data_type !== DataType.TRADE && request.data_type !== DataType.TICK) {
      throw new InvalidRequestError(
        'bar',
        'applies to data_type TRADE (or TICK): bars from trades',
      );
    }
    if (request.cursor !== undefined) {
      throw new InvalidRequestError('cursor', 'is not used with bar: bars page with offset');
    }
    checkFill(request, true);
    const bar = parseInformationBar(request.bar ?? '');
    const range = toMicroRange(request.start_time, request.end_time, this.maxRangeDays);
    const fields = parseFields(request.fields);
    const page: Page = { limit: request.limit ?? DEFAULT_LIMIT, offset: request.offset ?? 0 };
    const instrumentId = request.instrument_id;
    const keyParts = [
      'BAR',
      instrumentId,
      bar.kind,
      bar.threshold,
      range.fromUs,
      range.toUs,
      fields,
      page.limit,
      page.offset,
    ];
    const { answer, cacheResult } = await cacheAside(this.cache, {
      instrumentId,
      slots: (generation) => [{ key: queryKey(generation, keyParts), ttlMs: CACHE_TTL_MS.query }],
      compute: () =>
        this.trades.findInformationBars(instrumentId, bar.kind, bar.threshold, range, fields, page),
      encode: encodeBars,
      decode: decodeBars,
    });
    if (answer.totalCount > MAX_BARS_PER_RANGE) {
      throw new InvalidRequestError(
        'bar',
        `cuts [start_time, end_time) into ${answer.totalCount} bars, above ${MAX_BARS_PER_RANGE}: raise N or narrow the range`,
      );
    }
    const queryTimeMs = this.completed('range', cacheResult, started);
    return toInformationBarsResponseJson({
      instrumentId,
      bar: barSpecText(bar),
      pointsJson: answer.pointsJson,
      totalCount: answer.totalCount,
      queryTimeMs,
      cacheHit: cacheResult === 'hit',
    });
  }

  private async readLatest<F extends string>(
    started: number,
    instrumentId: string,
    requested: string | undefined,
    kind: LatestOf<F>,
  ): Promise<string> {
    const fields = parseFields(requested, kind.fields);
    const { answer, cacheResult } = await cacheAside(this.cache, {
      instrumentId,
      slots: (generation) => [
        {
          key: latestKey(instrumentId, kind.series, generation, fields.join(',')),
          ttlMs: CACHE_TTL_MS.latest,
        },
      ],
      compute: async () => {
        const point = await kind.find(fields);
        if (point === null) throw new NotFoundError(kind.notFound);
        return point;
      },
      encode: asText,
      decode: asText,
    });
    this.completed('latest', cacheResult, started);
    return answer;
  }

  /** Records the read in the metrics and today's statistics; returns its time in ms. */
  private completed(shape: QueryShape, cacheResult: CacheResult, started: number): number {
    const queryTimeMs = Math.round((performance.now() - started) * 100) / 100;
    this.metrics.queryCompleted(shape, cacheResult, queryTimeMs / 1000);
    this.statistics.recordQuery(queryTimeMs, cacheResult === 'hit');
    return queryTimeMs;
  }

  /** Instruments of a many-instrument request read at once: half the pool, the rest for others. */
  private get readConcurrency(): number {
    return Math.max(1, Math.floor(this.settings.dbPoolSize / 2));
  }

  private get maxRangeDays(): number | undefined {
    return this.settings.security.maxQueryRangeDays;
  }

  /**
   * The stored timeframe when it has rows in the range; otherwise computed
   * from the finest finer timeframe that does.
   */
  private async computeRange(
    instrumentId: string,
    timeframe: TimeFrame,
    range: TimeRange,
    fields: PointField[],
    page: Page,
  ): Promise<BarsAnswer> {
    const stored = await this.bars.findRange({ instrumentId, timeframe }, range, fields, page);
    if (stored.totalCount > 0) return stored;
    const sourceRange = this.bucketSourceRange(range, timeframe);
    const finer = await this.bars.findTimeframesWithData(
      instrumentId,
      finerTimeframes(timeframe),
      sourceRange,
    );
    const [derivedFrom] = finer.sort((a, b) => TIMEFRAME_MS[a] - TIMEFRAME_MS[b]);
    if (derivedFrom === undefined)
      return (
        (await this.barsFromTrades(instrumentId, timeframe, sourceRange, fields, page)) ?? stored
      );
    const derived = await this.deriveRange(
      instrumentId,
      derivedFrom,
      timeframe,
      sourceRange,
      fields,
      page,
    );
    return { ...derived, derivedFrom };
  }

  /**
   * Every bucket of `fill`'s grid, from the source computeRange would read
   * (the stored timeframe, else the finest finer one with rows in the
   * range, else the trades); a range without any of them is answered from
   * the timeframe that holds the last bar before it (fill=prev carries its
   * close), else the stored timeframe (every bucket empty).
   */
  private async computeFilledRange(
    instrumentId: string,
    timeframe: TimeFrame,
    range: TimeRange,
    fields: PointField[],
    page: Page,
    fill: Filling,
  ): Promise<BarsAnswer> {
    const sourceRange = this.bucketSourceRange(range, timeframe);
    const source =
      (await this.sourceWithData(instrumentId, timeframe, sourceRange)) ??
      ((await this.trades.hasTradesIn(instrumentId, sourceRange)) ? 'TRADE' : undefined) ??
      (fill.mode === 'prev'
        ? await this.sourceWithData(instrumentId, timeframe, {
            fromMs: EARLIEST_MS,
            toMs: sourceRange.fromMs,
          })
        : undefined) ??
      timeframe;
    if (source === timeframe) {
      return this.bars.findRange({ instrumentId, timeframe }, range, fields, page, fill);
    }
    if (source === 'TRADE') {
      const built = await this.trades.findBarsFromTrades(
        instrumentId,
        timeframe,
        sourceRange,
        fields,
        page,
        fill,
      );
      return { ...built, derivedFrom: 'TRADE' };
    }
    const derived = await this.deriveRange(
      instrumentId,
      source,
      timeframe,
      sourceRange,
      fields,
      page,
      fill,
    );
    return { ...derived, derivedFrom: source };
  }

  /** The stored timeframe when it has rows in `range`, else the finest finer one that has. */
  private async sourceWithData(
    instrumentId: string,
    timeframe: TimeFrame,
    range: TimeRange,
  ): Promise<TimeFrame | undefined> {
    const found = await this.bars.findTimeframesWithData(
      instrumentId,
      [timeframe, ...finerTimeframes(timeframe)],
      range,
    );
    if (found.includes(timeframe)) return timeframe;
    return found.sort((a, b) => TIMEFRAME_MS[a] - TIMEFRAME_MS[b])[0];
  }

  /**
   * Bars of `timeframe` computed from the stored `derivedFrom` rows of
   * `sourceRange` (bucket-aligned): the one derivation behind /query and
   * latest. The rollups serve series whose finest stored timeframe is the
   * minute; same answer, faster.
   */
  private async deriveRange(
    instrumentId: string,
    derivedFrom: TimeFrame,
    timeframe: TimeFrame,
    sourceRange: TimeRange,
    fields: readonly PointField[],
    page: Page,
    fill?: Filling,
  ): Promise<PointsPage> {
    // Unfilled reads keep their arguments as they were (fill is the readers' optional last one).
    const filling = fill ? [fill] : [];
    return (
      (derivedFrom === ROLLUP_SOURCE
        ? await this.rollups.findDerivedRange(
            instrumentId,
            timeframe,
            sourceRange,
            fields,
            page,
            ...filling,
          )
        : undefined) ??
      (await this.bars.findDerivedRange(
        instrumentId,
        derivedFrom,
        timeframe,
        sourceRange,
        fields,
        page,
        ...filling,
      ))
    );
  }

  /** Bars built from the instrument's trades when it has trades in the range (no bars at all there). */
  private async barsFromTrades(
    instrumentId: string,
    timeframe: TimeFrame,
    range: TimeRange,
    fields: PointField[],
    page: Page,
  ): Promise<BarsAnswer | undefined> {
    if (!(await this.trades.hasTradesIn(instrumentId, range))) return undefined;
    const built = await this.trades.findBarsFromTrades(
      instrumentId,
      timeframe,
      range,
      fields,
      page,
    );
    return { ...built, derivedFrom: 'TRADE' };
  }

  /**
   * A derived bar belongs to the range when its start does; it is built from
   * every source row of its bucket, so the source range is both ends rounded
   * up to the target timeframe.
   */
  private bucketSourceRange(range: TimeRange, target: TimeFrame): TimeRange {
    const step = TIMEFRAME_MS[target];
    return { fromMs: ceilTo(range.fromMs, step), toMs: ceilTo(range.toMs, step) };
  }
}

/**
 * The fill a bars request asks for, over every bucket of its timeframe in
 * the range; undefined for fill=none. A filled answer holds every bucket,
 * so the range may hold at most MAX_LIMIT of them (a page of the most a
 * request may ask for).
 */
function fillingOf(request: QueryRequestDto, range: TimeRange): Filling | undefined {
  const mode = request.fill ?? 'none';
  if (mode === 'none') return undefined;
  const grid = bucketGrid(request.timeframe, range);
  if (grid.count > MAX_LIMIT) {
    throw new InvalidRequestError(
      'fill',
      `covers at most ${MAX_LIMIT} buckets: [start_time, end_time) holds ${grid.count} ${request.timeframe} buckets`,
    );
  }
  return { mode, grid };
}

/** Bars page by offset, trades and quotes by cursor: the other one is a 400, the same shape for both. */
function checkPaging(request: QueryRequestDto, tick: boolean): void {
  if (tick && request.offset !== undefined) {
    throw new InvalidRequestError('offset', 'is not used for TRADE and QUOTE: page with cursor');
  }
  if (!tick && request.cursor !== undefined) {
    throw new InvalidRequestError('cursor', 'applies to TRADE and QUOTE; OHLCV pages with offset');
  }
}

/** Buckets are a thing of bars: a fill of trades or quotes is a 400 (fill=none is what they are). */
function checkFill(request: QueryRequestDto, tick: boolean): void {
  if (tick && request.fill !== undefined && request.fill !== 'none') {
    throw new InvalidRequestError('fill', 'applies to OHLCV bars, not to TRADE and QUOTE pages');
  }
}
