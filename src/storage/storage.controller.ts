import { Body, Controller, Delete, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { InstrumentParamsDto } from '../common/instrument-params.dto';
import { RequireScope } from '../security/require-scope.decorator';
import { isTickDataType } from '../common/market-data.types';
import { DeleteRequestDto } from './dto/delete-request.dto';
import { DeletionResponseDto, StorageResponseDto } from './dto/storage-response.dto';
import type { StoreRequest } from './dto/store-request.dto';
import { StoreRequestDto } from './dto/store-request.dto';
import { StorageService } from './storage.service';
import { StoreRequestPipe } from './store-request.pipe';
import { TickStorageService } from './tick-storage.service';

@ApiTags('storage')
@Controller('api/v1/storage')
export class StorageController {
  constructor(
    private readonly storage: StorageService,
    private readonly ticks: TickStorageService,
  ) {}

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
    const { data_type } = request;
    return isTickDataType(data_type)
      ? this.ticks.store({ ...request, data_type })
      : this.storage.store(request);
  }

  @Delete('instruments/:instrument_id')
  @RequireScope('write')
  @ApiOperation({ summary: 'Delete the points of an instrument in [start_time, end_time)' })
  @ApiOkResponse({ type: DeletionResponseDto })
  delete(
    @Param() params: InstrumentParamsDto,
    @Query() query: DeleteRequestDto,
  ): Promise<DeletionResponseDto> {
    return isTickDataType(query.data_type)
      ? this.ticks.deleteRange(
          params.instrument_id,
          query.data_type,
          query.start_time,
          query.end_time,
        )
      : this.storage.deleteRange(params.instrument_id, query);
  }
}
