import { Inject, Injectable } from '@nestjs/common';
import { toRange } from '../common/instant-range';
import { SeriesKey, TIMEFRAME_MS } from '../common/market-data.types';
import { formatInstant } from '../common/time';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { GapDto, IntegrityReportDto, IntegrityRequestDto, ViolationDto } from './dto/integrity.dto';
import { BarsChecksum, CHECKSUM_FORMAT } from './integrity-checksum';
import { IntegrityRepository, StoredBar } from '../repositories/integrity.repository';

/** Gaps and violations listed in an answer; their counts always cover them all. */
export const MAX_LISTED = 1000;
/** Bars read per statement: bounded memory and connection time whatever the range. */
const READ_BATCH = 5000;

/** The first rule a stored bar breaks (the write path's rules, DESIGN 3), or null. */
export function violationOf(
  bar: StoredBar,
  stepMs: number,
): Omit<ViolationDto, 'timestamp'> | null {
  const prices = { open: bar.open, high: bar.high, low: bar.low, close: bar.close };
  for (const [field, value] of Object.entries(prices)) {
    if (!Number.isFinite(value)) return { field, rule: `${field} must be a finite number` };
  }
  if (bar.timestampMs % stepMs !== 0) {
    return { field: 'timestamp', rule: 'timestamp must start a bar of the timeframe' };
  }
  if (bar.low > bar.high) return { field: 'low', rule: 'low must not exceed high' };
  if (bar.low > Math.min(bar.open, bar.close)) {
    return { field: 'low', rule: 'low must not exceed open or close' };
  }
  if (bar.high < Math.max(bar.open, bar.close)) {
    return { field: 'high', rule: 'high must not be below open or close' };
  }
  if (bar.volume.startsWith('-')) return { field: 'volume', rule: 'volume must be >= 0' };
  if (bar.dollarVolume !== null && !Number.isFinite(bar.dollarVolume)) {
    return { field: 'dollar_volume', rule: 'dollar_volume must be a finite number' };
  }
  if (bar.tradeCount !== null && bar.tradeCount < 0) {
    return { field: 'trade_count', rule: 'trade_count must be >= 0' };
  }
  if (bar.qualityScore !== null && !(bar.qualityScore >= 0 && bar.qualityScore <= 1)) {
    return { field: 'quality_score', rule: 'quality_score must be between 0 and 1' };
  }
  return null;
}

/** Builds the report in one ascending pass over the stored bars. */
class IntegrityScan {
  count = 0;
  firstMs: number | null = null;
  lastMs: number | null = null;
  missingCount = 0;
  gapCount = 0;
  readonly gaps: GapDto[] = [];
  violationCount = 0;
  readonly violations: ViolationDto[] = [];
  readonly checksum = new BarsChecksum();

  constructor(private readonly stepMs: number) {}

  add(bar: StoredBar): void {
    const ms = bar.timestampMs;
    if (this.lastMs !== null) this.noteGap(this.lastMs, ms);
    this.count++;
    this.firstMs ??= ms;
    this.lastMs = ms;
    const violation = violationOf(bar, this.stepMs);
    if (violation) {
      this.violationCount++;
      if (this.violations.length < MAX_LISTED) {
        this.violations.push({ timestamp: formatInstant(ms), ...violation });
      }
    }
    this.checksum.add(bar);
  }

  /** Grid slots strictly between two stored bars (either may be off the grid). */
  private noteGap(previousMs: number, nextMs: number): void {
    const step = this.stepMs;
    const firstSlot = Math.floor(previousMs / step) * step + step;
    const lastSlot = Math.ceil(nextMs / step) * step - step;
    if (lastSlot < firstSlot) return;
    const missing = (lastSlot - firstSlot) / step + 1;
    this.missingCount += missing;
    this.gapCount++;
    if (this.gaps.length < MAX_LISTED) {
      this.gaps.push({
        start_time: formatInstant(firstSlot),
        end_time: formatInstant(nextMs),
        missing_count: missing,
      });
    }
  }

  /** Slots of the grid from the first to the last stored bar, both included. */
  expectedCount(): number {
    if (this.firstMs === null || this.lastMs === null) return 0;
    return this.count + this.missingCount;
  }
}

/**
 * The integrity check of one series over a range: what is stored, where the
 * grid has holes, which rows break the bar rules, and a checksum a client can
 * recompute from the bars it sent. Reads the database, never the cache.
 */
@Injectable()
export class IntegrityService {
  constructor(
    private readonly repository: IntegrityRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async check(instrumentId: string, request: IntegrityRequestDto): Promise<IntegrityReportDto> {
    const range = toRange(
      request.start_time,
      request.end_time,
      this.settings.security.maxQueryRangeDays,
    );
    const series: SeriesKey = { instrumentId, timeframe: request.timeframe };
    const scan = new IntegrityScan(TIMEFRAME_MS[request.timeframe]);
    let after: number | null = null;
    for (;;) {
      const bars = await this.repository.findBarsAfter(series, range, after, READ_BATCH);
      for (const bar of bars) scan.add(bar);
      const last = bars.at(-1);
      if (!last || bars.length < READ_BATCH) break;
      after = last.timestampMs;
    }
    return {
      instrument_id: instrumentId,
      timeframe: request.timeframe,
      start_time: formatInstant(range.fromMs),
      end_time: formatInstant(range.toMs),
      count: scan.count,
      first_timestamp: scan.firstMs === null ? null : formatInstant(scan.firstMs),
      last_timestamp: scan.lastMs === null ? null : formatInstant(scan.lastMs),
      expected_count: scan.expectedCount(),
      missing_count: scan.missingCount,
      gap_count: scan.gapCount,
      gaps: scan.gaps,
      violation_count: scan.violationCount,
      violations: scan.violations,
      checksum: { algorithm: 'sha256', format: CHECKSUM_FORMAT, value: scan.checksum.hex() },
    };
  }
}
