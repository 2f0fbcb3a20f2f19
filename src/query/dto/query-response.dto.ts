import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { DataType, TimeFrame } from '../../common/market-data.types';
import { jsonBytes, jsonPieces, JsonText } from '../../common/json-bytes';
import { SessionResponseDto } from './session.dto';

export class MarketDataPointResponseDto {
  @ApiProperty({ example: '2025-06-21T10:00:00.000Z' })
  timestamp: string;

  @ApiPropertyOptional({ example: 187.25 })
  open?: number;

  @ApiPropertyOptional({ example: 187.9 })
  high?: number;

  @ApiPropertyOptional({ example: 186.8 })
  low?: number;

  @ApiPropertyOptional({ example: 187.5 })
  close?: number;

  @ApiPropertyOptional({
    oneOf: [{ type: 'number' }, { type: 'string', pattern: '^\\d+(\\.\\d+)?$' }],
    example: 125000,
    description:
      'Exact, as stored. A JSON number when JSON.parse reads it exactly (integers up to 2^53-1, ' +
      'fractions of at most 15 significant digits: 0.00012345); otherwise a decimal string ' +
      '("9223372036854775807", "0.123456789012345678")',
  })
  volume?: number | string;

  @ApiPropertyOptional({ type: Number, nullable: true, example: 23437500 })
  dollar_volume?: number | null;

  @ApiPropertyOptional({ type: 'integer', nullable: true, example: 812 })
  trade_count?: number | null;
}

/** A point of a /query answer: a bar, or with fill=null|prev a bucket without one. */
export class QueryPointResponseDto extends MarketDataPointResponseDto {
  @ApiPropertyOptional({
    type: Boolean,
    example: true,
    description:
      'fill=null|prev: true on a bucket without a bar (null values, or a flat candle at the ' +
      'previous close with volume, dollar_volume and trade_count 0); absent on a bar',
  })
  filled?: boolean;
}

export class LatestBarResponseDto extends MarketDataPointResponseDto {
  @ApiPropertyOptional({
    enum: TimeFrame,
    description:
      'Present when the timeframe is not stored and the bar was computed from this finer one, as /query ' +
      'computes it; the newest bucket holds the finer rows stored so far (the current hour is partial)',
  })
  derived_from?: TimeFrame;
}

export class QueryResponseDto {
  @ApiProperty({ example: 'AAPL' })
  instrument_id: string;

  @ApiProperty({ enum: TimeFrame })
  timeframe: TimeFrame;

  @ApiPropertyOptional({
    enum: [...Object.values(TimeFrame), 'TRADE'],
    description:
      'Present when the bars were computed from this finer timeframe, or from trades (TRADE)',
  })
  derived_from?: TimeFrame | 'TRADE';

  // Present when the bars are session-aligned (tz, session, calendar, or the declared session).
  // No description: with one, the property becomes an untyped allOf around the $ref.
  @ApiPropertyOptional({ type: SessionResponseDto })
  session?: SessionResponseDto;

  @ApiProperty({ type: [QueryPointResponseDto] })
  data_points: QueryPointResponseDto[];

  @ApiProperty({
    description:
      'Points in the whole range, not just this page; with fill=null|prev every bucket of the range',
    example: 390,
  })
  total_count: number;

  @ApiProperty({ example: 3.2 })
  query_time_ms: number;

  @ApiProperty({ example: false })
  cache_hit: boolean;
}

export interface QueryResponseParts {
  readonly instrumentId: string;
  readonly timeframe: TimeFrame;
  readonly derivedFrom?: TimeFrame | 'TRADE';
  /** The session the bars are aligned to, as a JSON object text (sessionJson). */
  readonly sessionJson?: string;
  /** The points as a JSON array text, built by PostgreSQL (whole, or as its pieces). */
  readonly pointsJson: JsonText;
  readonly totalCount: number;
  readonly queryTimeMs: number;
  readonly cacheHit: boolean;
}

