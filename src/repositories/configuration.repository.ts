import { Injectable } from '@nestjs/common';
import { DataSource, Repository } from 'typeorm';
import { ConfiguredSeries, SeriesKey } from '../common/market-data.types';
import { StorageConfigurationEntity } from '../database/entities';
import { onlyRow } from '../database/rows';

/** The values a PUT sets, as stored (the level lower-case). */
export interface StoredConfigurationValues {
  readonly compressionLevel: string;
  /** null: kept forever. */
  readonly retentionDays: number | null;
  readonly indexingStrategy: string;
}

interface ConfigurationRow {
  id: string;
  instrument_id: string;
  timeframe: string;
  compression_level: string;
  retention_days: number | null;
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
  async saveCompressionLevel(
    series: ConfiguredSeries,
    level: string,
    retentionDays: number | null,
  ): Promise<void> {
    // A new row takes the server's default retention (RETENTION_DEFAULT_DAYS), not the column's 730.
    await this.entities.query(
      `INSERT INTO storage_configurations AS c
              (instrument_id, timeframe, compression_level, retention_days)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (instrument_id, timeframe) DO UPDATE
         SET compression_level = EXCLUDED.compression_level, updated_at = now()
         WHERE c.compression_level IS DISTINCT FROM EXCLUDED.compression_level`,
      [series.instrumentId, series.timeframe, level, retentionDays],
    );
  }

  /**
   * The retention of a series: its configured retention_days (null:
   * forever), or undefined when it has no configuration.
   */
  async findRetentionDays(series: ConfiguredSeries): Promise<number | null | undefined> {
    const rows: { retention_days: number | null }[] = await this.entities.query(
      `SELECT retention_days FROM storage_configurations WHERE instrument_id = $1 AND timeframe = $2`,
      [series.instrumentId, series.timeframe],
    );
    const [row] = rows;
    return row ? row.retention_days : undefined;
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
