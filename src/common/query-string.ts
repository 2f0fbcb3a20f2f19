import { parse } from 'node:querystring';

/**
 * A time with its offset's "+" sent unencoded: form decoding turned
 * `2025-06-23T15:30:00+02:00` into `2025-06-23T15:30:00 02:00`, the usual
 * slip of a hand-written URL. Nothing else has this shape.
 */
const SPACED_OFFSET = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:\d{2})$/;

function restoreOffset(value: string): string {
  return value.replace(SPACED_OFFSET, '$1+$2');
}

/**
 * The query string as Fastify's own parser reads it (a repeated name gives
 * an array, no prototype), with a time's unencoded "+" offset restored.
 */
export function parseQueryString(text: string): Record<string, string | string[]> {
  const parsed = parse(text);
  const query: Record<string, string | string[]> = Object.create(null) as Record<
    string,
    string | string[]
  >;
  for (const [name, value] of Object.entries(parsed)) {
    if (value === undefined) continue;
    query[name] = Array.isArray(value) ? value.map(restoreOffset) : restoreOffset(value);
  }
  return query;
}