/**
 * The QueryResponse body's bytes (jsonBytes). The points arrive already serialized, so
 * they are spliced in rather than parsed and re-stringified (which would also
 * cost a parse and a stringify for nothing).
 */
export function toQueryResponseJson(parts: QueryResponseParts): Buffer {
  return jsonBytes(queryResponsePieces(parts));
}

function queryResponsePieces(parts: QueryResponseParts): string[] {
  const derived = parts.derivedFrom ? `,"derived_from":${JSON.stringify(parts.derivedFrom)}` : '';
  const session = parts.sessionJson ? `,"session":${parts.sessionJson}` : '';
  return [
    `{"instrument_id":${JSON.stringify(parts.instrumentId)},"timeframe":${JSON.stringify(parts.timeframe)}${derived}${session},"data_points":`,
    ...jsonPieces(parts.pointsJson),
    `,"total_count":${parts.totalCount},"query_time_ms":${parts.queryTimeMs},"cache_hit":${parts.cacheHit}}`,
  ];
}

/** instrument_ids: each instrument's QueryResponse, in the order named. */
export class QueryManyResponseDto {
  @ApiProperty({ enum: TimeFrame })
  timeframe: TimeFrame;

  @ApiProperty({
    type: [QueryResponseDto],
    description: 'One answer per instrument, each as /query answers it alone',
  })
  instruments: QueryResponseDto[];

  @ApiProperty({ example: 41.5, description: 'The whole request' })
  query_time_ms: number;

  @ApiProperty({ example: false, description: 'Every instrument was answered from the cache' })
  cache_hit: boolean;
}

export function toQueryManyResponseJson(
  timeframe: TimeFrame,
  answers: readonly QueryResponseParts[],
  queryTimeMs: number,
): Buffer {
  return jsonBytes([
    `{"timeframe":${JSON.stringify(timeframe)},"instruments":[`,
    ...answers.flatMap((answer, i) => [i === 0 ? '' : ',', ...queryResponsePieces(answer)]),
    `],"query_time_ms":${queryTimeMs},"cache_hit":${answers.every((a) => a.cacheHit)}}`,
  ]);
}

export class LatestOfInstrumentDto {
  @ApiProperty({ example: 'AAPL' })
  instrument_id: string;

  @ApiProperty({
    type: 'object',
    nullable: true,
    additionalProperties: true,
    description:
      'The point /instruments/{id}/latest answers (a bar, a trade or a quote); null where it answers 404',
  })
  data_point: Record<string, unknown> | null;
}

/** GET /latest: the newest point of each instrument named. */
export class LatestManyResponseDto {
  @ApiProperty({ enum: DataType })
  data_type: DataType;

  @ApiPropertyOptional({ enum: TimeFrame, description: 'OHLCV only' })
  timeframe?: TimeFrame;

  @ApiProperty({ type: [LatestOfInstrumentDto] })
  instruments: LatestOfInstrumentDto[];

  @ApiProperty({ example: 12.5 })
  query_time_ms: number;
}

export function toLatestManyResponseJson(
  dataType: DataType,
  timeframe: TimeFrame | undefined,
  points: readonly { readonly instrumentId: string; readonly pointJson: string | null }[],
  queryTimeMs: number,
): string {
  const tf = timeframe === undefined ? '' : `,"timeframe":${JSON.stringify(timeframe)}`;
  const each = points.map(
    (p) =>
      `{"instrument_id":${JSON.stringify(p.instrumentId)},"data_point":${p.pointJson ?? 'null'}}`,
  );
  return `{"data_type":${JSON.stringify(dataType)}${tf},"instruments":[${each.join(',')}],"query_time_ms":${queryTimeMs}}`;
}

/**
 * The only point of a one-bucket derived page (`[{...}]`) as a latest bar,
 * with `derived_from` after its fields; null for an empty page. Spliced, not
 * re-parsed, as toQueryResponseJson does.
 */
