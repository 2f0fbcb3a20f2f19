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

/**
 * What "Try it out" sends. None sets compression: trying an example must not
 * change how a series is kept (a schema-generated body would send the
 * enum's first value, NONE).
 */
const STORE_EXAMPLES = {
  bars: {
    summary: 'Two 1-minute bars (OHLCV)',
    value: {
      instrument_id: 'AAPL',
      timeframe: 'ONE_MINUTE',
      data_points: [
        {
          timestamp: '2025-06-23T13:30:00Z',
          open: 187.25,
          high: 187.9,
          low: 186.8,
          close: 187.5,
          volume: 125000,
        },
        {
          timestamp: '2025-06-23T13:31:00Z',
          open: 187.5,
          high: 187.6,
          low: 187.1,
          close: 187.2,
          volume: 98000,
          dollar_volume: 18345600.5,
          trade_count: 812,
          source: 'NASDAQ',
        },
      ],
    },
  },
  trades: {
    summary: 'Trades (no timeframe)',
    value: {
      instrument_id: 'AAPL',
      data_type: 'TRADE',
      data_points: [
        { timestamp: '2025-06-23T13:30:00.000125Z', price: 187.25, size: 100, trade_id: 'T-1' },
        {
          timestamp: '2025-06-23T13:30:00.004310Z',
          price: 187.24,
          size: 50,
          conditions: ['@', 'F'],
        },
      ],
    },
  },
  quotes: {
    summary: 'Quotes (no timeframe)',
    value: {
      instrument_id: 'AAPL',
      data_type: 'QUOTE',
      data_points: [
        {
          timestamp: '2025-06-23T13:30:00.000125Z',
          bid: 187.24,
          ask: 187.26,
          bid_size: 300,
          ask_size: 200,
        },
      ],
    },
  },
};

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
  @ApiBody({ type: StoreRequestDto, examples: STORE_EXAMPLES })
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
