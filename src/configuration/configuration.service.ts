import { Injectable } from '@nestjs/common';
import { NotFoundError } from '../common/errors';
import { CompressionLevel, ConfiguredSeries, SeriesKey } from '../common/market-data.types';
import { translatePgErrors } from '../database/pg-errors';
import { DEFAULT_COMPRESSION_LEVEL, toStoredLevel } from './compression-level';
import { ConfigurationRepository } from '../repositories/configuration.repository';
import {
  ConfigurationResponseDto,
  DEFAULT_INDEXING_STRATEGY,
  DEFAULT_RETENTION_DAYS,
  PutConfigurationDto,
  toConfigurationResponse,
} from './dto/configuration.dto';

/** Per instrument/timeframe storage policy. */
@Injectable()
export class ConfigurationService {
  constructor(private readonly configurations: ConfigurationRepository) {}

  /**
   * A store that names a compression level records it as the series' policy
   * (for trades and quotes: the instrument's, under TRADE or QUOTE).
   */
  async recordCompressionLevel(series: ConfiguredSeries, level: CompressionLevel): Promise<void> {
    await translatePgErrors(() =>
      this.configurations.saveCompressionLevel(series, toStoredLevel(level)),
    );
  }

  async list(): Promise<ConfigurationResponseDto[]> {
    const entities = await translatePgErrors(() => this.configurations.findAll());
    return entities.map(toConfigurationResponse);
  }

  async get(series: SeriesKey): Promise<ConfigurationResponseDto> {
    const entity = await translatePgErrors(() => this.configurations.findBySeries(series));
    if (!entity) throw notConfigured(series);
    return toConfigurationResponse(entity);
  }

  /** Creates or replaces the series' configuration; omitted fields take their defaults. */
  async put(
    series: SeriesKey,
    request: PutConfigurationDto,
  ): Promise<{ configuration: ConfigurationResponseDto; created: boolean }> {
    const { configuration, created } = await translatePgErrors(() =>
      this.configurations.replace(series, {
        compressionLevel: toStoredLevel(request.compression_level),
        retentionDays: request.retention_days ?? DEFAULT_RETENTION_DAYS,
        indexingStrategy: request.indexing_strategy ?? DEFAULT_INDEXING_STRATEGY,
      }),
    );
    return { configuration: toConfigurationResponse(configuration), created };
  }

  /** Deletes the series' configuration and returns it; the series falls back to the defaults. */
  async delete(series: SeriesKey): Promise<ConfigurationResponseDto> {
    const entity = await translatePgErrors(() => this.configurations.deleteBySeries(series));
    if (!entity) throw notConfigured(series);
    return toConfigurationResponse(entity);
  }
}

function notConfigured(series: SeriesKey): NotFoundError {
  return new NotFoundError(
    `No configuration for ${series.instrumentId} ${series.timeframe}; the defaults apply ` +
      `(compression_level ${DEFAULT_COMPRESSION_LEVEL}, retention_days ${DEFAULT_RETENTION_DAYS})`,
  );
}
