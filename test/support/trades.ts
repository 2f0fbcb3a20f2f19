import { TradeRow } from '../../src/repositories/trades.repository';

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` trades from `startIso`, ascending: gaps of 0-1,999 microseconds
 * (about one in eight shares its timestamp with the one before), prices in
 * cents around 100.00, whole sizes (seven in ten round lots of 100-1,000,
 * the rest odd lots of 1-99), trade ids "T{i}".
 */
export function makeTradeRows(startIso: string, count: number, seed = 7): TradeRow[] {
  const next = random(seed);
  let us = Date.parse(startIso) * 1000;
  let cents = 10_000;
  const rows = new Array<TradeRow>(count);
  for (let i = 0; i < count; i++) {
    const r = next();
    us += r < 0.125 ? 0 : Math.floor(next() * 2000);
    cents = Math.max(1, cents + Math.floor(next() * 5) - 2);
    rows[i] = {
      timestampUs: us,
      key: `T${i}`,
      price: cents / 100,
      size: next() < 0.7 ? 100 * (1 + Math.floor(next() * 10)) : 1 + Math.floor(next() * 99),
      conditions: i % 50 === 0 ? ['@', 'F'] : null,
      qualityScore: 1,
      source: i % 3 === 0 ? 'XNAS' : null,
    };
  }
  return rows;
}
