/**
 * A batch event: the spec's `normalized_market_data` envelope whose
 * `market_data` is an array of the spec's market_data objects, all of one
 * series (instrument_id and timeframe). One message then carries many bars:
 * JetStream's per-message cost (delivery, parsing, one ack each) is paid once
 * for all of them. Each bar becomes a single-bar event of its own, checked
 * and stored exactly as one sent alone; one series per message keeps the
 * write lanes' promise that a series' rows are written in stream order.
 */

/** Most bars in one event (a NATS message is also bounded by the server's max_payload, 1 MiB by default). */
export const MAX_BARS_PER_EVENT = 10_000;
/** Reasons listed in a dead letter of a batch event; the rest are counted. */
const MAX_LISTED_REASONS = 10;

export type ExpandedEvent =
  /** `events`: one single-bar event per bar (the value itself when it is not a batch). */
  | { readonly ok: true; readonly events: unknown[]; readonly batch: boolean }
  | { readonly ok: false; readonly reason: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How many bars a decoded message carries: the length of a batch event's array, else 1. */
export function barsIn(value: unknown): number {
  return isObject(value) && Array.isArray(value.market_data)
    ? Math.max(value.market_data.length, 1)
    : 1;
}

/** The single-bar events of a decoded message; a batch breaking the batch rules is refused whole. */
export function expandEvent(value: unknown): ExpandedEvent {
  if (!isObject(value) || !Array.isArray(value.market_data)) {
    return { ok: true, events: [value], batch: false };
  }
  const bars: unknown[] = value.market_data;
  if (bars.length === 0 || bars.length > MAX_BARS_PER_EVENT) {
    return {
      ok: false,
      reason: `market_data must be one object or an array of 1-${MAX_BARS_PER_EVENT} objects (it has ${bars.length})`,
    };
  }
  const first = bars[0];
  const events: unknown[] = new Array(bars.length);
  for (let i = 0; i < bars.length; i++) {
    const bar = bars[i];
    if (!isObject(bar)) {
      return { ok: false, reason: `market_data[${i}] must be a JSON object` };
    }
    if (
      isObject(first) &&
      (bar.instrument_id !== first.instrument_id || bar.timeframe !== first.timeframe)
    ) {
      return {
        ok: false,
        reason: `market_data[${i}] must have the instrument_id and timeframe of market_data[0] (one series per event)`,
      };
    }
    // The envelope's other fields go with every bar: an unknown one is refused as for a single event.
    events[i] = { ...value, market_data: bar };
  }
  return { ok: true, events, batch: true };
}

/**
 * The dead-letter reason of a batch event from the reasons of its refused
 * bars (by position in the batch): paths name the bar (`market_data[3].…`),
 * the same envelope reason is said once.
 */
export function batchRejectionReason(
  barCount: number,
  refused: readonly { readonly bar: number; readonly reason: string }[],
): string {
  const listed = [
    ...new Set(
      refused.map(({ bar, reason }) =>
        reason.startsWith('market_data') ? `market_data[${bar}]${reason.slice(11)}` : reason,
      ),
    ),
  ];
  const shown = listed.slice(0, MAX_LISTED_REASONS).join('; ');
  const more =
    listed.length > MAX_LISTED_REASONS ? `; and ${listed.length - MAX_LISTED_REASONS} more` : '';
  return `${refused.length} of ${barCount} bars refused (the others are stored): ${shown}${more}`;
}
