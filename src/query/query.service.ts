import { Injectable } from '@nestjs/common';
import { InvalidRequestError, NotFoundError } from '../common/errors';
import { toRange } from '../common/instant-range';
import {
  finerTimeframes,
  POINT_FIELDS,
  PointField,
  TimeFrame,
  TIMEFRAME_MS,
} from '../common/market-data.types';
import { MarketDataRepository, PointsPage, TimeRange } from '../database/market-data.repository';
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

/** The read path: ranges, derived timeframes, latest. Answers are JSON text. */
@Injectable()
export class QueryService {
  constructor(private readonly marketData: MarketDataRepository) {}

  async query(request: QueryRequestDto): Promise<string> {
    const started = performance.now();
    const fields = parseFields(request.fields);
    const range = toRange(request.start_time, request.end_time);
    const page = { limit: request.limit ?? DEFAULT_LIMIT, offset: request.offset ?? 0 };
    const series = { instrumentId: request.instrument_id, timeframe: request.timeframe };

    let result: PointsPage = await this.marketData.findRange(series, range, fields, page);
    let derivedFrom: TimeFrame | undefined;
    if (result.totalCount === 0) {
      // Nothing stored at this timeframe in the range: compute it from the finest one that is.
      const sourceRange = this.bucketSourceRange(range, request.timeframe);
      const finer = await this.marketData.findTimeframesWithData(
        request.instrument_id,
        finerTimeframes(request.timeframe),
        sourceRange,
      );
      if (finer.length > 0) {
        derivedFrom = finer.sort((a, b) => TIMEFRAME_MS[a] - TIMEFRAME_MS[b])[0];
        result = await this.marketData.findDerivedRange(
          request.instrument_id,
          derivedFrom,
          request.timeframe,
          sourceRange,
          fields,
          page,
        );
      }
    }
    return toQueryResponseJson({
      instrumentId: request.instrument_id,
      timeframe: request.timeframe,
      derivedFrom,
      pointsJson: result.pointsJson,
      totalCount: result.totalCount,
      queryTimeMs: Math.round((performance.now() - started) * 100) / 100,
      cacheHit: false,
    });
  }

  /** The newest stored point of the series as JSON text. */
  async latest(instrumentId: string, request: LatestRequestDto): Promise<string> {
    const fields = parseFields(request.fields);
    const point = await this.marketData.findLatest(
      { instrumentId, timeframe: request.timeframe },
      fields,
    );
    if (point === null)
      throw new NotFoundError(`No ${request.timeframe} data stored for ${instrumentId}`);
    return point;
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
