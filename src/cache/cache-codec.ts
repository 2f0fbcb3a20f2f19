import { promisify } from 'node:util';
import { deflateRaw, deflateRawSync, inflateRaw, inflateRawSync } from 'node:zlib';

const deflateAsync = promisify(deflateRaw);
const inflateAsync = promisify(inflateRaw);

/**
 * Below this many bytes (de)compression runs inline (well under a
 * millisecond); above it in the thread pool, keeping the event loop free.
 */
const INLINE_BYTES = 256 * 1024;

function deflate(text: string): Promise<Buffer> | Buffer {
  return text.length < INLINE_BYTES
    ? deflateRawSync(text, { level: 1 })
    : deflateAsync(text, { level: 1 });
}

function inflate(data: Buffer): Promise<Buffer> | Buffer {
  // Deflated 1-minute bars are about 15 times smaller than their text.
  return data.length * 15 < INLINE_BYTES ? inflateRawSync(data) : inflateAsync(data);
}

/** What Keyv stores per key: the value and when it expires (ms since the epoch). */
export interface KeyvEntry {
  readonly value: unknown;
  readonly expires?: number | null;
}

/**
 * A deflated text as read from the store, inflated only by its reader: the
 * cache's timeout bounds the round trip to the store, not the decoding of an
 * answer that has already arrived (a hit that is slow to inflate under load
 * is still far cheaper than the database).
 */
export class PackedText {
  constructor(readonly deflated: Buffer) {}

  async text(): Promise<string> {
    return (await inflate(this.deflated)).toString();
  }
}

/** The text of a cached value: as it is, or inflated. */
export async function unpackText<T>(value: T | PackedText): Promise<T | string> {
  return value instanceof PackedText ? value.text() : value;
}

export interface CacheCodec {
  serialize(entry: KeyvEntry): Promise<string>;
  deserialize(text: string): Promise<KeyvEntry | undefined>;
}

/**
 * Keyv's serializer for the query cache. Its default (JSON of
 * `{value, expires}`) escapes every quote of an answer that is itself JSON
 * text, and cache-manager-ioredis-yet escapes the result once more (telejson):
 * a 30-day answer (6.6 MB) spent about 80 ms in each direction. Here a string
 * value is kept as it is (`t`), or deflated and base64-encoded (`z`, read
 * back as a PackedText) from `compressAbove` characters: base64 has nothing to escape and is about 15
 * times smaller on 1-minute bars. Other values stay JSON (`j`). Entries
 * written in Keyv's default form still read back.
 *
 * Format: `<kind><expires or empty>:<payload>`.
 */
export function createCacheCodec(compressAbove: number = Infinity): CacheCodec {
  return {
    async serialize({ value, expires }: KeyvEntry): Promise<string> {
      const at = expires ?? '';
      if (typeof value !== 'string') return `j${at}:${JSON.stringify(value)}`;
      if (value.length < compressAbove) return `t${at}:${value}`;
      return `z${at}:${(await deflate(value)).toString('base64')}`;
    },

    async deserialize(text: string): Promise<KeyvEntry | undefined> {
      if (typeof text !== 'string' || text.length === 0) return undefined;
      // Keyv's default form, written before this codec.
      if (text.startsWith('{')) return JSON.parse(text) as KeyvEntry;
      const colon = text.indexOf(':');
      if (colon < 1) return undefined;
      const kind = text[0];
      const expires = colon > 1 ? Number(text.slice(1, colon)) : undefined;
      const payload = text.slice(colon + 1);
      if (kind === 't') return { value: payload, expires };
      if (kind === 'z') return { value: new PackedText(Buffer.from(payload, 'base64')), expires };
      if (kind === 'j') return { value: JSON.parse(payload) as unknown, expires };
      return undefined;
    },
  };
}
