import { Controller, Get, Header, Param, Query } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { InstrumentParamsDto } from '../common/instrument-params.dto';
import { isTickDataType } from '../common/market-data.types';
import { LatestRequestDto, QueryRequestDto } from './dto/query-request.dto';
import { MarketDataPointResponseDto, QueryResponseDto } from './dto/query-response.dto';
import { QueryService } from './query.service';
import { TickQueryService } from './tick-query.service';

/** Answers are JSON text built by the service, sent as they are. */
@ApiTags('query')
@Controller('api/v1/storage')
export class QueryController {
  constructor(
    private readonly queries: QueryService,
    private readonly ticks: TickQueryService,
  ) {}

  @Get('query')
  @Header('content-type', 'application/json; charset=utf-8')
  @ApiOperation({ summary: 'Points of a series in [start_time, end_time), ascending' })
  @ApiOkResponse({ type: QueryResponseDto })
  query(@Query() request: QueryRequestDto): Promise<string> {
    const { data_type } = request;
    return isTickDataType(data_type)
      ? this.ticks.query({ ...request, data_type })
      : this.queries.query(request);
  }

  @Get('instruments/:instrument_id/latest')
  @Header('content-type', 'application/json; charset=utf-8')
  @ApiOperation({ summary: 'The newest point of a series' })
  @ApiOkResponse({ type: MarketDataPointResponseDto })
  @ApiNotFoundResponse({ description: 'No data stored for this instrument and timeframe' })
  latest(
    @Param() params: InstrumentParamsDto,
    @Query() request: LatestRequestDto,
  ): Promise<string> {
    const { data_type } = request;
    return isTickDataType(data_type)
      ? this.ticks.latest(params.instrument_id, { ...request, data_type })
      : this.queries.latest(params.instrument_id, request);
  }
}
