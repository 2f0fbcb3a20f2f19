import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DatabaseConnection } from '../database/database-connection';
import { applyHypertableLayout } from '../repositories/hypertable-layout';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';

/** Applies LAYOUT_CHUNK_INTERVAL_HOURS and LAYOUT_SPACE_PARTITIONS at start (TimescaleDB). */
@Injectable()
export class HypertableLayoutInitializer implements OnModuleInit {
  private readonly logger = new Logger('Layout');

  constructor(
    @Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async onModuleInit(): Promise<void> {
    const { chunkIntervalHours, spacePartitions } = this.settings.lifecycle;
    const outcome = await applyHypertableLayout(this.db.pool, {
      chunkIntervalHours,
      spacePartitions,
    });
    if (outcome) {
      this.logger.log(
        `chunks of ${outcome.chunkIntervalHours} h, ${outcome.spacePartitions || 'no'} space partitions`,
      );
    }
  }
}
