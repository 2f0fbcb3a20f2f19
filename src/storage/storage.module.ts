import { Module } from '@nestjs/common';
import { ConfigurationModule } from '../configuration/configuration.module';
import { StorageController } from './storage.controller';
import { StorageService } from './storage.service';
import { StoreRequestPipe } from './store-request.pipe';
import { StoredAnnouncer } from './stored-announcer';
import { TickStorageService } from './tick-storage.service';
import { RepositoriesModule } from '../repositories/repositories.module';
import { CacheModule } from '../cache/cache.module';

@Module({
  imports: [ConfigurationModule, RepositoriesModule, CacheModule],
  controllers: [StorageController],
  providers: [StorageService, TickStorageService, StoreRequestPipe, StoredAnnouncer],
  exports: [StorageService, TickStorageService, StoredAnnouncer],
})
export class StorageModule {}
