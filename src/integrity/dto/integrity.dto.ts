import { ApiProperty } from '@nestjs/swagger';
import { IsEnum } from 'class-validator';
import { TimeFrame } from '../../common/market-data.types';
import { IsInstant } from '../../common/validation';

export class IntegrityRequestDto {
  @ApiProperty({ enum: TimeFrame, example: TimeFrame.ONE_MINUTE })
  @IsEnum(TimeFrame, { message: `must be one of ${Object.values(TimeFrame).join(', ')}` })
  timeframe: TimeFrame;

  @ApiProperty({ example: '2025-06-21T00:00:00Z', description: 'Inclusive' })
  @IsInstant()
  start_time: string;

  @ApiProperty({ example: '2025-06-22T00:00:00Z', description: 'Exclusive' })
  @IsInstant()
  end_time: string;
}

export class GapDto {
  @ApiProperty({ example: '2025-06-21T10:05:00.000Z', description: 'First missing bar' })
  start_time: string;

  @ApiProperty({
    example: '2025-06-21T10:08:00.000Z',
    description: 'Exclusive: the next stored bar',
  })
  end_time: string;

  @ApiProperty({ example: 3, description: 'Bars of the timeframe missing here' })
  missing_count: number;
}

export class ViolationDto {
  @ApiProperty({ example: '2025-06-21T10:05:00.000Z' })
  timestamp: string;

  @ApiProperty({ example: 'low' })
  field: string;

  @ApiProperty({ example: 'low must not exceed open or close' })
  rule: string;
}

export class ChecksumDto {
  @ApiProperty({ example: 'sha256' })
  algorithm: 'sha256';

  @ApiProperty({ example: 'mds-ohlcv-v1', description: 'The canonical text hashed; see docs' })
  format: string;

  @ApiProperty({ example: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' })
  value: string;
}

export class IntegrityReportDto {
  @ApiProperty({ example: 'AAPL' })
  instrument_id: string;

  @ApiProperty({ enum: TimeFrame })
  timeframe: TimeFrame;

  @ApiProperty({ example: '2025-06-21T00:00:00.000Z' })
  start_time: string;

  @ApiProperty({ example: '2025-06-22T00:00:00.000Z' })
  end_time: string;

  @ApiProperty({ example: 1437, description: 'Stored bars in the range' })
  count: number;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    example: '2025-06-21T00:00:00.000Z',
  })
  first_timestamp: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    example: '2025-06-21T23:59:00.000Z',
  })
  last_timestamp: string | null;

  @ApiProperty({
    example: 1440,
    description: 'Slots of the timeframe grid from the first to the last stored bar',
  })
  expected_count: number;

  @ApiProperty({ example: 3, description: 'Grid slots between first and last with no bar' })
  missing_count: number;

  @ApiProperty({
    example: 1,
    description: 'Runs of missing slots; all counted, at most 1000 listed',
  })
  gap_count: number;

  @ApiProperty({ type: [GapDto] })
  gaps: GapDto[];

  @ApiProperty({ example: 0, description: 'Rule violations; all counted, at most 1000 listed' })
  violation_count: number;

  @ApiProperty({ type: [ViolationDto] })
  violations: ViolationDto[];

  @ApiProperty({ type: ChecksumDto })
  checksum: ChecksumDto;
}
