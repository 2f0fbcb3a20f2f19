import { SeriesKey, StoredTickType } from '../common/market-data.types';

/** One series of bars written by one commit: what a `market_data_stored` event reports. */
export interface StoredSeries {
  readonly series: SeriesKey;
  readonly storedCount: number;
  /** The newest timestamp written: names the chunk or partition in the event. */
  readonly newestMs: number;
  readonly storageTimeMs: number;
  /** Already measured by a REST store for its answer; left to the publisher otherwise. */
  readonly compressionRatio?: number;
}

/** One instrument's trades or quotes written by one commit. */
export interface StoredTicks {
  readonly instrumentId: string;
  /** A TICK store is announced as TRADE (it is stored as one). */
  readonly dataType: StoredTickType;
  readonly storedCount: number;
  /** The oldest and newest timestamps written, epoch microseconds. */
  readonly oldestUs: number;
  readonly newestUs: number;
  readonly storageTimeMs: number;
  readonly compressionRatio?: number;
}

export type StoredRecord = StoredSeries | StoredTicks;

export function isStoredTicks(stored: StoredRecord): stored is StoredTicks {
  return 'dataType' in stored;
}

/**
 * The port every write tells of its commits (market_data_stored): the
 * events module provides it (MarketDataStoredPublisher). Resolves once
 * published or given up; never rejects, so a commit never fails over it.
 */
export interface StoredPublisher {
  publish(stored: readonly StoredRecord[]): Promise<void>;
}

export const STORED_PUBLISHER = Symbol('STORED_PUBLISHER');
