import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsEnum, IsOptional } from 'class-validator';
import { DataType, TimeFrame } from '../../common/market-data.types';
import { IsInstant } from '../../common/validation';

/** Both bounds are required: there is no accidental wipe of an instrument. */
export class DeleteRequestDto {
  @ApiProperty({ example: '2025-06-21T00:00:00Z', description: 'Inclusive' })
  @IsInstant()
  start_time: string;

  @ApiProperty({ example: '2025-06-22T00:00:00Z', description: 'Exclusive' })
  @IsInstant()
  end_time: string;

  @ApiPropertyOptional({ enum: TimeFrame, description: 'Only this timeframe; all when omitted' })
  @IsOptional()
  @IsEnum(TimeFrame, { message: `must be one of ${Object.values(TimeFrame).join(', ')}` })
  timeframe?: TimeFrame;

  @ApiPropertyOptional({
    enum: DataType,
    default: DataType.OHLCV,
    description: 'TRADE (or TICK) deletes trades, QUOTE quotes; OHLCV (the default) bars',
  })
  @IsOptional()
  @IsEnum(DataType, { message: `must be one of ${Object.values(DataType).join(', ')}` })
  data_type?: DataType;
}
