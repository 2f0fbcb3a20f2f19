/**
 * Routing of events to write lanes: every event of one (instrument,
 * timeframe) series goes to the same lane, so with several batches written
 * at once (one per lane, each on its own connection) the rows of a series
 * are still written in the order the stream delivered them.
 */

/** FNV-1a (32 bit) of the series key, modulo `lanes`; the same key always gives the same lane. */
export function laneOfSeries(instrumentId: string, timeframe: string, lanes: number): number {
  if (lanes <= 1) return 0;
  let hash = 0x811c9dc5;
  const key = `${instrumentId}\u0000${timeframe}`;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % lanes;
}

/**
 * The lane of a decoded `normalized_market_data` event (of its first bar for
 * a batch event, whose bars are all of one series). An event without a
 * readable series (it will be dead-lettered) goes to lane 0: its order
 * matters to no series.
 */
export function laneOfEvent(event: unknown, lanes: number): number {
  if (lanes <= 1 || typeof event !== 'object' || event === null) return 0;
  const marketData = (event as { market_data?: unknown }).market_data;
  const data = Array.isArray(marketData) ? (marketData[0] as unknown) : marketData;
  if (typeof data !== 'object' || data === null) return 0;
  const { instrument_id: instrumentId, timeframe } = data as {
    instrument_id?: unknown;
    timeframe?: unknown;
  };
  if (typeof instrumentId !== 'string' || typeof timeframe !== 'string') return 0;
  return laneOfSeries(instrumentId, timeframe, lanes);
}
