import { Inject, Injectable } from '@nestjs/common';
import { aggKey, CACHE_TTL_MS, latestKey, queryKey } from '../cache/cache-keys';
import { QueryCache } from '../cache/query-cache.service';
import { InvalidRequestError, NotFoundError } from '../common/errors';
import { toRange } from '../common/instant-range';
import {
  finerTimeframes,
  POINT_FIELDS,
  PointField,
  TimeFrame,
  TIMEFRAME_MS,
} from '../common/market-data.types';
import {
  MarketDataRepository,
  Page,
  PointsPage,
  TimeRange,
} from '../repositories/market-data.repository';
import { ROLLUP_SOURCE, RollupsRepository } from '../repositories/rollups.repository';
import { TradesRepository } from '../repositories/trades.repository';
import { CacheResult, MetricsService } from '../metrics/metrics.service';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { StatisticsService } from '../statistics/statistics.service';
import { DEFAULT_LIMIT, LatestRequestDto, QueryRequestDto } from './dto/query-request.dto';
import { toQueryResponseJson } from './dto/query-response.dto';

const KNOWN_FIELDS = new Set<string>(POINT_FIELDS);

/** `fields=open,close` -> ['timestamp', 'open', 'close'] in response order; unknown names are a 400. */
export function parseFields(fields: string | undefined): PointField[] {
  if (fields === undefined || fields.trim() === '') return [...POINT_FIELDS];
  const wanted = new Set<string>(['timestamp']);
  for (const raw of fields.split(',')) {
    const name = raw.trim();
    if (!KNOWN_FIELDS.has(name)) {
      throw new InvalidRequestError(
        'fields',
        `has unknown field "${name.slice(0, 40)}"; allowed: ${POINT_FIELDS.join(', ')}`,
      );
    }
    wanted.add(name);
  }
  return POINT_FIELDS.filter((f) => wanted.has(f));
}

function ceilTo(ms: number, step: number): number {
  return Math.ceil(ms / step) * step;
}

function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

/** A range answer without its timing: what is cached. */
interface RangeAnswer extends PointsPage {
  /** A finer timeframe, or TRADE for bars built from trades. */
  readonly derivedFrom?: TimeFrame | 'TRADE';
}

/** Cached as `{totalCount}\n{derivedFrom}\n{points}`: the points stay text, never re-parsed. */
function encodeAnswer(answer: RangeAnswer): string {
  return `${answer.totalCount}\n${answer.derivedFrom ?? ''}\n${answer.pointsJson}`;
}

function decodeAnswer(text: string): RangeAnswer {
  const first = text.indexOf('\n');
  const second = text.indexOf('\n', first + 1);
  const derivedFrom = text.slice(first + 1, second);
  return {
    totalCount: Number(text.slice(0, first)),
    derivedFrom: derivedFrom ? (derivedFrom as TimeFrame | 'TRADE') : undefined,
    pointsJson: text.slice(second + 1),
  };
}

