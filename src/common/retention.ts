/**
 * What a retention of N days means, the same for the store (which refuses
 * a point retention would delete) and the retention tasks (which delete):
 * a point is due for deletion once its timestamp is before now - N days
 * (days of 86,400,000 ms). null: kept forever.
 */
export const DAY_MS = 86_400_000;

/** The first instant kept at `nowMs`; -Infinity when kept forever. */
export function retentionCutoffMs(days: number | null, nowMs: number): number {
  return days === null ? -Infinity : nowMs - days * DAY_MS;
}

/** When a point at `timestampMs` becomes due for deletion; null when kept forever. */
export function dueForDeletionMs(days: number | null, timestampMs: number): number | null {
  return days === null ? null : timestampMs + days * DAY_MS;
}
