import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { InstrumentParamsDto } from '../common/instrument-params.dto';
import { IntegrityReportDto, IntegrityRequestDto } from './dto/integrity.dto';
import { IntegrityService } from './integrity.service';

@ApiTags('integrity')
@Controller('api/v1/storage')
export class IntegrityController {
  constructor(private readonly integrity: IntegrityService) {}

  @Get('instruments/:instrument_id/integrity')
  @ApiOperation({
    summary:
      'Count, first/last, gaps, rule violations and a checksum of the stored bars in [start_time, end_time)',
  })
  @ApiOkResponse({ type: IntegrityReportDto })
  check(
    @Param() params: InstrumentParamsDto,
    @Query() request: IntegrityRequestDto,
  ): Promise<IntegrityReportDto> {
    return this.integrity.check(params.instrument_id, request);
  }
}
