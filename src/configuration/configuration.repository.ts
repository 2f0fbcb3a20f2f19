import { Injectable } from '@nestjs/common';
import { DataSource, Repository } from 'typeorm';
import { SeriesKey } from '../common/market-data.types';
import { StorageConfigurationEntity } from '../database/entities';

/** storage_configurations through TypeORM: small, rarely written metadata. */
@Injectable()
export class ConfigurationRepository {
  private readonly entities: Repository<StorageConfigurationEntity>;

  constructor(dataSource: DataSource) {
    this.entities = dataSource.getRepository(StorageConfigurationEntity);
  }

  /** Creates the series' configuration or changes only its compression level. */
  async saveCompressionLevel(series: SeriesKey, level: string): Promise<void> {
    await this.entities.upsert(
      {
        instrumentId: series.instrumentId,
        timeframe: series.timeframe,
        compressionLevel: level,
        updatedAt: new Date(),
      },
      { conflictPaths: ['instrumentId', 'timeframe'], skipUpdateIfNoValuesChanged: true },
    );
  }

  async findBySeries(series: SeriesKey): Promise<StorageConfigurationEntity | null> {
    return this.entities.findOneBy({
      instrumentId: series.instrumentId,
      timeframe: series.timeframe,
    });
  }
}
