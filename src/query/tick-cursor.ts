import { InvalidRequestError } from '../common/errors';
import { TickPosition } from '../repositories/tick-tables';

const VERSION = 't1';
const MAX_KEY_LENGTH = 64;

/**
 * next_cursor: opaque to clients, here the keyset position (timestamp in
 * epoch microseconds, key) of the last row of a page, base64url-encoded.
 */
export function encodeCursor(position: TickPosition): string {
  return Buffer.from(`${VERSION}|${position.timestampUs}|${position.key}`, 'utf8').toString(
    'base64url',
  );
}

export function decodeCursor(cursor: string): TickPosition {
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(cursor)
    ? Buffer.from(cursor, 'base64url').toString('utf8')
    : '';
  const [version, us, ...rest] = text.split('|');
  const key = rest.join('|');
  const timestampUs = Number(us);
  if (
    version !== VERSION ||
    !/^-?\d{1,16}$/.test(us ?? '') ||
    !Number.isSafeInteger(timestampUs) ||
    key.length > MAX_KEY_LENGTH
  ) {
    throw new InvalidRequestError('cursor', 'is not a next_cursor this service gave out');
  }
  return { timestampUs, key };
}
