import { StorageConfigurationEntity } from './storage-configuration.entity';
import { StorageStatisticsEntity } from './storage-statistics.entity';

export { StorageConfigurationEntity, StorageStatisticsEntity };
export const METADATA_ENTITIES = [StorageConfigurationEntity, StorageStatisticsEntity];
