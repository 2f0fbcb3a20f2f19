import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';
import {
  INSTRUMENT_ID_PATH_API,
  INSTRUMENT_ID_PATTERN,
  INSTRUMENT_ID_RULE,
} from './market-data.types';

/** Path parameter `{instrument_id}`; a '/' in it travels URL-encoded as %2F. */
export class InstrumentParamsDto {
  @ApiProperty(INSTRUMENT_ID_PATH_API)
  @Matches(INSTRUMENT_ID_PATTERN, { message: `must be ${INSTRUMENT_ID_RULE}` })
  instrument_id: string;
}
