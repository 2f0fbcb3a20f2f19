import { Inject, Injectable } from '@nestjs/common';
import { CACHE_TTL_MS, latestKey, queryKey } from '../cache/cache-keys';
import { QueryCache } from '../cache/query-cache.service';
import { InvalidRequestError, NotFoundError } from '../common/errors';
import { DataType, TickDataType } from '../common/market-data.types';
import { toMicroRange } from '../common/instant-range';
import { QUOTE_FIELDS, QuotesRepository } from '../repositories/quotes.repository';
import { TickPage } from '../repositories/tick-tables';
import {
  TRADE_FIELDS,
  TRADE_FIELDS_ALL,
  TradeField,
  TradesRepository,
} from '../repositories/trades.repository';
import { CacheResult, MetricsService } from '../metrics/metrics.service';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { StatisticsService } from '../statistics/statistics.service';
import { DEFAULT_LIMIT, LatestRequestDto, QueryRequestDto } from './dto/query-request.dto';
import { decodeCursor, encodeCursor } from './tick-cursor';

function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

/**
 * `fields=price,size` -> ['timestamp', 'price', 'size'] in response order;
 * unknown names are a 400; none asked for: `defaults`.
 */
function parseFieldsOf<F extends string>(
  allowed: readonly F[],
  fields: string | undefined,
  defaults: readonly F[] = allowed,
): F[] {
  if (fields === undefined || fields.trim() === '') return [...defaults];
  const known = new Set<string>(allowed);
  const wanted = new Set<string>(['timestamp']);
  for (const raw of fields.split(',')) {
    const name = raw.trim();
    if (!known.has(name)) {
      throw new InvalidRequestError(
        'fields',
        `has unknown field "${name.slice(0, 40)}"; allowed: ${allowed.join(', ')}`,
      );
    }
    wanted.add(name);
  }
  return allowed.filter((f) => wanted.has(f));
}

/** Cached as `{totalCount or ''}\n{next_cursor or ''}\n{points}`. */
function encodePage(page: TickPage): string {
  return `${page.totalCount ?? ''}\n${page.next ? encodeCursor(page.next) : ''}\n${page.pointsJson}`;
}

function decodePage(text: string): {
  totalCount?: number;
  nextCursor?: string;
  pointsJson: string;
} {
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

/** TICK is stored and answered as TRADE (a tick is a trade print). */
function storedType(dataType: TickDataType): DataType.TRADE | DataType.QUOTE {
  return dataType === DataType.QUOTE ? DataType.QUOTE : DataType.TRADE;
}

/**
 * The read path of trades and quotes: keyset pages in (timestamp, key)
 * order and the newest point, cached under the instrument's generation like
 * every other answer about it (a write of trades, quotes or bars of the
 * instrument makes them unreachable at once).
 */
@Injectable()
export class TickQueryService {
  constructor(
    private readonly trades: TradesRepository,
    private readonly quotes: QuotesRepository,
    private readonly cache: QueryCache,
    private readonly metrics: MetricsService,
    private readonly statistics: StatisticsService,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async query(request: QueryRequestDto & { readonly data_type: TickDataType }): Promise<string> {
    const started = performance.now();
    if (request.offset !== undefined) {
      throw new InvalidRequestError('offset', 'is not used for TRADE and QUOTE: page with cursor');
    }
    const dataType = storedType(request.data_type);
    const range = toMicroRange(
      request.start_time,
      request.end_time,
      this.settings.security.maxQueryRangeDays,
    );
    const limit = request.limit ?? DEFAULT_LIMIT;
    const after = request.cursor === undefined ? undefined : decodeCursor(request.cursor);
    const instrumentId = request.instrument_id;
    const quote = dataType === DataType.QUOTE;
    const fields = quote
      ? parseFieldsOf(QUOTE_FIELDS, request.fields)
      : parseFieldsOf<TradeField>(TRADE_FIELDS_ALL, request.fields, TRADE_FIELDS);

    const generation = await this.cache.generation(instrumentId);
    const key =
      generation === undefined
        ? undefined
        : queryKey(generation, [
            dataType,
            instrumentId,
            range.fromUs,
            range.toUs,
            fields,
            limit,
            request.cursor ?? '',
          ]);
    let cached = key === undefined ? undefined : await this.cache.get(key, generation);
    const cacheResult: CacheResult =
      key === undefined ? 'bypass' : cached === undefined ? 'miss' : 'hit';
    if (cached === undefined) {
      // The count of the whole range only on the first page: recounting millions of rows per page would dominate the walk.
      const page = quote
        ? await this.quotes.findQuotesPage(
            instrumentId,
            range,
            fields as (typeof QUOTE_FIELDS)[number][],
            limit,
            after,
            !after,
          )
        : await this.trades.findTradesPage(
            instrumentId,
            range,
            fields as TradeField[],
            limit,
            after,
            !after,
          );
      cached = encodePage(page);
      // Not awaited: see QueryCache.set.
      if (key !== undefined) void this.cache.set(key, cached, CACHE_TTL_MS.query, generation);
    }
    const page = decodePage(cached);
    const queryTimeMs = elapsedMs(started);
    this.metrics.queryCompleted('range', cacheResult, queryTimeMs / 1000);
    this.statistics.recordQuery(queryTimeMs, cacheResult === 'hit');
    const total = page.totalCount === undefined ? '' : `,"total_count":${page.totalCount}`;
    return (
      `{"instrument_id":${JSON.stringify(instrumentId)},"data_type":"${dataType}"` +
      `,"data_points":${page.pointsJson}${total}` +
      `,"next_cursor":${page.nextCursor === undefined ? 'null' : JSON.stringify(page.nextCursor)}` +
      `,"query_time_ms":${queryTimeMs},"cache_hit":${cacheResult === 'hit'}}`
    );
  }

  /** The newest trade or quote of the instrument as JSON text. */
  async latest(
    instrumentId: string,
    request: LatestRequestDto & { readonly data_type: TickDataType },
  ): Promise<string> {
    const started = performance.now();
    const dataType = storedType(request.data_type);
    const quote = dataType === DataType.QUOTE;
    const fields = quote
      ? parseFieldsOf(QUOTE_FIELDS, request.fields)
      : parseFieldsOf<TradeField>(TRADE_FIELDS_ALL, request.fields, TRADE_FIELDS);
    const generation = await this.cache.generation(instrumentId);
    const key =
      generation === undefined
        ? undefined
        : latestKey(instrumentId, dataType, generation, fields.join(','));
    let point = key === undefined ? undefined : await this.cache.get(key, generation);
    const cacheResult: CacheResult =
      key === undefined ? 'bypass' : point === undefined ? 'miss' : 'hit';
    if (point === undefined) {
      const found = quote
        ? await this.quotes.findLatestQuote(instrumentId, fields as (typeof QUOTE_FIELDS)[number][])
        : await this.trades.findLatestTrade(instrumentId, fields as TradeField[]);
      if (found === null) {
        throw new NotFoundError(`No ${quote ? 'quotes' : 'trades'} stored for ${instrumentId}`);
      }
      point = found;
      if (key !== undefined) void this.cache.set(key, point, CACHE_TTL_MS.latest, generation);
    }
    const queryTimeMs = elapsedMs(started);
    this.metrics.queryCompleted('latest', cacheResult, queryTimeMs / 1000);
    this.statistics.recordQuery(queryTimeMs, cacheResult === 'hit');
    return point;
  }
}
