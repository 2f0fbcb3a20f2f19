import { Module } from '@nestjs/common';
import { RollupsModule } from '../rollups/rollups.module';
import { StatisticsModule } from '../statistics/statistics.module';
import { QueryController } from './query.controller';
import { QueryService } from './query.service';
import { TickQueryService } from './tick-query.service';

@Module({
  imports: [StatisticsModule, RollupsModule],
  controllers: [QueryController],
  providers: [QueryService, TickQueryService],
  exports: [QueryService],
})
export class QueryModule {}
