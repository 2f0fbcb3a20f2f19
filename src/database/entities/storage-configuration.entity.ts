import {
  Column,
  CreateDateColumn,
  Entity,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';

/** Per instrument/timeframe storage policy (spec: storage_configurations). */
@Entity({ name: 'storage_configurations' })
@Unique('storage_configurations_instrument_timeframe_key', ['instrumentId', 'timeframe'])
export class StorageConfigurationEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'instrument_id', type: 'varchar', length: 20 })
  instrumentId: string;

  /** varchar(16), not the spec's 10: FIFTEEN_MINUTES has 15 characters. */
  @Column({ type: 'varchar', length: 16 })
  timeframe: string;

  @Column({ name: 'compression_level', type: 'varchar', length: 10, default: 'medium' })
  compressionLevel: string;

  /** null: kept forever (no retention). */
  @Column({ name: 'retention_days', type: 'integer', nullable: true, default: 730 })
  retentionDays: number | null;

  @Column({ name: 'indexing_strategy', type: 'varchar', length: 30, default: 'time_instrument' })
  indexingStrategy: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
