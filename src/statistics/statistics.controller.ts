import { Controller, Get, Header, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { StatisticsHistoryRequestDto } from './dto/statistics-history-request.dto';
import { StatisticsHistoryDto, StorageStatisticsDto } from './dto/statistics-response.dto';
import { StatisticsService } from './statistics.service';

@ApiTags('statistics')
@Controller('api/v1/storage/statistics')
export class StatisticsController {
  constructor(private readonly statistics: StatisticsService) {}

  @Get()
  @Header('content-type', 'application/json; charset=utf-8')
  @ApiOperation({
    summary: "The newest storage measurement, per series, with today's query figures",
  })
  @ApiOkResponse({ type: StorageStatisticsDto })
  current(): Promise<string> {
    return this.statistics.current();
  }

  @Get('history')
  @ApiOperation({ summary: 'The daily storage_statistics rows of [from, to]' })
  @ApiOkResponse({ type: StatisticsHistoryDto })
  @ApiBadRequestResponse({
    description: 'A bound missing or malformed, to before from, or too long',
  })
  history(@Query() request: StatisticsHistoryRequestDto): Promise<StatisticsHistoryDto> {
    return this.statistics.history(request.from, request.to);
  }
}
