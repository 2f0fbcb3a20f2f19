import { Controller, HttpCode, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { IsIn, IsOptional, IsString } from 'class-validator';
import { RequireScope } from '../security/require-scope.decorator';
import { LifecycleScheduler, MaintenanceReport } from './lifecycle.scheduler';

export class RunMaintenanceQueryDto {
  @ApiPropertyOptional({ description: 'Run only this task', example: 'retention' })
  @IsOptional()
  @IsString()
  task?: string;

  @ApiPropertyOptional({
    description:
      'true: answer what the task would delete (chunks or partitions, rows per series, the cutoffs) and delete nothing. Only with task=retention or task=tick_lifecycle (its retention part; it compresses nothing then)',
    enum: ['true', 'false'],
    default: 'false',
  })
  @IsOptional()
  // A query string carries text: only these two spellings, so that dry_run=1 is not a real run.
  @IsIn(['true', 'false'], { message: 'must be true or false' })
  dry_run?: string;
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
  @ApiBadRequestResponse({
    description: 'An unknown task name, or dry_run with a task that cannot dry-run',
  })
  run(@Query() query: RunMaintenanceQueryDto): Promise<MaintenanceReport> {
    return this.scheduler.runNow(new Date(), query.task, query.dry_run === 'true');
  }
}