/** The read path: ranges, derived timeframes, latest, through the query cache. Answers are JSON text. */
@Injectable()
export class QueryService {
  constructor(
    private readonly marketData: MarketDataRepository,
    private readonly cache: QueryCache,
    private readonly metrics: MetricsService,
    private readonly statistics: StatisticsService,
    private readonly rollups: RollupsRepository,
    private readonly trades: TradesRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async query(request: QueryRequestDto): Promise<string> {
    const started = performance.now();
    if (request.cursor !== undefined) {
      throw new InvalidRequestError(
        'cursor',
        'applies to TRADE and QUOTE; OHLCV pages with offset',
      );
    }
    const fields = parseFields(request.fields);
    const range = toRange(
      request.start_time,
      request.end_time,
      this.settings.security.maxQueryRangeDays,
    );
    const page: Page = { limit: request.limit ?? DEFAULT_LIMIT, offset: request.offset ?? 0 };
    const { instrument_id: instrumentId, timeframe } = request;

    // The generation is read before the database: an answer computed while a
    // write commits is then cached under the generation that write replaces.
    const generation = await this.cache.generation(instrumentId);
    const keyParts = [
      instrumentId,
      timeframe,
      range.fromMs,
      range.toMs,
      fields,
      page.limit,
      page.offset,
    ];
    const keys =
      generation === undefined
        ? undefined
        : {
            range: queryKey(generation, keyParts),
            derived: aggKey(instrumentId, timeframe, generation, keyParts),
          };

    let cacheResult: CacheResult = 'bypass';
    let answer: RangeAnswer | undefined;
    if (keys) {
      const cached = await this.cache.getFirst([keys.range, keys.derived], generation);
      cacheResult = cached === undefined ? 'miss' : 'hit';
      if (cached !== undefined) answer = decodeAnswer(cached);
    }
    if (!answer) {
      answer = await this.computeRange(instrumentId, timeframe, range, fields, page);
      if (keys) {
        const derived = answer.derivedFrom !== undefined;
        // Not awaited: the answer need not wait for Redis (QueryCache.set says why that is safe).
        void this.cache.set(
          derived ? keys.derived : keys.range,
          encodeAnswer(answer),
          derived ? CACHE_TTL_MS.agg : CACHE_TTL_MS.query,
          generation,
        );
      }
    }
    const queryTimeMs = elapsedMs(started);
    this.metrics.queryCompleted(
      answer.derivedFrom ? 'derived' : 'range',
      cacheResult,
      queryTimeMs / 1000,
    );
    this.statistics.recordQuery(queryTimeMs, cacheResult === 'hit');
    return toQueryResponseJson({
      instrumentId,
      timeframe,
      derivedFrom: answer.derivedFrom,
      pointsJson: answer.pointsJson,
      totalCount: answer.totalCount,
      queryTimeMs,
      cacheHit: cacheResult === 'hit',
    });
  }

  /** The newest stored point of the series as JSON text. */
  async latest(instrumentId: string, request: LatestRequestDto): Promise<string> {
    const started = performance.now();
    const fields = parseFields(request.fields);
    const generation = await this.cache.generation(instrumentId);
    const key =
      generation === undefined
        ? undefined
        : latestKey(instrumentId, request.timeframe, generation, fields.join(','));
    let point = key === undefined ? undefined : await this.cache.get(key, generation);
    const cacheResult: CacheResult =
      key === undefined ? 'bypass' : point === undefined ? 'miss' : 'hit';
    if (point === undefined) {
      const found = await this.marketData.findLatest(
        { instrumentId, timeframe: request.timeframe },
        fields,
      );
      if (found === null)
        throw new NotFoundError(`No ${request.timeframe} data stored for ${instrumentId}`);
      point = found;
      if (key !== undefined) void this.cache.set(key, point, CACHE_TTL_MS.latest, generation);
    }
    const queryTimeMs = elapsedMs(started);
    this.metrics.queryCompleted('latest', cacheResult, queryTimeMs / 1000);
    this.statistics.recordQuery(queryTimeMs, cacheResult === 'hit');
    return point;
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
  ): Promise<RangeAnswer> {
    const stored = await this.marketData.findRange(
      { instrumentId, timeframe },
      range,
      fields,
      page,
    );
    if (stored.totalCount > 0) return stored;
    const sourceRange = this.bucketSourceRange(range, timeframe);
    const finer = await this.marketData.findTimeframesWithData(
      instrumentId,
      finerTimeframes(timeframe),
      sourceRange,
    );
    if (finer.length === 0)
      return (
        (await this.barsFromTrades(instrumentId, timeframe, sourceRange, fields, page)) ?? stored
      );
    const derivedFrom = finer.sort((a, b) => TIMEFRAME_MS[a] - TIMEFRAME_MS[b])[0];
    // The rollups serve series whose finest stored timeframe is the minute; same answer, faster.
    const derived =
      (derivedFrom === ROLLUP_SOURCE
        ? await this.rollups.findDerivedRange(instrumentId, timeframe, sourceRange, fields, page)
        : undefined) ??
      (await this.marketData.findDerivedRange(
        instrumentId,
        derivedFrom,
        timeframe,
        sourceRange,
        fields,
        page,
      ));
    return { ...derived, derivedFrom };
  }

  /** Bars built from the instrument's trades when it has trades in the range (no bars at all there). */
  private async barsFromTrades(
    instrumentId: string,
    timeframe: TimeFrame,
    range: TimeRange,
    fields: PointField[],
    page: Page,
  ): Promise<RangeAnswer | undefined> {
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
