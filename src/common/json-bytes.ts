/**
 * A JSON answer's bytes from its pieces, written one after another into one
 * buffer. An answer spliced together with `+` is a rope of strings that V8
 * must copy into one flat string before it can count or send its bytes: for
 * a 30-day answer (6.5 MB) that copy took 20-26 ms of the event loop per
 * request, on top of encoding it again to send it. Each piece here (the
 * points text as pg read it, short literals) is already flat.
 */
export function jsonBytes(pieces: readonly string[]): Buffer {
  let length = 0;
  for (const piece of pieces) length += Buffer.byteLength(piece);
  const bytes = Buffer.allocUnsafe(length);
  let offset = 0;
  for (const piece of pieces) offset += bytes.write(piece, offset);
  return bytes;
}

/**
 * A JSON text, whole or as pieces that follow one another: a long answer
 * read in parts (the halves of a 30-day page) goes out as its pieces, so no
 * string of the whole is made on the way. A fresh 6.5 MB string costs about
 * 18 ms here, most of it the pages of new memory (bench/notes/peers.md).
 */
export type JsonText = string | readonly string[];

/** The pieces of a JSON text, in order. */
export function jsonPieces(text: JsonText): readonly string[] {
  return typeof text === 'string' ? [text] : text;
}

/**
 * A JSON text as one string, made with `+`: V8 keeps it as a rope, copied
 * only when something measures or parses it (a cache write, after the
 * answer is sent; JSON.parse).
 */
export function jsonString(text: JsonText): string {
  if (typeof text === 'string') return text;
  let whole = '';
  for (const piece of text) whole += piece;
  return whole;
}
