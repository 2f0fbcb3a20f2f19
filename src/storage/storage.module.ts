import { Module } from '@nestjs/common';
import { ConfigurationModule } from '../configuration/configuration.module';
import { MaintenanceModule } from '../maintenance/maintenance.module';
import { StorageController } from './storage.controller';
import { StorageService } from './storage.service';
import { StoreRequestPipe } from './store-request.pipe';
import { StoredAnnouncer } from './stored-announcer';
import { TickLifecycleJob } from './tick-lifecycle.job';
import { TickStorageService } from './tick-storage.service';
import { RepositoriesModule } from '../repositories/repositories.module';
import { CacheModule } from '../cache/cache.module';

@Module({
  imports: [ConfigurationModule, MaintenanceModule, RepositoriesModule, CacheModule],
  controllers: [StorageController],
  providers: [
    StorageService,
    TickStorageService,
    TickLifecycleJob,
    StoreRequestPipe,
    StoredAnnouncer,
  ],
  exports: [StorageService, TickStorageService, TickLifecycleJob, StoredAnnouncer],
})
export class StorageModule {}
