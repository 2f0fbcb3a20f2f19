import { Module } from '@nestjs/common';
import { CompressionPolicyJob } from './compression-policy.job';
import { CompressionRepository } from './compression.repository';
import { ConfigurationController } from './configuration.controller';
import { ConfigurationRepository } from './configuration.repository';
import { ConfigurationService } from './configuration.service';

@Module({
  controllers: [ConfigurationController],
  providers: [
    ConfigurationRepository,
    ConfigurationService,
    CompressionRepository,
    CompressionPolicyJob,
  ],
  exports: [ConfigurationService, CompressionPolicyJob],
})
export class ConfigurationModule {}
