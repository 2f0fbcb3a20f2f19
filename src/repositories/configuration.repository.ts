import { Injectable } from '@nestjs/common';
import { DataSource, Repository } from 'typeorm';
import { ConfiguredSeries, SeriesKey } from '../common/market-data.types';
import { StorageConfigurationEntity } from '../database/entities';
import { onlyRow } from '../database/rows';

/** The values a PUT sets, as stored (the level lower-case). */
export interface StoredConfigurationValues {
  readonly compressionLevel: string;
  readonly retentionDays: number;
  readonly indexingStrategy: string;
}

interface ConfigurationRow {
  id: string;
  instrument_id: string;
  timeframe: string;
  compression_level: string;
  retention_days: number;
  indexing_strategy: string;
  created_at: Date;
  updated_at: Date;
}

/** storage_configurations through TypeORM: small, rarely written metadata. */
@Injectable()
export class ConfigurationRepository {
  private readonly entities: Repository<StorageConfigurationEntity>;

  constructor(dataSource: DataSource) {
    this.entities = dataSource.getRepository(StorageConfigurationEntity);
  }

  /**
   * Creates the series' configuration or changes only its compression
   * level; an unchanged level leaves the row (and updated_at) alone, so
   * repeated stores do not rewrite it.
   */
  async saveCompressionLevel(series: ConfiguredSeries, level: string): Promise<void> {
    await this.entities.query(
      `INSERT INTO storage_configurations AS c (instrument_id, timeframe, compression_level)
       VALUES ($1, $2, $3)
       ON CONFLICT (instrument_id, timeframe) DO UPDATE
         SET compression_level = EXCLUDED.compression_level, updated_at = now()
         WHERE c.compression_level IS DISTINCT FROM EXCLUDED.compression_level`,
      [series.instrumentId, series.timeframe, level],
    );
  }

  /** Creates or replaces the whole configuration of a series; `created` tells which. */
  async replace(
    series: SeriesKey,
    values: StoredConfigurationValues,
  ): Promise<{ configuration: StorageConfigurationEntity; created: boolean }> {
    const rows: (ConfigurationRow & { created: boolean })[] = await this.entities.query(
      `INSERT INTO storage_configurations AS c
              (instrument_id, timeframe, compression_level, retention_days, indexing_strategy)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (instrument_id, timeframe) DO UPDATE
         SET compression_level = EXCLUDED.compression_level,
             retention_days = EXCLUDED.retention_days,
             indexing_strategy = EXCLUDED.indexing_strategy,
             updated_at = now()
       RETURNING c.*, (c.xmax = 0) AS created`,
      [
        series.instrumentId,
        series.timeframe,
        values.compressionLevel,
        values.retentionDays,
        values.indexingStrategy,
      ],
    );
    const row = onlyRow(rows);
    return { configuration: this.fromRow(row), created: row.created };
  }

  async findBySeries(series: SeriesKey): Promise<StorageConfigurationEntity | null> {
    return this.entities.findOneBy({
      instrumentId: series.instrumentId,
      timeframe: series.timeframe,
    });
  }

  async findAll(): Promise<StorageConfigurationEntity[]> {
    return this.entities.find({ order: { instrumentId: 'ASC', timeframe: 'ASC' } });
  }

  /** Deletes the series' configuration; returns it, or null when there was none. */
  async deleteBySeries(series: SeriesKey): Promise<StorageConfigurationEntity | null> {
    const result = await this.entities
      .createQueryBuilder()
      .delete()
      .where('instrument_id = :instrumentId AND timeframe = :timeframe', {
        instrumentId: series.instrumentId,
        timeframe: series.timeframe,
      })
      .returning('*')
      .execute();
    const rows = result.raw as ConfigurationRow[];
    const [row] = rows;
    return row ? this.fromRow(row) : null;
  }

  private fromRow(row: ConfigurationRow): StorageConfigurationEntity {
    return this.entities.create({
      id: row.id,
      instrumentId: row.instrument_id,
      timeframe: row.timeframe,
      compressionLevel: row.compression_level,
      retentionDays: row.retention_days,
      indexingStrategy: row.indexing_strategy,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    });
  }
}
