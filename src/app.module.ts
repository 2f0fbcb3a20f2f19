import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { HttpExceptionFilter } from './common/http-exception.filter';
import { createValidationPipe } from './common/validation';
import { CacheModule } from './cache/cache.module';
import { ConfigurationModule } from './configuration/configuration.module';
import { IntegrityModule } from './integrity/integrity.module';
import { LifecycleModule } from './lifecycle/lifecycle.module';
import { MetricsModule } from './metrics/metrics.module';
import { EventsModule } from './events/events.module';
import { HealthModule } from './health/health.module';
import { QueryModule } from './query/query.module';
import { SecurityModule } from './security/security.module';
import { Settings } from './settings/settings';
import { SettingsModule } from './settings/settings.module';
import { StatisticsModule } from './statistics/statistics.module';
import { StorageModule } from './storage/storage.module';

@Module({})
export class AppModule {
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: AppModule,
      imports: [
        SettingsModule.forRoot(settings),
        SecurityModule,
        MetricsModule,
        CacheModule,
        StorageModule,
        ConfigurationModule,
        QueryModule,
        StatisticsModule,
        EventsModule,
        HealthModule,
        IntegrityModule,
        LifecycleModule,
      ],
      providers: [
        { provide: APP_PIPE, useFactory: createValidationPipe },
        { provide: APP_FILTER, useClass: HttpExceptionFilter },
      ],
    };
  }
}
