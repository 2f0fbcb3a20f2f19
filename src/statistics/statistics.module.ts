import { Module } from '@nestjs/common';
import { StatisticsController } from './statistics.controller';
import { StatisticsService } from './statistics.service';
import { RepositoriesModule } from '../repositories/repositories.module';
import { CacheModule } from '../cache/cache.module';

@Module({
  imports: [RepositoriesModule, CacheModule],
  controllers: [StatisticsController],
  providers: [StatisticsService],
  exports: [StatisticsService],
})
export class StatisticsModule {}
