import { Module } from '@nestjs/common';
import { StatisticsModule } from '../statistics/statistics.module';
import { QueryController } from './query.controller';
import { QueryService } from './query.service';
import { RepositoriesModule } from '../repositories/repositories.module';
import { CacheModule } from '../cache/cache.module';
import { TradingSessionsController } from './trading-sessions.controller';
import { TradingSessionsService } from './trading-sessions.service';

@Module({
  imports: [StatisticsModule, RepositoriesModule, CacheModule],
  controllers: [QueryController, TradingSessionsController],
  providers: [QueryService, TradingSessionsService],
  exports: [QueryService, TradingSessionsService],
})
export class QueryModule {}
