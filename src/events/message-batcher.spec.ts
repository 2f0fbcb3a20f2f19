import { MessageBatcher } from './message-batcher';

describe('MessageBatcher', () => {
  describe('take', () => {
    it('should hand out a full batch at once without waiting', async () => {
      const batcher = new MessageBatcher<number>();
      [1, 2, 3, 4, 5].forEach((n) => batcher.push(n));

      const started = Date.now();
      const batch = await batcher.take(3, 10_000);

      expect(batch).toEqual([1, 2, 3]);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(batcher.size).toBe(2);
    });

    it('should fill a batch by weight, and hand out a heavier item than max alone', async () => {
      const batcher = new MessageBatcher<number>((n) => n);
      [3, 4, 2, 9, 1].forEach((n) => batcher.push(n));

      expect(await batcher.take(8, 10_000)).toEqual([3, 4]);
      expect(await batcher.take(8, 10_000)).toEqual([2]);
      expect(await batcher.take(8, 10_000)).toEqual([9]);
      expect(await batcher.take(8, 10_000)).toEqual([1]);
    });

    it('should hand out leftovers of a full batch at once (they have waited)', async () => {
      const batcher = new MessageBatcher<number>();
      [1, 2, 3, 4, 5].forEach((n) => batcher.push(n));
      await batcher.take(3, 10_000);

      const started = Date.now();
      const batch = await batcher.take(3, 10_000);

      expect(batch).toEqual([4, 5]);
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it('should wait for the first item, then at most waitMs for the batch to fill', async () => {
      const batcher = new MessageBatcher<string>();
      setTimeout(() => batcher.push('a'), 50);
      setTimeout(() => batcher.push('b'), 80);

      const started = Date.now();
      const batch = await batcher.take(10, 150);

      expect(batch).toEqual(['a', 'b']);
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThanOrEqual(180);
      expect(waited).toBeLessThan(1_000);
    });

    it('should answer as soon as the batch is full even before waitMs', async () => {
      const batcher = new MessageBatcher<string>();
      setTimeout(() => ['a', 'b', 'c'].forEach((x) => batcher.push(x)), 20);

      const started = Date.now();
      const batch = await batcher.take(3, 10_000);

      expect(batch).toEqual(['a', 'b', 'c']);
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it('should answer an empty batch once closed', async () => {
      const batcher = new MessageBatcher<number>();
      const taking = batcher.take(10, 50);

      expect(batcher.close()).toEqual([]);
      await expect(taking).resolves.toEqual([]);
      await expect(batcher.take(10, 50)).resolves.toEqual([]);
    });
  });

  describe('close', () => {
    it('should return the items not handed out, and hand out nothing after', async () => {
      const batcher = new MessageBatcher<number>();
      [1, 2, 3].forEach((n) => batcher.push(n));
      await batcher.take(1, 0);

      expect(batcher.close()).toEqual([2, 3]);
      expect(batcher.isClosed).toBe(true);
      await expect(batcher.take(10, 0)).resolves.toEqual([]);
    });
  });
});
