import { BarRow } from '../../src/repositories/market-data.repository';
import { BarPoint, makeBars } from './bars';

/** A factory point as the repository takes it (the form the storage service hands over). */
export function toBarRow(point: BarPoint, source: string | null = 'test'): BarRow {
  return {
    timestampMs: Date.parse(point.timestamp),
    open: point.open,
    high: point.high,
    low: point.low,
    close: point.close,
    volume: String(point.volume),
    dollarVolume: point.dollar_volume ?? null,
    tradeCount: point.trade_count ?? null,
    qualityScore: 1,
    source,
    streamTimeUs: null,
  };
}

/** `count` repository rows of `stepMs` from `startIso` (see makeBars). */
export function makeBarRows(startIso: string, count: number, stepMs = 60_000, seed = 1): BarRow[] {
  return makeBars(startIso, count, stepMs, seed).map((point) => toBarRow(point));
}
