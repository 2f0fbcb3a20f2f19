import { createServer } from 'node:net';
import type Redis from 'ioredis';
import { connectWithin, failFastRedis } from '../src/common/fail-fast-redis';

/** A port nothing listens on: one the OS just gave out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('failFastRedis against a real Redis', () => {
  const clients: Redis[] = [];
  const client = (url: string) => {
    const redis = failFastRedis(url, 100);
    clients.push(redis);
    return redis;
  };

  afterEach(() => {
    for (const redis of clients.splice(0)) redis.disconnect();
  });

  it('connects within the wait and runs commands', async () => {
    const redis = client('redis://127.0.0.1:6379/0');
    const key = `mds:test:fail-fast:${process.pid}`;

    await expect(connectWithin(redis, 5_000)).resolves.toBe(true);
    await redis.set(key, 'answered', 'PX', 10_000);
    await expect(redis.get(key)).resolves.toBe('answered');
    await redis.del(key);
  });

  it('tells a Redis that is not there after the wait, never throwing, and fails commands instead of queueing them', async () => {
    const redis = client(`redis://127.0.0.1:${await closedPort()}/0`);

    await expect(connectWithin(redis, 300)).resolves.toBe(false);
    await expect(redis.get('any')).rejects.toThrow(/enableOfflineQueue/);
  });
});
