import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { HealthCheck, HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { DatabaseHealthIndicator } from './database.health';
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
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    try {
      return await this.checks.check([() => this.database.isHealthy()]);
    } catch (error) {
      // Terminus throws its 503 with the check report; answer that report, not a generic error.
      if (!(error instanceof ServiceUnavailableException)) throw error;
      reply.status(503);
      return error.getResponse() as HealthCheckResult;
    }
  }
}
