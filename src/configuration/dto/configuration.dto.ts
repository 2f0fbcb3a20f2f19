import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsEnum, IsIn, IsInt, Matches, Max, Min, ValidateIf } from 'class-validator';
import {
  CompressionLevel,
  DataType,
  INSTRUMENT_ID_PATH_API,
  INSTRUMENT_ID_PATTERN,
  INSTRUMENT_ID_RULE,
  StoredTickType,
  TimeFrame,
} from '../../common/market-data.types';
import { formatInstant } from '../../common/time';
import { StorageConfigurationEntity } from '../../database/entities';
import { fromStoredLevel } from '../compression-level';

/** The spec's "raw data 2 years": RETENTION_DEFAULT_DAYS when it is not set. */
export const DEFAULT_RETENTION_DAYS = 730;
/** The largest retention a number can say (100 years); longer is null, forever. */
export const MAX_RETENTION_DAYS = 36_500;
const RETENTION_RULE = `must be a whole number of days 1..${MAX_RETENTION_DAYS}, or null to keep the bars forever`;

export const RETENTION_DESCRIPTION =
  "Days the series keeps its bars: the retention task (hourly, MAINTENANCE_INTERVAL_MS) deletes bars older than now minus this many days, and a store refuses such a bar (a per-point error naming the retention). null: kept forever. Omitted in a PUT: the server's default (RETENTION_DEFAULT_DAYS, 730 unless set; it may be 'forever'), stored as its value. There is no cap: the value given is the value kept.";

/** The only strategy today: the unique index on (instrument_id, timeframe, timestamp). */
export const INDEXING_STRATEGIES = ['time_instrument'] as const;
export type IndexingStrategy = (typeof INDEXING_STRATEGIES)[number];
export const DEFAULT_INDEXING_STRATEGY: IndexingStrategy = 'time_instrument';

const LEVEL_DESCRIPTION =
  'When a chunk of market_data_ts (LAYOUT_CHUNK_INTERVAL_HOURS long, 7 days by default) is compressed, ' +
  'counted from the end of its time range: ' +
  'NONE never, LOW after 7 days, MEDIUM after 24 hours (the default, also for series without a ' +
  'configuration), HIGH after 1 hour. A chunk holds many series; it is compressed only when ' +
  'every series with rows in it allows it, so the strictest wins. The compression job checks ' +
  'every COMPRESSION_JOB_INTERVAL_MS (default 5 minutes). Compressed rows stay readable, ' +
  'writable and deletable. Plain PostgreSQL (no TimescaleDB) compresses nothing.';

/** Path parameters `{instrument_id}/{timeframe}`; a '/' in the id travels URL-encoded as %2F. */
export class SeriesParamsDto {
  @ApiProperty(INSTRUMENT_ID_PATH_API)
  @Matches(INSTRUMENT_ID_PATTERN, { message: `must be ${INSTRUMENT_ID_RULE}` })
  instrument_id: string;

  @ApiProperty({ enum: TimeFrame, example: TimeFrame.ONE_MINUTE })
  @IsEnum(TimeFrame, { message: `must be one of ${Object.values(TimeFrame).join(', ')}` })
  timeframe: TimeFrame;
}

/** PUT body: the whole configuration; omitted optional fields take their defaults. */
export class PutConfigurationDto {
  @ApiProperty({
    enum: CompressionLevel,
    example: CompressionLevel.HIGH,
    description: LEVEL_DESCRIPTION,
  })
  @IsEnum(CompressionLevel, {
    message: `must be one of ${Object.values(CompressionLevel).join(', ')}`,
  })
  compression_level: CompressionLevel;

  @ApiPropertyOptional({
    type: 'integer',
    nullable: true,
    example: 365,
    default: DEFAULT_RETENTION_DAYS,
    minimum: 1,
    maximum: MAX_RETENTION_DAYS,
    description: RETENTION_DESCRIPTION,
  })
  // null is a value (forever), not an omission.
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsInt({ message: RETENTION_RULE })
  @Min(1, { message: RETENTION_RULE })
  @Max(MAX_RETENTION_DAYS, { message: RETENTION_RULE })
  retention_days?: number | null;

  @ApiPropertyOptional({
    enum: INDEXING_STRATEGIES,
    example: DEFAULT_INDEXING_STRATEGY,
    default: DEFAULT_INDEXING_STRATEGY,
    description: 'time_instrument: the unique index on (instrument_id, timeframe, timestamp)',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsIn(INDEXING_STRATEGIES, {
    message:
      'must be time_instrument, the only strategy today (the index on instrument_id, timeframe, timestamp)',
  })
  indexing_strategy?: IndexingStrategy;
}

export class ConfigurationResponseDto {
  @ApiProperty({ example: 'AAPL' })
  instrument_id: string;

  @ApiProperty({
    enum: [...Object.values(TimeFrame), DataType.TRADE, DataType.QUOTE],
    example: TimeFrame.ONE_MINUTE,
    description:
      "A bar series' timeframe, or TRADE / QUOTE: the compression level a trade or quote store set for the instrument's trades or quotes",
  })
  timeframe: TimeFrame | StoredTickType;

  @ApiProperty({
    enum: CompressionLevel,
    example: CompressionLevel.HIGH,
    description: LEVEL_DESCRIPTION,
  })
  compression_level: CompressionLevel;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    example: 365,
    description: RETENTION_DESCRIPTION,
  })
  retention_days: number | null;

  @ApiProperty({ enum: INDEXING_STRATEGIES, example: DEFAULT_INDEXING_STRATEGY })
  indexing_strategy: string;

  @ApiProperty({ example: '2025-06-21T10:00:00.000Z' })
  created_at: string;

  @ApiProperty({ example: '2025-06-21T10:05:00.000Z' })
  updated_at: string;
}

export class ConfigurationListResponseDto {
  @ApiProperty({
    type: [ConfigurationResponseDto],
    description: 'By instrument_id, then timeframe',
  })
  configurations: ConfigurationResponseDto[];
}

export function toConfigurationResponse(
  entity: StorageConfigurationEntity,
): ConfigurationResponseDto {
  return {
    instrument_id: entity.instrumentId,
    timeframe: entity.timeframe as TimeFrame | StoredTickType,
    compression_level: fromStoredLevel(entity.compressionLevel),
    retention_days: entity.retentionDays,
    indexing_strategy: entity.indexingStrategy,
    created_at: formatInstant(entity.createdAt.getTime()),
    updated_at: formatInstant(entity.updatedAt.getTime()),
  };
}
