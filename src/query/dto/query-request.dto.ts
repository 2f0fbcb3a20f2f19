import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsEnum,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import {
  DataType,
  INSTRUMENT_ID_API,
  INSTRUMENT_ID_PATTERN,
  INSTRUMENT_ID_RULE,
  isTickDataType,
  POINT_FIELDS,
  TimeFrame,
} from '../../common/market-data.types';
import { IsInstant } from '../../common/validation';
import { ANSWER_FORMATS } from '../formats/answer-format';
import type { AnswerFormat } from '../formats/answer-format';
import { SessionParamsDto } from './session.dto';

export const DEFAULT_LIMIT = 1000;
/** How a bars answer's empty buckets are filled (docs/research-reads.md). */
export const FILL_MODES = ['none', 'null', 'prev'] as const;
export type FillRequest = (typeof FILL_MODES)[number];
export const MAX_LIMIT = 100_000;
const TIMEFRAME_MESSAGE = `must be one of ${Object.values(TimeFrame).join(', ')}`;
const DATA_TYPE_MESSAGE = `must be one of ${Object.values(DataType).join(', ')}`;
/** Trades and quotes need no timeframe; one sent with them is checked, then ignored. */
const needsTimeframe = (o: { data_type?: DataType; timeframe?: TimeFrame }) =>
  !isTickDataType(o.data_type) || o.timeframe !== undefined;

/** The comma list of instrument_ids (docs/research-reads.md); checked by parseInstrumentIds. */
const INSTRUMENT_IDS_API = {
  type: String,
  example: 'AAPL,MSFT,ES=F',
  description:
    'Instead of instrument_id: a comma list of 1-500 instruments (spaces around commas ignored), ' +
    'answered in one response grouped by instrument, in this order',
};
const oneInstrument = (o: { instrument_ids?: unknown }) => o.instrument_ids === undefined;

/** tz, session and calendar (SessionParamsDto): session-aligned ONE_HOUR and ONE_DAY bars. */
export class QueryRequestDto extends SessionParamsDto {
  @ApiPropertyOptional({
    ...INSTRUMENT_ID_API,
    description: `${INSTRUMENT_ID_API.description}. Required unless instrument_ids is given`,
  })
  @ValidateIf(oneInstrument)
  @Matches(INSTRUMENT_ID_PATTERN, { message: `must be ${INSTRUMENT_ID_RULE}` })
  instrument_id: string;

  @ApiPropertyOptional(INSTRUMENT_IDS_API)
  @IsOptional()
  @IsString({ each: true, message: 'must be a comma list of instrument ids' })
  instrument_ids?: string | string[];

  // Before timeframe: a wrong data_type is why a timeframe seems to be missing.
  @ApiPropertyOptional({ enum: DataType, default: DataType.OHLCV })
  @IsOptional()
  @IsEnum(DataType, { message: DATA_TYPE_MESSAGE })
  data_type?: DataType;

  @ApiPropertyOptional({
    enum: TimeFrame,
    example: TimeFrame.ONE_MINUTE,
    description: 'Required for OHLCV; TRADE, TICK and QUOTE need none',
  })
  @ValidateIf(needsTimeframe)
  @IsEnum(TimeFrame, { message: TIMEFRAME_MESSAGE })
  timeframe: TimeFrame;

  @ApiPropertyOptional({
    description: 'TRADE and QUOTE: the next_cursor of the previous page (offset is not used)',
  })
  @IsOptional()
  @IsString()
  @MaxLength(200, { message: 'must be at most 200 characters' })
  cursor?: string;

  @ApiProperty({ example: '2025-06-21T00:00:00Z', description: 'Inclusive' })
  @IsInstant()
  start_time: string;

  @ApiProperty({ example: '2025-06-22T00:00:00Z', description: 'Exclusive' })
  @IsInstant()
  end_time: string;

  @ApiPropertyOptional({
    example: 'open,close,volume',
    description: `Comma list out of ${POINT_FIELDS.join(', ')}; timestamp is always included`,
  })
  @IsOptional()
  @IsString()
  fields?: string;

  @ApiPropertyOptional({
    enum: FILL_MODES,
    default: 'none',
    description:
      'OHLCV: the empty buckets of the timeframe in [start_time, end_time). none: left out; null: ' +
      'present with null values; prev: a flat candle at the previous close (open=high=low=close, ' +
      'volume, dollar_volume and trade_count 0). A filled point says "filled": true; total_count ' +
      `counts the buckets (at most ${MAX_LIMIT})`,
  })
  @IsOptional()
  @IsIn(FILL_MODES, { message: `must be one of ${FILL_MODES.join(', ')}` })
  fill?: FillRequest;

  @ApiPropertyOptional({
    type: String,
    example: 'volume:10000',
    description:
      'TRADE (or TICK): bars built from the trades instead of the trades. volume:N closes a bar at ' +
      'the trade that takes the size summed since start_time to or past the next multiple of N, ' +
      'dollar:N the same for price*size, tick:N every N trades; the closing trade belongs to its bar ' +
      'whole. Paged by limit and offset; the last bar says "complete": false when the range ends first',
  })
  @IsOptional()
  @IsString()
  @MaxLength(40, { message: 'must be at most 40 characters' })
  bar?: string;

  @ApiPropertyOptional({
    enum: ANSWER_FORMATS,
    default: 'json',
    description:
      'json: the paged JSON answer. csv (text/csv) or arrow (an Apache Arrow IPC stream): the whole ' +
      'range in one streamed answer, no page cap (limit, when given, caps the rows; offset or ' +
      'cursor say where to start); x-total-count and x-derived-from headers say what the JSON ' +
      'body would. Wins over Accept (text/csv, application/vnd.apache.arrow.stream). See ' +
      'docs/research-reads.md "CSV and Arrow"',
  })
  @IsOptional()
  @IsIn(ANSWER_FORMATS, { message: `must be one of ${ANSWER_FORMATS.join(', ')}` })
  format?: AnswerFormat;

  @ApiPropertyOptional({ default: DEFAULT_LIMIT, minimum: 1, maximum: MAX_LIMIT })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'must be a whole number' })
  @Min(1, { message: 'must be at least 1' })
  @Max(MAX_LIMIT, { message: `must be at most ${MAX_LIMIT}` })
  limit?: number;

  @ApiPropertyOptional({ default: 0, minimum: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'must be a whole number' })
  @Min(0, { message: 'must be at least 0' })
  @Max(1_000_000_000, { message: 'must be at most 1000000000' })
  offset?: number;
}

export class LatestRequestDto {
  @ApiPropertyOptional({
    enum: TimeFrame,
    example: TimeFrame.ONE_MINUTE,
    description: 'Required for OHLCV; TRADE, TICK and QUOTE need none',
  })
  @ValidateIf(needsTimeframe)
  @IsEnum(TimeFrame, { message: TIMEFRAME_MESSAGE })
  timeframe: TimeFrame;

  @ApiPropertyOptional({ enum: DataType, default: DataType.OHLCV })
  @IsOptional()
  @IsEnum(DataType, { message: DATA_TYPE_MESSAGE })
  data_type?: DataType;

  @ApiPropertyOptional({ example: 'close,volume' })
  @IsOptional()
  @IsString()
  fields?: string;
}

/** GET /latest: the newest point of each of several instruments. */
export class LatestManyRequestDto extends LatestRequestDto {
  @ApiProperty({
    ...INSTRUMENT_IDS_API,
    description:
      'A comma list of 1-500 instruments (spaces around commas ignored), answered in this order',
  })
  @IsString({ each: true, message: 'must be a comma list of instrument ids' })
  instrument_ids: string | string[];
}
