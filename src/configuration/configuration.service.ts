import { Inject, Injectable } from '@nestjs/common';
import { NotFoundError } from '../common/errors';
import {
  CompressionLevel,
  ConfiguredSeries,
  DataType,
  SeriesKey,
} from '../common/market-data.types';
import { translatePgErrors } from '../database/pg-errors';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { DEFAULT_COMPRESSION_LEVEL, toStoredLevel } from './compression-level';
import { ConfigurationRepository } from '../repositories/configuration.repository';
import {
  ConfigurationResponseDto,
  DEFAULT_INDEXING_STRATEGY,
  PutConfigurationDto,
  toConfigurationResponse,
} from './dto/configuration.dto';

/** Per instrument/timeframe storage policy. */
@Injectable()
export class ConfigurationService {
  constructor(
    private readonly configurations: ConfigurationRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /** The server's default retention in days (RETENTION_DEFAULT_DAYS); null: forever. */
  get defaultRetentionDays(): number | null {
    return this.settings.lifecycle.retentionDefaultDays;
  }

  /**
   * The retention in force for a series, in days (null: forever): a bar
   * series' configured retention_days, else the default. Trades and quotes
   * always keep the default (their TRADE / QUOTE rows hold a compression
   * level only; the tick_lifecycle task drops by the default).
   */
  async retentionOf(series: ConfiguredSeries): Promise<RetentionInForce> {
    if (series.timeframe === DataType.TRADE || series.timeframe === DataType.QUOTE) {
      return { days: this.defaultRetentionDays, configured: false };
    }
    const days = await translatePgErrors(() => this.configurations.findRetentionDays(series));
    return days === undefined
      ? { days: this.defaultRetentionDays, configured: false }
      : { days, configured: true };
  }

  /**
   * A store that names a compression level records it as the series' policy
   * (for trades and quotes: the instrument's, under TRADE or QUOTE).
   */
  async recordCompressionLevel(series: ConfiguredSeries, level: CompressionLevel): Promise<void> {
    await translatePgErrors(() =>
      this.configurations.saveCompressionLevel(
        series,
        toStoredLevel(level),
        this.defaultRetentionDays,
      ),
    );
  }

  async list(): Promise<ConfigurationResponseDto[]> {
    const entities = await translatePgErrors(() => this.configurations.findAll());
    return entities.map(toConfigurationResponse);
  }

  async get(series: SeriesKey): Promise<ConfigurationResponseDto> {
    const entity = await translatePgErrors(() => this.configurations.findBySeries(series));
    if (!entity) throw this.notConfigured(series);
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
        // Omitted: the server's default, stored as its value; null: forever.
        retentionDays:
          request.retention_days === undefined ? this.defaultRetentionDays : request.retention_days,
        indexingStrategy: request.indexing_strategy ?? DEFAULT_INDEXING_STRATEGY,
      }),
    );
    return { configuration: toConfigurationResponse(configuration), created };
  }

  /** Deletes the series' configuration and returns it; the series falls back to the defaults. */
  async delete(series: SeriesKey): Promise<ConfigurationResponseDto> {
    const entity = await translatePgErrors(() => this.configurations.deleteBySeries(series));
    if (!entity) throw this.notConfigured(series);
    return toConfigurationResponse(entity);
  }

  private notConfigured(series: SeriesKey): NotFoundError {
    const days = this.defaultRetentionDays;
    return new NotFoundError(
      `No configuration for ${series.instrumentId} ${series.timeframe}; the defaults apply ` +
        `(compression_level ${DEFAULT_COMPRESSION_LEVEL}, retention_days ${days ?? 'null (forever)'})`,
    );
  }
}

/** A series' retention: days (null: forever), and whether its configuration says so. */
export interface RetentionInForce {
  readonly days: number | null;
  readonly configured: boolean;
}
