/** Small factories of realistic 1-minute bars for tests. */
export interface BarPoint {
  timestamp: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number | string;
  dollar_volume?: number | null;
  trade_count?: number | null;
}

/** A deterministic random walk with two-decimal prices, `count` bars of `stepMs` from `startIso`. */
export function makeBars(startIso: string, count: number, stepMs = 60_000, seed = 1): BarPoint[] {
  let state = seed;
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const start = Date.parse(startIso);
  const bars: BarPoint[] = [];
  let price = 100;
  for (let i = 0; i < count; i++) {
    const open = Math.round(price * 100) / 100;
    // Multiplicative steps keep a long walk positive, as real prices are.
    const close = Math.round(open * (1 + (random() - 0.5) * 0.004) * 100) / 100;
    const high = Math.round(Math.max(open, close) * (1 + random() * 0.002) * 100) / 100;
    const low = Math.round(Math.min(open, close) * (1 - random() * 0.002) * 100) / 100;
    const volume = 1000 + Math.floor(random() * 50_000);
    bars.push({
      timestamp: new Date(start + i * stepMs).toISOString(),
      open,
      high,
      low,
      close,
      volume,
      dollar_volume: Math.round(volume * close * 100) / 100,
      trade_count: 1 + Math.floor(random() * 500),
    });
    price = close;
  }
  return bars;
}
