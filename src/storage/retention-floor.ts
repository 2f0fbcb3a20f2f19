import { ConfiguredSeries, DataType } from '../common/market-data.types';
import { retentionCutoffMs } from '../common/retention';
import { formatInstant } from '../common/time';
import type { RetentionInForce } from '../configuration/configuration.service';
import { RetentionFloor } from './point-check';

/**
 * The floor below which a store refuses the points of `series` at `nowMs`
 * (retention would delete them), with what to change; undefined when the
 * series keeps its points forever.
 */
export function retentionFloor(
  series: ConfiguredSeries,
  retention: RetentionInForce,
  nowMs: number,
): RetentionFloor | undefined {
  if (retention.days === null) return undefined;
  const fromMs = retentionCutoffMs(retention.days, nowMs);
  const deleted = `(points before ${formatInstant(fromMs)} are deleted)`;
  if (series.timeframe === DataType.TRADE || series.timeframe === DataType.QUOTE) {
    const kind = series.timeframe === DataType.TRADE ? 'trades' : 'quotes';
    return {
      fromMs,
      message:
        `is older than the retention of ${kind}, RETENTION_DEFAULT_DAYS = ${retention.days} days ${deleted}: ` +
        `set RETENTION_DEFAULT_DAYS longer, or to forever, to store it`,
    };
  }
  const route = `PUT /api/v1/storage/configurations/${encodeURIComponent(series.instrumentId)}/${series.timeframe}`;
  const change = retention.configured
    ? `configure a longer retention_days, or null to keep forever, for ${series.timeframe} bars of ${series.instrumentId} (${route})`
    : `configure retention_days (a longer one, or null to keep forever) for ${series.timeframe} bars of ${series.instrumentId} (${route}) or RETENTION_DEFAULT_DAYS`;
  return {
    fromMs,
    message: `is older than this series' retention of ${retention.days} days ${deleted}: ${change}`,
  };
}
