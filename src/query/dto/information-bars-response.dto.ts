import { ApiProperty, OmitType } from '@nestjs/swagger';
import { jsonBytes } from '../../common/json-bytes';
import { MarketDataPointResponseDto } from './query-response.dto';

/** A volume, dollar or tick bar built from trades (docs/research-reads.md). */
export class InformationBarPointResponseDto extends OmitType(MarketDataPointResponseDto, [
  'timestamp',
] as const) {
  @ApiProperty({
    example: '2025-06-23T14:30:00.000123Z',
    description: "The bar's first trade, microsecond precision",
  })
  timestamp: string;

  @ApiProperty({
    example: '2025-06-23T14:31:07.250001Z',
    description: "The bar's last trade (the one that closed it), microsecond precision",
  })
  end_timestamp: string;

  @ApiProperty({
    example: true,
    description:
      'false on the last bar of the range when its trades fall short of the threshold (the range ended first)',
  })
  complete: boolean;
}

export class InformationBarsResponseDto {
  @ApiProperty({ example: 'AAPL' })
  instrument_id: string;

  @ApiProperty({ enum: ['TRADE'], description: 'TICK is answered as TRADE' })
  data_type: 'TRADE';

  @ApiProperty({ example: 'volume:10000', description: 'The bar spec, N in canonical digits' })
  bar: string;

  @ApiProperty({ type: [InformationBarPointResponseDto] })
  data_points: InformationBarPointResponseDto[];

  @ApiProperty({ example: 412, description: 'Bars in the whole range, not just this page' })
  total_count: number;

  @ApiProperty({ example: 3.2 })
  query_time_ms: number;

  @ApiProperty({ example: false })
  cache_hit: boolean;
}

export interface InformationBarsResponseParts {
  readonly instrumentId: string;
  readonly bar: string;
  /** The points as a JSON array text, built by PostgreSQL. */
  readonly pointsJson: string;
  readonly totalCount: number;
  readonly queryTimeMs: number;
  readonly cacheHit: boolean;
}

/** The answer as text, the points spliced in as toQueryResponseJson does. */
export function toInformationBarsResponseJson(parts: InformationBarsResponseParts): Buffer {
  return jsonBytes([
    `{"instrument_id":${JSON.stringify(parts.instrumentId)},"data_type":"TRADE","bar":${JSON.stringify(parts.bar)},"data_points":`,
    parts.pointsJson,
    `,"total_count":${parts.totalCount},"query_time_ms":${parts.queryTimeMs},"cache_hit":${parts.cacheHit}}`,
  ]);
}
