import { Body, Controller, Delete, Get, Param, Put, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { RequireScope } from '../security/require-scope.decorator';
import { ConfigurationService } from './configuration.service';
import {
  ConfigurationListResponseDto,
  ConfigurationResponseDto,
  PutConfigurationDto,
  SeriesParamsDto,
} from './dto/configuration.dto';

@ApiTags('configuration')
@RequireScope('admin')
@Controller('api/v1/storage/configurations')
export class ConfigurationController {
  constructor(private readonly configurations: ConfigurationService) {}

  @Get()
  @ApiOperation({ summary: 'Every stored configuration' })
  @ApiOkResponse({ type: ConfigurationListResponseDto })
  async list(): Promise<ConfigurationListResponseDto> {
    return { configurations: await this.configurations.list() };
  }

  @Get(':instrument_id/:timeframe')
  @ApiOperation({ summary: 'The configuration of one series' })
  @ApiOkResponse({ type: ConfigurationResponseDto })
  @ApiNotFoundResponse({ description: 'None stored: the series runs on the defaults' })
  get(@Param() params: SeriesParamsDto): Promise<ConfigurationResponseDto> {
    return this.configurations.get(seriesOf(params));
  }

  @Put(':instrument_id/:timeframe')
  @ApiOperation({
    summary: 'Create or replace the configuration of one series',
    description: 'Answers 201 when it creates the configuration, 200 when it replaces one.',
  })
  @ApiOkResponse({ type: ConfigurationResponseDto, description: 'Replaced' })
  @ApiCreatedResponse({ type: ConfigurationResponseDto, description: 'Created' })
  @ApiBadRequestResponse({ description: 'A parameter or body field is invalid; `field` names it' })
  async put(
    @Param() params: SeriesParamsDto,
    @Body() body: PutConfigurationDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ConfigurationResponseDto> {
    const { configuration, created } = await this.configurations.put(seriesOf(params), body);
    void reply.status(created ? 201 : 200);
    return configuration;
  }

  @Delete(':instrument_id/:timeframe')
  @ApiOperation({
    summary: 'Delete the configuration of one series; it falls back to the defaults',
  })
  @ApiOkResponse({ type: ConfigurationResponseDto, description: 'The deleted configuration' })
  @ApiNotFoundResponse({ description: 'None stored' })
  delete(@Param() params: SeriesParamsDto): Promise<ConfigurationResponseDto> {
    return this.configurations.delete(seriesOf(params));
  }
}

function seriesOf(params: SeriesParamsDto) {
  return { instrumentId: params.instrument_id, timeframe: params.timeframe };
}
