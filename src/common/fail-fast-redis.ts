import Redis from 'ioredis';

/**
 * A Redis client for work that must never wait on Redis (read routing, rate
 * limits): while disconnected a command fails at once instead of queueing,
 * a slow one fails after `commandTimeoutMs`, and it reconnects in the
 * background. Its 'error' events are swallowed: the caller reports the
 * failed commands themselves, once per outage.
 */
export function failFastRedis(url: string, commandTimeoutMs: number): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  redis.on('error', () => undefined);
  return redis;
}

/**
 * Connects `redis` (made by failFastRedis), resolving whether it was ready
 * within `waitMs`; never throws. Later commands keep retrying the
 * connection either way.
 */
export function connectWithin(redis: Redis, waitMs: number): Promise<boolean> {
  // Not events.once: it rejects on the 'error' a refused connection emits.
  const ready = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), waitMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  redis.connect().catch(() => undefined);
  return ready;
}
