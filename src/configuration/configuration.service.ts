import { Injectable } from '@nestjs/common';
import { CompressionLevel, SeriesKey } from '../common/market-data.types';
import { translatePgErrors } from '../database/pg-errors';
import { ConfigurationRepository } from './configuration.repository';

/** Per instrument/timeframe storage policy. */
@Injectable()
export class ConfigurationService {
  constructor(private readonly configurations: ConfigurationRepository) {}

  /** A store that names a compression level records it as the series' policy. */
  async recordCompressionLevel(series: SeriesKey, level: CompressionLevel): Promise<void> {
    // Stored lower-case, as the spec's default 'medium' is.
    await translatePgErrors(() =>
      this.configurations.saveCompressionLevel(series, level.toLowerCase()),
    );
  }
}
