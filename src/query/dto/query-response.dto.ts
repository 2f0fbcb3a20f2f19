import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { TimeFrame } from '../../common/market-data.types';

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
    type: 'integer',
    example: 125000,
    description: 'Exact up to 2^63-1: parse with a big-number-aware JSON reader above 2^53',
  })
  volume?: number;

  @ApiPropertyOptional({ nullable: true, example: 23437500 })
  dollar_volume?: number | null;

  @ApiPropertyOptional({ nullable: true, example: 812 })
  trade_count?: number | null;
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

  @ApiProperty({ type: [MarketDataPointResponseDto] })
  data_points: MarketDataPointResponseDto[];

  @ApiProperty({ description: 'Points in the whole range, not just this page', example: 390 })
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
  /** The points as a JSON array text, built by PostgreSQL. */
  readonly pointsJson: string;
  readonly totalCount: number;
  readonly queryTimeMs: number;
  readonly cacheHit: boolean;
}

/**
 * The QueryResponse body as text. The points arrive already serialized, so
 * they are spliced in rather than parsed and re-stringified (which would also
 * round volumes above 2^53).
 */
export function toQueryResponseJson(parts: QueryResponseParts): string {
  const derived = parts.derivedFrom ? `,"derived_from":${JSON.stringify(parts.derivedFrom)}` : '';
  return (
    `{"instrument_id":${JSON.stringify(parts.instrumentId)},"timeframe":${JSON.stringify(parts.timeframe)}${derived}` +
    `,"data_points":${parts.pointsJson},"total_count":${parts.totalCount}` +
    `,"query_time_ms":${parts.queryTimeMs},"cache_hit":${parts.cacheHit}}`
  );
}