export function toDerivedPointJson(pointsJson: string, derivedFrom: TimeFrame): string | null {
  if (pointsJson === '[]') return null;
  return `${pointsJson.slice(1, -2)},"derived_from":${JSON.stringify(derivedFrom)}}`;
}

export class TradePointResponseDto {
  @ApiProperty({ example: '2025-06-21T14:30:00.123456Z', description: 'Microsecond precision' })
  timestamp: string;

  @ApiPropertyOptional({ example: 187.25 })
  price?: number;

  @ApiPropertyOptional({ example: 100 })
  size?: number;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: 'T-000123',
    description: "The producer's trade_id; null when the service derived the trade's key",
  })
  trade_id?: string | null;

  @ApiPropertyOptional({ type: [String], nullable: true, example: ['@', 'F'] })
  conditions?: string[] | null;

  @ApiPropertyOptional({ type: String, nullable: true, example: 'XNAS' })
  source?: string | null;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    example: 187.24,
    description: 'Bid of the newest quote at or before the trade; only when asked for in fields',
  })
  prevailing_bid?: number | null;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    example: 187.26,
    description: 'Ask of the newest quote at or before the trade; only when asked for in fields',
  })
  prevailing_ask?: number | null;
}

export class QuotePointResponseDto {
  @ApiProperty({ example: '2025-06-21T14:30:00.123456Z', description: 'Microsecond precision' })
  timestamp: string;

  @ApiPropertyOptional({ example: 187.24 })
  bid?: number;

  @ApiPropertyOptional({ example: 187.26 })
  ask?: number;

  @ApiPropertyOptional({ example: 300 })
  bid_size?: number;

  @ApiPropertyOptional({ example: 200 })
  ask_size?: number;

  @ApiPropertyOptional({ type: String, nullable: true, example: 'XNAS' })
  source?: string | null;
}

/** What a trades page and a quotes page share. */
abstract class TickPageResponseDto {
  @ApiProperty({ example: 'AAPL' })
  instrument_id: string;

  @ApiPropertyOptional({
    description: 'Points in the whole range; on the first page only (no cursor sent)',
    example: 125000,
  })
  total_count?: number;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Send as cursor for the next page; null on the last page',
  })
  next_cursor: string | null;

  @ApiProperty({ example: 3.2 })
  query_time_ms: number;

  @ApiProperty({ example: false })
  cache_hit: boolean;
}

export class TradesPageResponseDto extends TickPageResponseDto {
  @ApiProperty({ enum: ['TRADE'], description: 'TICK is answered as TRADE' })
  data_type: 'TRADE';

  @ApiProperty({ type: [TradePointResponseDto] })
  data_points: TradePointResponseDto[];
}

export class QuotesPageResponseDto extends TickPageResponseDto {
  @ApiProperty({ enum: ['QUOTE'] })
  data_type: 'QUOTE';

  @ApiProperty({ type: [QuotePointResponseDto] })
  data_points: QuotePointResponseDto[];
}

export interface TickPageResponseParts {
  readonly instrumentId: string;
  readonly dataType: 'TRADE' | 'QUOTE';
  /** The points as a JSON array text, built by PostgreSQL. */
  readonly pointsJson: string;
  /** Only on the first page. */
  readonly totalCount?: number;
  readonly nextCursor?: string;
  readonly queryTimeMs: number;
  readonly cacheHit: boolean;
}

/** A trades or quotes page as text, the points spliced in as toQueryResponseJson does. */
export function toTickPageResponseJson(parts: TickPageResponseParts): Buffer {
  const total = parts.totalCount === undefined ? '' : `,"total_count":${parts.totalCount}`;
  const next = parts.nextCursor === undefined ? 'null' : JSON.stringify(parts.nextCursor);
  return jsonBytes([
    `{"instrument_id":${JSON.stringify(parts.instrumentId)},"data_type":"${parts.dataType}","data_points":`,
    parts.pointsJson,
    `${total},"next_cursor":${next},"query_time_ms":${parts.queryTimeMs},"cache_hit":${parts.cacheHit}}`,
  ]);
}
