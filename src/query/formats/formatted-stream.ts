import { Readable } from 'node:stream';
import { RecordBatch, RecordBatchStreamWriter, Schema } from 'apache-arrow';
import { arrowBatch, arrowSchema } from './arrow-encoder';
import { AnswerFormat } from './answer-format';
import { Column, Point } from './columns';
import { csvHeader, csvLines } from './csv-encoder';

/** Rows per Arrow record batch: a few hundred kB, what readers handle well. */
export const ARROW_BATCH_ROWS = 10_000;

/** A run of points of the answer, with the values of its constant columns (instrument_id). */
export interface PointsRun {
  readonly points: readonly Point[];
  readonly constant?: Point;
}

const END_OF_STREAM_BYTES = 8;

/** The IPC stream bytes of `batches` alone: schema message and end-of-stream marker cut off. */
function batchBytes(batches: RecordBatch[], schemaBytes: number): Uint8Array {
  const whole = RecordBatchStreamWriter.writeAll(batches).toUint8Array(true);
  return whole.subarray(schemaBytes, whole.byteLength - END_OF_STREAM_BYTES);
}

/**
 * The IPC stream: the schema once, record batches of at most
 * ARROW_BATCH_ROWS rows as the runs arrive (each written by its own writer:
 * a schema has one serialization, so its message is cut off all but the
 * first), the end-of-stream marker.
 */
async function* arrowChunks(
  columns: readonly Column[],
  runs: AsyncIterable<PointsRun>,
): AsyncGenerator<Uint8Array> {
  const schema: Schema = arrowSchema(columns);
  const head = new RecordBatchStreamWriter();
  head.reset(undefined, schema);
  head.finish();
  const schemaAndEnd = head.toUint8Array(true);
  const schemaBytes = schemaAndEnd.byteLength - END_OF_STREAM_BYTES;
  yield schemaAndEnd.subarray(0, schemaBytes);
  for await (const run of runs) {
    for (let from = 0; from < run.points.length; from += ARROW_BATCH_ROWS) {
      const slice = run.points.slice(from, from + ARROW_BATCH_ROWS);
      yield batchBytes([arrowBatch(schema, columns, slice, run.constant)], schemaBytes);
    }
  }
  yield schemaAndEnd.subarray(schemaBytes);
}

async function* csvChunks(
  columns: readonly Column[],
  runs: AsyncIterable<PointsRun>,
): AsyncGenerator<string> {
  yield csvHeader(columns);
  for await (const run of runs) {
    for (let from = 0; from < run.points.length; from += ARROW_BATCH_ROWS) {
      yield csvLines(columns, run.points.slice(from, from + ARROW_BATCH_ROWS), run.constant);
    }
  }
}

/** The answer's bytes as they are read: pulled by the response, so a slow client slows the reads. */
export function formattedStream(
  format: Exclude<AnswerFormat, 'json'>,
  columns: readonly Column[],
  runs: AsyncIterable<PointsRun>,
): Readable {
  return Readable.from(format === 'csv' ? csvChunks(columns, runs) : arrowChunks(columns, runs), {
    objectMode: false,
  });
}
