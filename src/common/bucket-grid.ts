import { TimeFrame, TIMEFRAME_MS } from './market-data.types';

/** How an answer's empty buckets are filled (docs/research-reads.md); `none` never reaches a reader. */
export type FillMode = 'null' | 'prev';

/** Every bucket of a timeframe in [start_time, end_time): `count` of them from `firstMs`, `stepMs` apart. */
export interface BucketGrid {
  readonly firstMs: number;
  readonly stepMs: number;
  readonly count: number;
}

/** The gap filling a read applies: its mode over its grid. */
export interface Filling {
  readonly mode: FillMode;
  readonly grid: BucketGrid;
}

/** The buckets of `timeframe` starting in [fromMs, toMs), UTC-aligned as the bars are. */
export function bucketGrid(
  timeframe: TimeFrame,
  range: { fromMs: number; toMs: number },
): BucketGrid {
  const stepMs = TIMEFRAME_MS[timeframe];
  const first = Math.ceil(range.fromMs / stepMs);
  const end = Math.ceil(range.toMs / stepMs);
  return { firstMs: first * stepMs, stepMs, count: Math.max(0, end - first) };
}
