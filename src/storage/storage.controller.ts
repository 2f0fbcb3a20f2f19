import { Body, Controller, Delete, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { InstrumentParamsDto } from '../common/instrument-params.dto';
import { RequireScope } from '../security/require-scope.decorator';
import { ConfiguredSeries, DataType, isTickDataType } from '../common/market-data.types';
import { DeleteRequestDto } from './dto/delete-request.dto';
import { DeletionResponseDto, StorageResponseDto } from './dto/storage-response.dto';
import type { StoreRequest } from './dto/store-request.dto';
import { StoreRequestDto } from './dto/store-request.dto';
import { IngestService } from './ingest.service';
import { StoreRequestPipe } from './store-request.pipe';

/** The series a request stores: a bar series, or the instrument's trades (TRADE, TICK) or quotes. */
function seriesOf(request: StoreRequest): ConfiguredSeries {
  const { instrument_id: instrumentId, data_type: dataType } = request;
  if (!isTickDataType(dataType)) return { instrumentId, timeframe: request.timeframe };
  return { instrumentId, timeframe: dataType === DataType.QUOTE ? DataType.QUOTE : DataType.TRADE };
}

@ApiTags('storage')
@Controller('api/v1/storage')
export class StorageController {
  constructor(private readonly ingest: IngestService) {}

  @Post('store')
  @RequireScope('write')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Store points of one series; invalid points are reported, valid ones stored',
  })
  @ApiBody({ type: StoreRequestDto })
  @ApiOkResponse({ type: StorageResponseDto })
  // Typed by an interface so the global ValidationPipe leaves the body to StoreRequestPipe.
  store(@Body(StoreRequestPipe) request: StoreRequest): Promise<StorageResponseDto> {
    return this.ingest.store(
      { series: seriesOf(request), points: request.data_points },
      request.compression,
    );
  }

  @Delete('instruments/:instrument_id')
  @RequireScope('write')
  @ApiOperation({ summary: 'Delete the points of an instrument in [start_time, end_time)' })
  @ApiOkResponse({ type: DeletionResponseDto })
  delete(
    @Param() params: InstrumentParamsDto,
    @Query() query: DeleteRequestDto,
  ): Promise<DeletionResponseDto> {
    return this.ingest.deleteRange(params.instrument_id, query);
  }
}
