import { Controller, HttpCode, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';
import { RequireScope } from '../security/require-scope.decorator';
import { LifecycleScheduler, MaintenanceReport } from './lifecycle.scheduler';

export class RunMaintenanceQueryDto {
  @ApiPropertyOptional({ description: 'Run only this task', example: 'retention' })
  @IsOptional()
  @IsString()
  task?: string;
}

class TaskReportDto {
  @ApiProperty({ example: 'retention' })
  name!: string;
  @ApiProperty({ enum: ['done', 'skipped', 'failed'] })
  status!: string;
  @ApiProperty({ example: 12 })
  took_ms!: number;
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'What the task did (counts, names); its fields depend on the task',
  })
  result?: Record<string, unknown>;
  @ApiPropertyOptional({ description: 'Why it was skipped or failed' })
  reason?: string;
}

class MaintenanceReportDto {
  @ApiProperty()
  started_at!: string;
  @ApiProperty()
  finished_at!: string;
  @ApiProperty({ type: [TaskReportDto] })
  tasks!: TaskReportDto[];
}

@ApiTags('maintenance')
@Controller('api/v1/storage/maintenance')
@RequireScope('admin')
export class MaintenanceController {
  constructor(private readonly scheduler: LifecycleScheduler) {}

  @Post('run')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Runs the lifecycle tasks now (compression, retention, partitions, rollup_refresh, tick_lifecycle, statistics)',
  })
  @ApiOkResponse({ type: MaintenanceReportDto })
  @ApiBadRequestResponse({ description: 'An unknown task name' })
  run(@Query() query: RunMaintenanceQueryDto): Promise<MaintenanceReport> {
    return this.scheduler.runNow(new Date(), query.task);
  }
}
