import { Module } from '@nestjs/common';
import { IntegrityController } from './integrity.controller';
import { IntegrityRepository } from './integrity.repository';
import { IntegrityService } from './integrity.service';

/** GET /api/v1/storage/instruments/{id}/integrity (docs/security.md, "Integrity check"). */
@Module({
  controllers: [IntegrityController],
  providers: [IntegrityRepository, IntegrityService],
})
export class IntegrityModule {}
