import { Module } from '@nestjs/common';
import { ConfigurationModule } from '../configuration/configuration.module';
import { StorageController } from './storage.controller';
import { StorageService } from './storage.service';
import { StoreRequestPipe } from './store-request.pipe';

@Module({
  imports: [ConfigurationModule],
  controllers: [StorageController],
  providers: [StorageService, StoreRequestPipe],
  exports: [StorageService],
})
export class StorageModule {}
