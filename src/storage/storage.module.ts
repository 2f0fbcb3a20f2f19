import { Module } from '@nestjs/common';
import { ConfigurationModule } from '../configuration/configuration.module';
import { StorageController } from './storage.controller';
import { StorageService } from './storage.service';
import { StoreRequestPipe } from './store-request.pipe';
import { TickStorageService } from './tick-storage.service';

@Module({
  imports: [ConfigurationModule],
  controllers: [StorageController],
  providers: [StorageService, TickStorageService, StoreRequestPipe],
  exports: [StorageService, TickStorageService],
})
export class StorageModule {}
