import { Module } from '@nestjs/common';
import { IntegrityController } from './integrity.controller';
import { IntegrityService } from './integrity.service';
import { RepositoriesModule } from '../repositories/repositories.module';

/** GET /api/v1/storage/instruments/{id}/integrity (docs/security.md, "Integrity check"). */
@Module({
  imports: [RepositoriesModule],
  controllers: [IntegrityController],
  providers: [IntegrityService],
})
export class IntegrityModule {}
