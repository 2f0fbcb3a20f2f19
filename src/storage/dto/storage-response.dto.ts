import { ApiProperty } from '@nestjs/swagger';
import { PointError } from '../point-check';

export class PointErrorDto implements PointError {
  @ApiProperty({ example: 3, description: 'Index of the point in data_points' })
  index: number;

  @ApiProperty({ example: 'low' })
  field: string;

  @ApiProperty({ example: 'low must not exceed open or close' })
  message: string;
}

export class StorageResponseDto {
  @ApiProperty({ format: 'uuid' })
  request_id: string;

  @ApiProperty({ description: 'Rows written (one per distinct timestamp)', example: 1440 })
  stored_count: number;

  @ApiProperty({
    description: 'Points rejected; each is explained in errors (first 1000 listed)',
    example: 0,
  })
  failed_count: number;

  @ApiProperty({
    description: 'Valid points replaced by a later point with the same timestamp',
    example: 0,
  })
  superseded_count: number;

  @ApiProperty({ example: 42.7 })
  storage_time_ms: number;

  @ApiProperty({
    description: '1 - compressed/uncompressed bytes of the compressed chunks of this series',
    example: 0,
  })
  compression_ratio: number;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    example: 730,
    description:
      "The series' retention in days: its configured retention_days, or RETENTION_DEFAULT_DAYS (trades and quotes: always RETENTION_DEFAULT_DAYS). null: kept forever. A point older than now minus this is refused (an error on its timestamp), never stored to be deleted",
  })
  retention_days: number | null;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    example: '2027-06-21T10:00:00.000Z',
    description:
      'When the oldest point this request stored becomes due for deletion by retention (its timestamp + retention_days; the hourly retention task deletes it after that). null: kept forever, or nothing stored',
  })
  kept_until: string | null;

  @ApiProperty({ type: [PointErrorDto] })
  errors: PointErrorDto[];
}

export class DeletionResponseDto {
  @ApiProperty({ format: 'uuid' })
  request_id: string;

  @ApiProperty({ example: 'AAPL' })
  instrument_id: string;

  @ApiProperty({ example: 1440 })
  deleted_count: number;

  @ApiProperty({ example: '2025-06-21T00:00:00.000Z' })
  start_time: string;

  @ApiProperty({ example: '2025-06-22T00:00:00.000Z' })
  end_time: string;
}
