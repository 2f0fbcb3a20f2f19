import { ApiProperty } from '@nestjs/swagger';
import type { StorageEngine } from '../../database/database-connection';
import { StorageStatisticsEntity } from '../../database/entities';
import { dueForDeletionMs } from '../../common/retention';
import { formatInstant } from '../../common/time';
import type { DayQueryFigures, LatestMeasurement } from '../../repositories/statistics.repository';

export class TodayQueryFiguresDto {
  @ApiProperty({ example: '2026-11-26', description: 'UTC day' })
  date: string;

  @ApiProperty({
    example: '2026-11-26T13:00:00.456Z',
    description:
      "When these figures were read: the answering instance's queries up to then, every other " +
      "instance's up to its last flush (every STATS_REFRESH_INTERVAL_MS)",
  })
  measured_at: string;

  @ApiProperty({ example: 1520, description: 'Queries answered today, as flushed so far' })
  query_count: number;

  @ApiProperty({ example: 4.37, description: 'Weighted over every instance; 0 without queries' })
  avg_query_time_ms: number;

  @ApiProperty({ example: 0.62, description: 'Share answered from the cache, 0..1' })
  cache_hit_ratio: number;
}

export class SeriesStatisticsDto {
  @ApiProperty({ example: 'AAPL' })
  instrument_id: string;

  @ApiProperty({ example: 'ONE_MINUTE' })
  timeframe: string;

  @ApiProperty({ example: 43200, description: 'count(*) of the series' })
  record_count: number;

  @ApiProperty({
    example: 3.42,
    description: "The series' share by rows of the table's total size, in MiB",
  })
  storage_size_mb: number;

  @ApiProperty({
    example: 0.77,
    description:
      '1 - compressed/uncompressed bytes of the compressed chunks over its time span; 0 if none',
  })
  compression_ratio: number;

  @ApiProperty({ example: '2026-11-26T12:59:00.000Z', description: 'Newest bar timestamp' })
  last_updated: string;

  @ApiProperty({ example: 1, description: 'avg(quality_score) of its bars' })
  data_quality: number;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    example: 730,
    description:
      "The retention in force: the series' configured retention_days, else RETENTION_DEFAULT_DAYS; null: kept forever. Read when the answer is made (cached up to a minute), not measured",
  })
  retention_days: number | null;

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    example: '2027-06-21T10:00:00.000Z',
    description:
      'When the retention task starts deleting this series: its oldest bar now + retention_days (the hourly task deletes it at its first run after that). null: kept forever, or no bar left',
  })
  next_drop_at: string | null;
}

export class StorageStatisticsDto {
  @ApiProperty({
    example: '2026-11-26T13:00:00.123Z',
    description:
      'When total_records, the sizes, compression_ratio and every series were measured (database clock). ' +
      'Measured again before answering after a store or delete through the answering instance, so those ' +
      "are current; other instances' writes show at the next measurement (every STATS_REFRESH_INTERVAL_MS)",
  })
  measured_at: string;

  @ApiProperty({ enum: ['timescaledb', 'postgresql'], example: 'timescaledb' })
  engine: StorageEngine;

  @ApiProperty({ example: 864000 })
  total_records: number;

  @ApiProperty({
    example: 0.0229,
    description:
      'The bars alone: market_data_ts with its indexes, compressed chunks and TOAST, in GiB (2^30 bytes). ' +
      'Not included: the rollups (rollups_size_gb), trades, quotes and the metadata tables',
  })
  total_size_gb: number;

  @ApiProperty({
    example: 0.0133,
    description:
      'The four rollups behind derived timeframes (continuous aggregates market_data_5m, _15m, _1h, _1d: ' +
      'materialized buckets with their indexes and compressed chunks; on plain PostgreSQL the table market_data_rollups ' +
      'with its index), in GiB. ' +
      'Bars and rollups together: total_size_gb + rollups_size_gb',
  })
  rollups_size_gb: number;

  @ApiProperty({ example: 0.77 })
  compression_ratio: number;

  @ApiProperty({
    example: '1 - compressed/uncompressed bytes over the compressed chunks only',
    description: 'What compression_ratio covers on this engine',
  })
  compression_note: string;

  @ApiProperty({ type: TodayQueryFiguresDto })
  today: TodayQueryFiguresDto;

  @ApiProperty({ type: [SeriesStatisticsDto] })
  series: SeriesStatisticsDto[];

