import { bypassCacheMock } from '../../test/support/service-mocks';
import { CacheAsideRead, cacheAside } from './cache-aside';

function read(overrides: Partial<CacheAsideRead<number>> = {}): CacheAsideRead<number> {
  return {
    instrumentId: 'AAPL',
    slots: (generation) => [{ key: `plain:${generation}`, ttlMs: 1000 }],
    compute: jest.fn().mockResolvedValue(42),
    encode: (answer) => String(answer),
    decode: (text) => Number(text),
    ...overrides,
  };
}

describe('cacheAside', () => {
  it('should answer from the database without touching the cache when no generation can be read', async () => {
    const cache = bypassCacheMock();

    const result = await cacheAside(cache, read());

    expect(result).toEqual({ answer: 42, cacheResult: 'bypass' });
    expect(cache.generation).toHaveBeenCalledWith('AAPL');
    expect(cache.get).not.toHaveBeenCalled();
    expect(cache.set).not.toHaveBeenCalled();
  });

  it('should answer a hit decoded, without computing', async () => {
    const cache = bypassCacheMock();
    cache.generation.mockResolvedValue('g1');
    cache.get.mockResolvedValue('7');
    const compute = jest.fn();

    const result = await cacheAside(cache, read({ compute }));

    expect(result).toEqual({ answer: 7, cacheResult: 'hit' });
    expect(cache.get).toHaveBeenCalledWith('plain:g1', 'g1');
    expect(compute).not.toHaveBeenCalled();
  });

  it('should compute a miss and store it encoded under the generation read first, with its TTL', async () => {
    const cache = bypassCacheMock();
    cache.generation.mockResolvedValue('g1');
    // A store that never confirms the write: the answer does not wait for it.
    cache.set.mockImplementation(() => new Promise<void>(() => undefined));

    const result = await cacheAside(cache, read());

    expect(result).toEqual({ answer: 42, cacheResult: 'miss' });
    expect(cache.set).toHaveBeenCalledWith('plain:g1', '42', 1000, 'g1');
  });

  it('should read several slots in one round trip and store an answer in the slot it belongs to', async () => {
    const cache = bypassCacheMock();
    cache.generation.mockResolvedValue('g2');
    const slots = (generation: string) =>
      [
        { key: `plain:${generation}`, ttlMs: 1000 },
        { key: `other:${generation}`, ttlMs: 2000 },
      ] as const;

    await cacheAside(cache, read({ slots, slotOf: (answer) => (answer > 10 ? 1 : 0) }));

    expect(cache.getFirst).toHaveBeenCalledWith(['plain:g2', 'other:g2'], 'g2');
    expect(cache.get).not.toHaveBeenCalled();
    expect(cache.set).toHaveBeenCalledWith('other:g2', '42', 2000, 'g2');
  });

  it('should cache nothing when the computation fails, and pass the failure on', async () => {
    const cache = bypassCacheMock();
    cache.generation.mockResolvedValue('g1');
    const failure = new Error('not found');

    await expect(cacheAside(cache, read({ compute: () => Promise.reject(failure) }))).rejects.toBe(
      failure,
    );
    expect(cache.set).not.toHaveBeenCalled();
  });
});
