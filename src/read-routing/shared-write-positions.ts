import type Redis from 'ioredis';
import { connectWithin, failFastRedis } from '../common/fail-fast-redis';

/**
 * The WAL positions of recent writes, shared by every service process through
 * Redis (REDIS_URL beside DATABASE_READ_URL): a write on one process keeps
 * the instrument's reads on the primary on all of them, until a replica has
 * replayed past it. A key per instrument holds the newest position as 16 hex
 * digits (so that Lua compares them as strings) and expires after
 * POSITION_TTL_MS. Redis down or slow: each process knows only its own writes
 * (said once per outage), never an error.
 */
const KEY_PREFIX = 'mds:write_lsn:';
/** How long a write position is kept: far beyond a healthy replica's lag, and the query cache's 5 min TTL. */
const POSITION_TTL_MS = 5 * 60_000;

const CONNECT_WAIT_MS = 1_000;

/** Raises each key to ARGV[1] (never lowers it) and renews its expiry. */
const RAISE_SCRIPT = `
for _, key in ipairs(KEYS) do
  local known = redis.call('GET', key)
  if (not known) or known < ARGV[1] then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  else
    redis.call('PEXPIRE', key, ARGV[2])
  end
end
return 1`;

export class SharedWritePositions {
  private readonly redis: Redis;
  private degraded = false;

  constructor(
    url: string,
    timeoutMs: number,
    private readonly warn: (message: string) => void,
  ) {
    // A read must not wait for Redis.
    this.redis = failFastRedis(url, timeoutMs);
  }

  /**
   * Connects, waiting up to CONNECT_WAIT_MS: the first reads after start are
   * not left to this process's own writes for want of a connection. Never throws.
   */
  async connect(): Promise<void> {
    if (!(await connectWithin(this.redis, CONNECT_WAIT_MS)))
      this.failed(new Error(`no answer within ${CONNECT_WAIT_MS} ms`));
  }

  /** After a commit of `instrumentIds` at `lsn`. */
  async record(instrumentIds: readonly string[], lsn: bigint): Promise<void> {
    if (instrumentIds.length === 0) return;
    try {
      await this.redis.eval(
        RAISE_SCRIPT,
        instrumentIds.length,
        ...instrumentIds.map((id) => KEY_PREFIX + id),
        hex(lsn),
        POSITION_TTL_MS,
      );
      this.answered();
    } catch (error) {
      this.failed(error);
    }
  }

  /** The newest position any process recorded for the instrument; undefined when none (or Redis is down). */
  async positionOf(instrumentId: string): Promise<bigint | undefined> {
    try {
      const value = await this.redis.get(KEY_PREFIX + instrumentId);
      this.answered();
      return value === null ? undefined : BigInt(`0x${value}`);
    } catch (error) {
      this.failed(error);
      return undefined;
    }
  }

  close(): Promise<void> {
    this.redis.disconnect();
    return Promise.resolve();
  }

  private answered(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.warn('shared write positions: Redis answers again');
  }

  private failed(error: unknown): void {
    if (this.degraded) return;
    this.degraded = true;
    this.warn(
      `shared write positions: Redis unavailable (${(error as Error).message}); ` +
        'read-your-writes holds for this process only until it answers',
    );
  }
}

function hex(lsn: bigint): string {
  return lsn.toString(16).padStart(16, '0');
}
