import { Readable } from 'node:stream';
import { Controller, Get, Header, Headers, Param, Query, Res } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import { InstrumentParamsDto } from '../common/instrument-params.dto';
import { LatestManyRequestDto, LatestRequestDto, QueryRequestDto } from './dto/query-request.dto';
import {
  LatestBarResponseDto,
  LatestManyResponseDto,
  MarketDataPointResponseDto,
  QueryManyResponseDto,
  QueryResponseDto,
  QuotePointResponseDto,
  QuotesPageResponseDto,
  TradePointResponseDto,
  TradesPageResponseDto,
} from './dto/query-response.dto';
import {
  InformationBarPointResponseDto,
  InformationBarsResponseDto,
} from './dto/information-bars-response.dto';
import type { FastifyReply } from 'fastify';
import { answerFormat, ARROW_CONTENT_TYPE, CSV_CONTENT_TYPE } from './formats/answer-format';
import { columnsOf } from './formats/columns';
import { formattedStream } from './formats/formatted-stream';
import { QueryService } from './query.service';

/** One answer per data kind: bars (OHLCV), trades (TRADE, TICK), quotes (QUOTE). */
const oneOf = (...models: (new () => unknown)[]) => ({
  oneOf: models.map((model) => ({ $ref: getSchemaPath(model) })),
});

/** Answers are JSON text built by the service, sent as they are. */
@ApiTags('query')
@ApiExtraModels(
  QueryResponseDto,
  QueryManyResponseDto,
  TradesPageResponseDto,
  QuotesPageResponseDto,
  MarketDataPointResponseDto,
  LatestBarResponseDto,
  TradePointResponseDto,
  QuotePointResponseDto,
  InformationBarsResponseDto,
  InformationBarPointResponseDto,
)
@Controller('api/v1/storage')
export class QueryController {
  constructor(private readonly queries: QueryService) {}

  @Get('query')
  @Header('content-type', 'application/json; charset=utf-8')
  @ApiOperation({ summary: 'Points of a series in [start_time, end_time), ascending' })
  @ApiOkResponse({
    description:
      'OHLCV: QueryResponse (paged by offset), or with instrument_ids one per instrument; ' +
      'TRADE, TICK, QUOTE: a page walked by cursor; TRADE with bar: volume, dollar or tick bars',
    schema: oneOf(
      QueryResponseDto,
      QueryManyResponseDto,
      TradesPageResponseDto,
      QuotesPageResponseDto,
      InformationBarsResponseDto,
    ),
  })
  @ApiProduces('application/json', CSV_CONTENT_TYPE, ARROW_CONTENT_TYPE)
  async query(
    @Query() request: QueryRequestDto,
    @Headers('accept') accept: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Buffer | Readable> {
    const format = answerFormat(request.format, accept);
    if (format === 'json') return this.queries.query(request);
    const answer = await this.queries.queryRows(request);
    reply.header('content-type', format === 'csv' ? CSV_CONTENT_TYPE : ARROW_CONTENT_TYPE);
    reply.header('cache-control', 'no-store');
    for (const [name, value] of Object.entries(answer.headers)) reply.header(name, value);
    return formattedStream(format, columnsOf(answer.fields), answer.runs);
  }

  @Get('latest')
  @Header('content-type', 'application/json; charset=utf-8')
  @ApiOperation({ summary: 'The newest point of each of several instruments' })
  @ApiOkResponse({ type: LatestManyResponseDto })
  latestMany(@Query() request: LatestManyRequestDto): Promise<string> {
    return this.queries.latestMany(request);
  }

  @Get('instruments/:instrument_id/latest')
  @Header('content-type', 'application/json; charset=utf-8')
  @ApiOperation({ summary: 'The newest point of a series' })
  @ApiOkResponse({
    description:
      'A bar (OHLCV), a trade (TRADE, TICK) or a quote (QUOTE). A timeframe that is not stored is ' +
      'derived from the finest finer one as /query derives it (derived_from says which): its newest ' +
      'bucket, partial while its period is still being stored',
    schema: oneOf(LatestBarResponseDto, TradePointResponseDto, QuotePointResponseDto),
  })
  @ApiNotFoundResponse({
    description: 'Nothing stored for this instrument at the timeframe nor at any finer one',
  })
  latest(
    @Param() params: InstrumentParamsDto,
    @Query() request: LatestRequestDto,
  ): Promise<string> {
    return this.queries.latest(params.instrument_id, request);
  }
}