  @ApiProperty({
    type: 'string',
    format: 'date-time',
    nullable: true,
    example: '2027-06-21T10:00:00.000Z',
    description: "The earliest of the series' next_drop_at; null: no series is due ever",
  })
  next_drop_at: string | null;
}

export class StatisticsDayDto {
  @ApiProperty({ example: '2026-11-26' })
  date: string;

  @ApiProperty({
    type: 'integer',
    example: 864000,
    nullable: true,
    description: 'null: not measured that day',
  })
  total_records: number | null;

  @ApiProperty({
    type: Number,
    example: 0.0229,
    nullable: true,
    description: 'The bars alone (market_data_ts), as in the current statistics',
  })
  total_size_gb: number | null;

  @ApiProperty({
    type: Number,
    example: 0.0133,
    nullable: true,
    description: 'The rollups; null: not measured that day (before the rollups were measured)',
  })
  rollups_size_gb: number | null;

  @ApiProperty({ type: Number, example: 0.77, nullable: true })
  compression_ratio: number | null;

  @ApiProperty({ example: 1520 })
  query_count: number;

  @ApiProperty({ example: 4.37 })
  avg_query_time_ms: number;

  @ApiProperty({ example: 0.62 })
  cache_hit_ratio: number;

  @ApiProperty({
    type: String,
    format: 'date-time',
    example: '2026-11-26T23:59:30.000Z',
    nullable: true,
    description: "The day's last measurement of the sizes",
  })
  measured_at: string | null;
}

export class StatisticsHistoryDto {
  @ApiProperty({ example: '2026-11-01' })
  from: string;

  @ApiProperty({ example: '2026-11-30' })
  to: string;

  @ApiProperty({
    type: [StatisticsDayDto],
    description: 'One per day that has a row, oldest first',
  })
  days: StatisticsDayDto[];
}

export function compressionNote(engine: StorageEngine, compressionRatio: number): string {
  if (engine === 'postgresql') return 'plain PostgreSQL has no compression';
  return compressionRatio === 0
    ? 'no chunk is compressed yet; the ratio covers compressed chunks only'
    : '1 - compressed/uncompressed bytes over the compressed chunks only';
}

export function toStorageStatisticsDto(
  engine: StorageEngine,
  measurement: LatestMeasurement,
  today: DayQueryFigures,
  defaultRetentionDays: number | null,
): StorageStatisticsDto {
  const series = measurement.series.map((s) => {
    const days =
      s.configuredRetentionDays === undefined ? defaultRetentionDays : s.configuredRetentionDays;
    const dueMs = s.oldest && dueForDeletionMs(days, s.oldest.getTime());
    return {
      instrument_id: s.instrumentId,
      timeframe: s.timeframe,
      record_count: s.recordCount,
      storage_size_mb: s.storageSizeMb,
      compression_ratio: s.compressionRatio,
      last_updated: s.lastUpdated.toISOString(),
      data_quality: s.dataQuality,
      retention_days: days,
      next_drop_at: dueMs == null ? null : formatInstant(dueMs),
    };
  });
  const drops = series.flatMap((s) => (s.next_drop_at ? [s.next_drop_at] : [])).sort();
  return {
    measured_at: measurement.measuredAt.toISOString(),
    engine,
    total_records: measurement.totalRecords,
    total_size_gb: measurement.totalSizeGb,
    rollups_size_gb: measurement.rollupsSizeGb,
    compression_ratio: measurement.compressionRatio,
    compression_note: compressionNote(engine, measurement.compressionRatio),
    today: {
      date: today.date,
      measured_at: today.readAt.toISOString(),
      query_count: today.queryCount,
      avg_query_time_ms: today.avgQueryTimeMs,
      cache_hit_ratio: today.cacheHitRatio,
    },
    series,
    next_drop_at: drops[0] ?? null,
  };
}

export function toStatisticsDayDto(day: StorageStatisticsEntity): StatisticsDayDto {
  return {
    date: day.date,
    total_records: day.totalRecords === null ? null : Number(day.totalRecords),
    total_size_gb: day.totalSizeGb,
    rollups_size_gb: day.rollupsSizeGb,
    compression_ratio: day.compressionRatio,
    query_count: day.queryCount ?? 0,
    avg_query_time_ms: day.avgQueryTimeMs ?? 0,
    cache_hit_ratio: day.cacheHitRatio ?? 0,
    measured_at: day.measuredAt?.toISOString() ?? null,
  };
}
