import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMinSize, IsArray, IsEnum, IsOptional, Matches, ValidateIf } from 'class-validator';
import {
  CompressionLevel,
  DataType,
  INSTRUMENT_ID_API,
  INSTRUMENT_ID_PATTERN,
  INSTRUMENT_ID_RULE,
  isTickDataType,
  TimeFrame,
} from '../../common/market-data.types';

export class MarketDataPointDto {
  @ApiProperty({
    example: '2025-06-21T10:00:00.000Z',
    description: 'Bar start, ISO-8601 with a zone, aligned to the timeframe',
  })
  timestamp: string;

  @ApiProperty({ example: 187.25 })
  open: number;

  @ApiProperty({ example: 187.9 })
  high: number;

  @ApiProperty({ example: 186.8 })
  low: number;

  @ApiProperty({ example: 187.5 })
  close: number;

  @ApiProperty({
    oneOf: [
      { type: 'number', minimum: 0 },
      { type: 'string', pattern: '^\\d+(\\.\\d+)?$' },
    ],
    example: 125000,
    description:
      'A number >= 0, exact: integers up to 2^63-1, fractions up to 18 digits after the point (0.00012345), never rounded. ' +
      'A JSON number, or a plain decimal string (no sign, no exponent) such as "12345678901234567890"; ' +
      'an integer above 2^53-1 must be a string (JSON.parse would already have rounded the number)',
  })
  volume: number | string;

  @ApiPropertyOptional({ type: Number, example: 23437500.0, nullable: true })
  dollar_volume?: number | null;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, example: 812, nullable: true })
  trade_count?: number | null;

  @ApiPropertyOptional({ example: 1.0, minimum: 0, maximum: 1, description: 'Default 1.0' })
  quality_score?: number;

  @ApiPropertyOptional({ type: String, nullable: true, example: 'NASDAQ', maxLength: 50 })
  source?: string | null;
}

/** A validated store request, as the write path takes it from any transport. */
export interface StoreRequest {
  readonly instrument_id: string;
  readonly timeframe: TimeFrame;
  readonly data_type?: DataType;
  readonly compression?: CompressionLevel;
  readonly data_points: readonly unknown[];
}

/**
 * The envelope is validated as a whole (a fault stores nothing); each point
 * is checked on its own by bar-rules so one bad point is reported, not fatal.
 * That is why data_points carries no @ValidateNested.
 */
export class StoreRequestDto implements StoreRequest {
  @ApiProperty(INSTRUMENT_ID_API)
  @Matches(INSTRUMENT_ID_PATTERN, { message: `must be ${INSTRUMENT_ID_RULE}` })
  instrument_id: string;

  // Before timeframe: a wrong data_type is why a timeframe seems to be missing.
  @ApiPropertyOptional({
    enum: DataType,
    default: DataType.OHLCV,
    description: 'TRADE and TICK (a trade print) take TradePoint, QUOTE takes QuotePoint',
  })
  @IsOptional()
  @IsEnum(DataType, { message: `must be one of ${Object.values(DataType).join(', ')}` })
  data_type?: DataType;

  @ApiPropertyOptional({
    enum: TimeFrame,
    example: TimeFrame.ONE_MINUTE,
    description: 'Required for OHLCV; TRADE, TICK and QUOTE need none (a valid one is ignored)',
  })
  // Trades and quotes have no timeframe; one sent with them is still checked, then ignored.
  @ValidateIf((o: StoreRequestDto) => !isTickDataType(o.data_type) || o.timeframe !== undefined)
  @IsEnum(TimeFrame, { message: `must be one of ${Object.values(TimeFrame).join(', ')}` })
  timeframe: TimeFrame;

  @ApiPropertyOptional({
    enum: CompressionLevel,
    description:
      "Recorded as the series' storage configuration (OHLCV: instrument and timeframe; TRADE/TICK and QUOTE: " +
      "the instrument's trades or quotes, under timeframe TRADE or QUOTE). NONE keeps the chunks holding " +
      'the points uncompressed; LOW, MEDIUM, HIGH compress them 7 days, 24 hours, 1 hour after their range ended',
  })
  @IsOptional()
  @IsEnum(CompressionLevel, {
    message: `must be one of ${Object.values(CompressionLevel).join(', ')}`,
  })
  compression?: CompressionLevel;

  @ApiProperty({
    type: [MarketDataPointDto],
    description:
      'OHLCV: MarketDataPoint. TRADE/TICK: {timestamp (microseconds kept), price, size, trade_id?, conditions?, quality_score?, source?}. ' +
      'QUOTE: {timestamp, bid, ask, bid_size, ask_size, source?} with bid <= ask. See docs/trades-and-quotes.md',
    example: [
      {
        timestamp: '2025-06-21T10:00:00Z',
        open: 187.25,
        high: 187.9,
        low: 186.8,
        close: 187.5,
        volume: 125000,
      },
      {
        timestamp: '2025-06-21T10:01:00Z',
        open: 187.5,
        high: 187.6,
        low: 187.1,
        close: 187.2,
        volume: '9007199254740993',
      },
    ],
  })
  @IsArray({ message: 'must be an array of points' })
  @ArrayMinSize(1, { message: 'must hold at least one point' })
  data_points: unknown[];
}
