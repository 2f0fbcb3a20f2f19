import { Body, Controller, Delete, Get, Param, Put } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { InstrumentParamsDto } from '../common/instrument-params.dto';
import { RequireScope } from '../security/require-scope.decorator';
import { DeclaredSessionResponseDto, SessionParamsDto } from './dto/session.dto';
import { DeclaredSessionAnswer, TradingSessionsService } from './trading-sessions.service';

/** The trading session an instrument declares (docs/research-reads.md "Session bars"). */
@ApiTags('query')
@Controller('api/v1/storage/instruments/:instrument_id/session')
export class TradingSessionsController {
  constructor(private readonly sessions: TradingSessionsService) {}

  @Get()
  @ApiOperation({ summary: 'The session an instrument declares' })
  @ApiOkResponse({ type: DeclaredSessionResponseDto })
  @ApiNotFoundResponse({ description: 'It declares none: its bars are UTC-aligned' })
  get(@Param() params: InstrumentParamsDto): Promise<DeclaredSessionAnswer> {
    return this.sessions.getDeclared(params.instrument_id);
  }

  @Put()
  @RequireScope('admin')
  @ApiOperation({
    summary: 'Declare the session of an instrument',
    description:
      'Its ONE_HOUR and ONE_DAY reads are then session-aligned unless the request names another ' +
      'session, and its daily bars may be stored at the session opening. Body: calendar, or tz ' +
      '(with session)',
  })
  @ApiOkResponse({ type: DeclaredSessionResponseDto })
  @ApiBadRequestResponse({ description: 'A body field is invalid; `field` names it' })
  put(
    @Param() params: InstrumentParamsDto,
    @Body() body: SessionParamsDto,
  ): Promise<DeclaredSessionAnswer> {
    return this.sessions.putDeclared(params.instrument_id, body);
  }

  @Delete()
  @RequireScope('admin')
  @ApiOperation({ summary: 'Forget the session of an instrument: its bars are UTC-aligned again' })
  @ApiOkResponse({ type: DeclaredSessionResponseDto, description: 'The session it declared' })
  @ApiNotFoundResponse({ description: 'It declared none' })
  delete(@Param() params: InstrumentParamsDto): Promise<DeclaredSessionAnswer> {
    return this.sessions.deleteDeclared(params.instrument_id);
  }
}
