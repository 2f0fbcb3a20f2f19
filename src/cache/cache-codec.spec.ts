import { Keyv } from 'keyv';
import { createCacheCodec, PackedText, unpackText } from './cache-codec';

const ANSWER = JSON.stringify(
  Array.from({ length: 2000 }, (_, i) => ({
    timestamp: new Date(Date.UTC(2025, 5, 1) + i * 60_000).toISOString(),
    open: 100 + (i % 13) / 100,
    volume: 1000 + i,
    source: i % 2 ? 'quote "x" \\ y' : null,
  })),
);

describe('createCacheCodec', () => {
  it('should give back a string value and its expiry unchanged, stored as it is below the threshold', async () => {
    const codec = createCacheCodec(1024);
    const text = await codec.serialize({ value: '{"a":"b"}', expires: 1_750_000_000_000 });
    expect(text).toBe('t1750000000000:{"a":"b"}');
    await expect(codec.deserialize(text)).resolves.toEqual({
      value: '{"a":"b"}',
      expires: 1_750_000_000_000,
    });
  });

  it('should deflate a long string into base64, with nothing JSON would escape, and inflate it back exactly', async () => {
    const codec = createCacheCodec(1024);
    const text = await codec.serialize({ value: ANSWER, expires: 5 });
    expect(text.startsWith('z5:')).toBe(true);
    expect(text).not.toMatch(/["\\]/);
    expect(text.length).toBeLessThan(ANSWER.length / 4);
    const entry = await codec.deserialize(text);
    expect(entry?.expires).toBe(5);
    expect(entry?.value).toBeInstanceOf(PackedText);
    await expect(unpackText(entry?.value)).resolves.toBe(ANSWER);
  });

  it('should round-trip an answer large enough to be compressed in the thread pool', async () => {
    const codec = createCacheCodec(1024);
    const large = ANSWER.repeat(3);
    expect(large.length).toBeGreaterThan(256 * 1024);
    const text = await codec.serialize({ value: large, expires: 1 });
    await expect(unpackText((await codec.deserialize(text))?.value)).resolves.toBe(large);
  });

  it('should keep an entry without expiry without one', async () => {
    const codec = createCacheCodec(1024);
    const text = await codec.serialize({ value: 'g-1', expires: undefined });
    expect(text).toBe('t:g-1');
    await expect(codec.deserialize(text)).resolves.toEqual({ value: 'g-1', expires: undefined });
  });

  it('should never compress without a threshold', async () => {
    const codec = createCacheCodec();
    await expect(codec.serialize({ value: ANSWER })).resolves.toBe(`t:${ANSWER}`);
  });

  it('should give back a text that is not packed as it is', async () => {
    await expect(unpackText('plain')).resolves.toBe('plain');
  });

  it('should keep other values as JSON', async () => {
    const codec = createCacheCodec(1);
    const text = await codec.serialize({ value: { n: 1, s: ['x'] }, expires: 7 });
    await expect(codec.deserialize(text)).resolves.toEqual({
      value: { n: 1, s: ['x'] },
      expires: 7,
    });
  });

  it("should read an entry written in Keyv's default JSON form", async () => {
    const codec = createCacheCodec(1024);
    await expect(codec.deserialize(JSON.stringify({ value: 'old', expires: 9 }))).resolves.toEqual({
      value: 'old',
      expires: 9,
    });
  });

  it('should read an unknown form as a miss', async () => {
    const codec = createCacheCodec(1024);
    await expect(codec.deserialize('x1:zzz')).resolves.toBeUndefined();
    await expect(codec.deserialize('')).resolves.toBeUndefined();
  });

  describe('inside Keyv', () => {
    const keyvWith = (store: Map<string, string>) => {
      const codec = createCacheCodec(1024);
      return new Keyv({
        store,
        namespace: '',
        serialize: codec.serialize as never,
        deserialize: codec.deserialize as never,
      });
    };

    it('should store the encoded form and read the value back, one key or several', async () => {
      const store = new Map<string, string>();
      const keyv = keyvWith(store);
      await keyv.set('query:a', ANSWER, 60_000);
      await keyv.set('gen:X', 'g1', 60_000);
      expect(store.get('query:a')?.startsWith('z')).toBe(true);
      await expect(unpackText(await keyv.get('query:a'))).resolves.toBe(ANSWER);
      await expect(keyv.getMany(['missing', 'gen:X'])).resolves.toEqual([undefined, 'g1']);
    });

    it('should let an entry expire', async () => {
      const store = new Map<string, string>();
      const keyv = keyvWith(store);
      await keyv.set('latest:a', 'p', 1);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await expect(keyv.get('latest:a')).resolves.toBeUndefined();
    });
  });
});
