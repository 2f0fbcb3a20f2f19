import { Injectable } from '@nestjs/common';
import { SeriesKey, StoredTickType } from '../common/market-data.types';

/** One series of bars written by one commit: what a `market_data_stored` event reports. */
export interface StoredSeries {
  readonly series: SeriesKey;
  readonly storedCount: number;
  /** The newest timestamp written: names the chunk or partition in the event. */
  readonly newestMs: number;
  readonly storageTimeMs: number;
  /** Already measured by a REST store for its answer; left to the listener otherwise. */
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

/** Told of every commit, after it; must not throw. */
export type StoredListener = (stored: readonly StoredRecord[]) => Promise<void>;

/**
 * The port every write path (bars, trades, quotes; REST and events) tells
 * of its commits; the events module listens to publish market_data_stored.
 */
@Injectable()
export class StoredAnnouncer {
  private readonly listeners: StoredListener[] = [];

  /** `listener` is told of every commit from now on. */
  onStored(listener: StoredListener): void {
    this.listeners.push(listener);
  }

  async announce(stored: readonly StoredRecord[]): Promise<void> {
    if (stored.length === 0) return;
    await Promise.all(this.listeners.map((listener) => listener(stored)));
  }
}
