import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';

/** The session an answer was aligned to, or an instrument declares. */
export class SessionResponseDto {
  @ApiProperty({ example: 'America/New_York' })
  tz: string;

  @ApiProperty({ example: '09:30', description: 'Local opening time' })
  open: string;

  @ApiProperty({
    example: '16:00',
    description: 'Local closing time; at or before open: the next local day (overnight session)',
  })
  close: string;

  @ApiPropertyOptional({ example: 'XNYS', description: 'The calendar it came from' })
  calendar?: string;
}

export class DeclaredSessionResponseDto extends SessionResponseDto {
  @ApiProperty({ example: 'AAPL' })
  instrument_id: string;
}

/** The session parameters of /query, and the body of PUT .../session. */
export class SessionParamsDto {
  @ApiPropertyOptional({
    example: 'America/New_York',
    description:
      'OHLCV ONE_HOUR and ONE_DAY: an IANA zone; without session, the full local day 00:00-24:00',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64, { message: 'must be at most 64 characters' })
  tz?: string;

  @ApiPropertyOptional({
    example: '09:30-16:00',
    description:
      'With tz: the session HH:MM-HH:MM in local time; a close at or before the open is the next ' +
      'day (17:00-16:00 opens the previous local day)',
  })
  @IsOptional()
  @IsString()
  @MaxLength(11, { message: 'must be HH:MM-HH:MM' })
  session?: string;

  @ApiPropertyOptional({
    example: 'XNYS',
    description:
      'Instead of tz and session: a named calendar (XNYS, XNAS, CME_EQUITY, XLON, XETR, and those of SESSION_CALENDARS)',
  })
  @IsOptional()
  @IsString()
  @MaxLength(32, { message: 'must be at most 32 characters' })
  calendar?: string;
}
