import { runSoak } from '../bench/soak';

/**
 * A short run of `npm run soak` (bench/soak.ts) so CI exercises it: the real
 * service under a mix of stores and queries from autocannon. Only that every
 * answer is a 2xx and every shape completes requests is asserted; latency and
 * memory figures belong to the full 60 s run, not to a test.
 */
describe('soak, short', () => {
  it('should answer every store and query of a 10 s mixed load with a 2xx', async () => {
    const result = await runSoak({
      durationS: 10,
      connections: 8,
      warmupS: 0,
      rssGrowthBoundMiB: Number.POSITIVE_INFINITY,
      redis: true,
      quiet: true,
    });
    expect(result.failures).toEqual([]);
    expect(result.shapes.map((s) => s.name)).toHaveLength(4);
    for (const shape of result.shapes) {
      expect({
        shape: shape.name,
        non2xx: shape.non2xx,
        errors: shape.errors,
        timeouts: shape.timeouts,
      }).toEqual({
        shape: shape.name,
        non2xx: 0,
        errors: 0,
        timeouts: 0,
      });
      expect(shape.requests).toBeGreaterThan(0);
    }
  }, 180_000);
});
