import { BarPoint, makeBars } from './bars';

/**
 * Steady REST ingest for fault tests: each writer posts batches of new bars
 * of its own instrument, one after the other, and records what the service
 * answered, so a test can check afterwards that every acknowledged batch is
 * stored exactly and that the others are all-or-nothing.
 */

export interface SentBatch {
  readonly instrumentId: string;
  readonly bars: BarPoint[];
  readonly startedAt: number;
  /** Undefined while in flight; 0 when the connection failed without an answer. */
  status?: number;
  retryAfter?: string | null;
  /** Round trip of the answer (or of the failure). */
  ms?: number;
}

export const BATCH_START_ISO = '2025-04-01T00:00:00Z';
const MINUTE = 60_000;

/** Posts batch after batch until `stop()` says so or (with stopOnFailure) a connection fails. */
export async function runWriter(
  baseUrl: string,
  instrumentId: string,
  batchSize: number,
  log: SentBatch[],
  stop: () => boolean,
  options: { stopOnConnectionFailure?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  let next = Date.parse(BATCH_START_ISO);
  let seed = 1;
  while (!stop()) {
    const bars = makeBars(new Date(next).toISOString(), batchSize, MINUTE, seed++);
    next += batchSize * MINUTE;
    const batch: SentBatch = { instrumentId, bars, startedAt: performance.now() };
    log.push(batch);
    try {
      const response = await fetch(`${baseUrl}/api/v1/storage/store`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          instrument_id: instrumentId,
          timeframe: 'ONE_MINUTE',
          data_points: bars,
        }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
      });
      await response.text();
      batch.retryAfter = response.headers.get('retry-after');
      batch.status = response.status;
      // Turned away (503 during an outage): a client backs off a little before the next try.
      if (response.status >= 300) await new Promise((r) => setTimeout(r, 50));
    } catch {
      batch.status = 0;
      if (options.stopOnConnectionFailure) return;
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      batch.ms = performance.now() - batch.startedAt;
    }
  }
}

/** Every ONE_MINUTE bar stored for an instrument, through the API. */
export async function storedBars(baseUrl: string, instrumentId: string): Promise<BarPoint[]> {
  const params = new URLSearchParams({
    instrument_id: instrumentId,
    timeframe: 'ONE_MINUTE',
    start_time: '2025-01-01T00:00:00Z',
    end_time: '2026-01-01T00:00:00Z',
    limit: '100000',
  });
  const response = await fetch(`${baseUrl}/api/v1/storage/query?${params.toString()}`);
  const body = (await response.json()) as { data_points: BarPoint[]; total_count: number };
  if (response.status !== 200) throw new Error(`query ${instrumentId}: ${response.status}`);
  if (body.total_count !== body.data_points.length) throw new Error('more than one page stored');
  return body.data_points;
}

export interface BatchAudit {
  acknowledged: number;
  /** Acknowledged batches missing a bar or holding other values: must be empty. */
  lostOrAltered: string[];
  /** Unacknowledged batches stored only in part: must be empty (one transaction per request). */
  partial: string[];
  /** Unacknowledged batches that were committed anyway (the answer was lost): allowed. */
  committedUnanswered: number;
  /** Stored bars that belong to no batch sent: must be 0. */
  unexpectedRows: number;
}

const FIELDS = [
  'timestamp',
  'open',
  'high',
  'low',
  'close',
  'volume',
  'dollar_volume',
  'trade_count',
];

/** Field by field (answers parsed by fetch come from another realm than Jest's objects). */
function sameBar(stored: BarPoint | undefined, sent: BarPoint): boolean {
  if (!stored || Object.keys(stored).length !== FIELDS.length) return false;
  return FIELDS.every((f) => stored[f as keyof BarPoint] === sent[f as keyof BarPoint]);
}

/** Compares what is stored with what was sent and answered. */
export async function auditBatches(
  baseUrl: string,
  batches: readonly SentBatch[],
): Promise<BatchAudit> {
  const audit: BatchAudit = {
    acknowledged: 0,
    lostOrAltered: [],
    partial: [],
    committedUnanswered: 0,
    unexpectedRows: 0,
  };
  const instruments = [...new Set(batches.map((b) => b.instrumentId))];
  for (const instrumentId of instruments) {
    const stored = new Map((await storedBars(baseUrl, instrumentId)).map((p) => [p.timestamp, p]));
    const sent = batches.filter((b) => b.instrumentId === instrumentId);
    for (const batch of sent) {
      const name = `${instrumentId}@${batch.bars[0].timestamp} (status ${batch.status})`;
      const found = batch.bars.filter((bar) => stored.has(bar.timestamp));
      const exact = batch.bars.every((bar) => sameBar(stored.get(bar.timestamp), bar));
      for (const bar of batch.bars) stored.delete(bar.timestamp);
      if (batch.status !== undefined && batch.status >= 200 && batch.status < 300) {
        audit.acknowledged++;
        if (!exact) audit.lostOrAltered.push(name);
      } else if (found.length === batch.bars.length) {
        if (exact) audit.committedUnanswered++;
        else audit.lostOrAltered.push(name);
      } else if (found.length > 0) {
        audit.partial.push(name);
      }
    }
    audit.unexpectedRows += stored.size;
  }
  return audit;
}
