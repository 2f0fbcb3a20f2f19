import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { EventsModule } from '../events/events.module';
import { HealthController } from './health.controller';
import { HealthService } from './health.service';
import { DatabaseHealthIndicator } from './database.health';
import { CacheModule } from '../cache/cache.module';
import { DatabaseModule } from '../database/database.module';

@Module({
  imports: [TerminusModule, EventsModule, DatabaseModule, CacheModule],
  controllers: [HealthController],
  providers: [HealthService, DatabaseHealthIndicator],
})
export class HealthModule {}
