import { Module } from '@nestjs/common';
import { CompressionPolicyJob } from './compression-policy.job';
import { ConfigurationController } from './configuration.controller';
import { ConfigurationService } from './configuration.service';
import { RepositoriesModule } from '../repositories/repositories.module';

@Module({
  imports: [RepositoriesModule],
  controllers: [ConfigurationController],
  providers: [ConfigurationService, CompressionPolicyJob],
  exports: [ConfigurationService, CompressionPolicyJob],
})
export class ConfigurationModule {}
