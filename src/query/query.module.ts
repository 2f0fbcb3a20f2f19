import { Module } from '@nestjs/common';
import { StatisticsModule } from '../statistics/statistics.module';
import { QueryController } from './query.controller';
import { QueryService } from './query.service';
import { RepositoriesModule } from '../repositories/repositories.module';
import { CacheModule } from '../cache/cache.module';

@Module({
  imports: [StatisticsModule, RepositoriesModule, CacheModule],
  controllers: [QueryController],
  providers: [QueryService],
  exports: [QueryService],
})
export class QueryModule {}
