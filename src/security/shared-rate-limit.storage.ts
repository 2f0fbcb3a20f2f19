import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { ThrottlerStorage, ThrottlerStorageService } from '@nestjs/throttler';
import type Redis from 'ioredis';
import { connectWithin, failFastRedis } from '../common/fail-fast-redis';
import { MetricsService } from '../metrics/metrics.service';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';

/** Keys of the shared counters; the cache's keys start with other words. */
const KEY_PREFIX = 'ratelimit:';
/** A Redis slower than this is treated as down for that request (counted locally). */
const COMMAND_TIMEOUT_MS = 250;
/** How long start-up waits for Redis before counting locally. */
const CONNECT_WAIT_MS = 1_000;

/**
 * One fixed window per client: INCR, the window set on its first hit; past
 * the limit the client is blocked for blockDuration (a key of its own), and
 * a blocked client's requests are not counted. Returns
 * [hits, ms left in the window, blocked (0/1), ms left of the block].
 */
const INCREMENT_SCRIPT = `
local blockLeft = redis.call('PTTL', KEYS[2])
if blockLeft > 0 then
  return {tonumber(redis.call('GET', KEYS[1]) or ARGV[2]) , redis.call('PTTL', KEYS[1]), 1, blockLeft}
end
local hits = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
if hits > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return {hits, left, 1, tonumber(ARGV[3])}
end
return {hits, left, 0, 0}
`;

type ScriptResult = [number, number, number, number];

/**
 * The rate limit's counters, shared by every replica through Redis
 * (REDIS_URL), so that a client's budget is the same however a load balancer
 * spreads its requests. When Redis is unreachable or slow, each replica
 * counts on its own (the throttler's in-memory storage) until Redis answers
 * again: a client may then get up to one budget per replica, never an error
 * (docs/security.md). Without REDIS_URL the counting is in memory.
 */
@Injectable()
export class SharedRateLimitStorage
  implements ThrottlerStorage, OnModuleInit, OnApplicationShutdown
{
  private readonly logger = new Logger('RateLimit');
  private readonly local = new ThrottlerStorageService();
  private readonly redis: Redis | undefined;
  /** Whether the last decision was local for want of Redis (logged once per outage). */
  private degraded = false;

  constructor(
    @Inject(SETTINGS) settings: Settings,
    private readonly metrics: MetricsService,
  ) {
    if (settings.redisUrl && settings.security.rateLimitRequests > 0) {
      // The request must not wait for Redis.
      this.redis = failFastRedis(settings.redisUrl, COMMAND_TIMEOUT_MS);
    }
  }

  /** Waits a moment for Redis, so the first requests after start are not counted locally for nothing. */
  async onModuleInit(): Promise<void> {
    if (!this.redis) return;
    if (!(await connectWithin(this.redis, CONNECT_WAIT_MS)))
      this.degrade(new Error(`no answer within ${CONNECT_WAIT_MS} ms`), false);
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): ReturnType<ThrottlerStorage['increment']> {
    if (!this.redis) return this.local.increment(key, ttl, limit, blockDuration, throttlerName);
    try {
      const [hits, windowLeft, blocked, blockLeft] = (await this.redis.eval(
        INCREMENT_SCRIPT,
        2,
        `${KEY_PREFIX}${key}`,
        `${KEY_PREFIX}${key}:blocked`,
        ttl,
        limit,
        Math.max(blockDuration, 1),
      )) as ScriptResult;
      this.recover();
      return {
        totalHits: hits,
        timeToExpire: Math.ceil(windowLeft / 1000),
        isBlocked: blocked === 1,
        timeToBlockExpire: Math.ceil(blockLeft / 1000),
      };
    } catch (error) {
      this.degrade(error);
      return this.local.increment(key, ttl, limit, blockDuration, throttlerName);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.local.onApplicationShutdown();
    if (this.redis) this.redis.disconnect();
    return Promise.resolve();
  }

  private degrade(error: unknown, counted = true): void {
    if (counted) this.metrics.rateLimitCountedLocally();
    if (this.degraded) return;
    this.degraded = true;
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(
      `Redis unreachable (${reason}): the rate limit counts per replica until it answers again`,
    );
  }

  private recover(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.logger.log('Redis answers again: the rate limit is shared by the replicas again');
  }
}
