import { Controller, Get, Res } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { DatabaseHealthIndicator } from '../database/database.health';
import { StorageHealthDto } from './storage-health.dto';
import { HealthService } from './health.service';

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthService,
    private readonly checks: HealthCheckService,
    private readonly database: DatabaseHealthIndicator,
  ) {}

  @Get('api/v1/storage/health')
  @ApiOperation({ summary: 'Service health with per-dependency detail; 503 when unhealthy' })
  @ApiOkResponse({ type: StorageHealthDto })
  @ApiServiceUnavailableResponse({ type: StorageHealthDto })
  async storageHealth(@Res({ passthrough: true }) reply: FastifyReply): Promise<StorageHealthDto> {
    const report = await this.health.report();
    if (report.status === 'unhealthy') reply.status(503);
    return report;
  }

  @Get('health/live')
  @ApiOperation({ summary: 'Liveness: the process answers' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @HealthCheck()
  @ApiOperation({
    summary: 'Readiness: the database answers (migrations ran before the app started)',
  })
  ready() {
    return this.checks.check([() => this.database.isHealthy()]);
  }
}
