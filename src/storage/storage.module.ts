import { Module } from '@nestjs/common';
import { ConfigurationModule } from '../configuration/configuration.module';
import { EventsOutputModule } from '../events/events-output.module';
import { StorageController } from './storage.controller';
import { IngestService } from './ingest.service';
import { StoreRequestPipe } from './store-request.pipe';
import { RepositoriesModule } from '../repositories/repositories.module';
import { CacheModule } from '../cache/cache.module';

/**
 * Writes and deletes of every data type (the ingest use case and its HTTP
 * transport). STORED_PUBLISHER, the port it announces commits through, is
 * provided by the events' output module.
 */
@Module({
  imports: [ConfigurationModule, RepositoriesModule, CacheModule, EventsOutputModule],
  controllers: [StorageController],
  providers: [IngestService, StoreRequestPipe],
  exports: [IngestService],
})
export class StorageModule {}
