import autocannon from 'autocannon';
import { percentile } from './support';

/** What one load run measured, latencies in milliseconds. */
export interface LoadResult {
  readonly requests: number;
  readonly durationS: number;
  readonly rps: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  /** Connection errors, timeouts and non-2xx answers. */
  readonly errors: number;
  readonly bytesPerRequest: number;
}

/**
 * autocannon against `base`, each request's path from `nextPath` (a new path
 * per request defeats the cache). Percentiles come from every response's
 * own latency (autocannon's histogram has no p95).
 */
export async function load(
  base: string,
  nextPath: () => string,
  connections: number,
  durationS: number,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let bytes = 0;
  let errors = 0;
  let elapsed = 0;
  const once = async (limit: { duration: number } | { amount: number }) => {
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon(
        {
          url: base,
          connections,
          timeout: 60,
          ...limit,
          requests: [
            { method: 'GET', setupRequest: (request) => ({ ...request, path: nextPath() }) },
          ],
        },
        (error, done) => (error ? reject(error as Error) : resolve(done)),
      );
      instance.on('response', (_client, _status, resBytes, responseTime) => {
        latencies.push(responseTime);
        bytes += resBytes;
      });
    });
    errors += result.errors + result.timeouts + result.non2xx;
    elapsed += result.duration;
  };
  await once({ duration: durationS });
  // Slow answers: too few within the duration for a p95; top up by count.
  const minimum = Math.max(10, connections);
  if (latencies.length < minimum)
    await once({ amount: Math.max(connections, minimum - latencies.length) });
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    durationS: elapsed,
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    errors,
    bytesPerRequest: latencies.length ? bytes / latencies.length : 0,
  };
}

/**
 * Waits until `base` answers `path`: requests cut off at the end of a load
 * run may still occupy the server and its database pool, and would slow the
 * next run down.
 */
export async function drain(base: string, path: string): Promise<void> {
  const res = await fetch(base + path, { signal: AbortSignal.timeout(300_000) });
  await res.arrayBuffer();
}
