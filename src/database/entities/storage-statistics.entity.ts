import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, Unique } from 'typeorm';

/** One row a day of service-wide storage figures (spec: storage_statistics). */
@Entity({ name: 'storage_statistics' })
@Unique('storage_statistics_date_key', ['date'])
export class StorageStatisticsEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** A calendar day, kept as 'YYYY-MM-DD' so no time zone shifts it. */
  @Column({ type: 'date' })
  date: string;

  /** bigint stays a string: a count may pass 2^53. */
  @Column({ name: 'total_records', type: 'bigint', nullable: true })
  totalRecords: string | null;

  /** market_data_ts alone (the bars), in GiB. */
  @Column({ name: 'total_size_gb', type: 'double precision', nullable: true })
  totalSizeGb: number | null;

  /**
   * The rollups (continuous aggregates) beside it, in GiB; 0 on plain
   * PostgreSQL, null for a day measured before they were.
   */
  @Column({ name: 'rollups_size_gb', type: 'double precision', nullable: true })
  rollupsSizeGb: number | null;

  @Column({ name: 'compression_ratio', type: 'double precision', nullable: true })
  compressionRatio: number | null;

  @Column({ name: 'query_count', type: 'integer', nullable: true })
  queryCount: number | null;

  @Column({ name: 'avg_query_time_ms', type: 'double precision', nullable: true })
  avgQueryTimeMs: number | null;

  @Column({ name: 'cache_hit_ratio', type: 'double precision', nullable: true })
  cacheHitRatio: number | null;

  /** When the day's sizes and counts were last measured; null while only query counters were flushed. */
  @Column({ name: 'measured_at', type: 'timestamptz', nullable: true })
  measuredAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
