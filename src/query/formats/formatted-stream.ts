import { Readable } from 'node:stream';
import { RecordBatch, RecordBatchStreamWriter, Schema } from 'apache-arrow';
import { arrowBatch, arrowSchema } from './arrow-encoder';
import { AnswerFormat } from './answer-format';
import { Column, columnRows, Point, pointRows, RowValues } from './columns';
import { csvHeader, csvLines } from './csv-encoder';

/** Rows per Arrow record batch: a few hundred kB, what readers handle well. */
export const ARROW_BATCH_ROWS = 10_000;

/** A run of points of the answer, with the values of its constant columns (instrument_id). */
export interface PointsRun {
  readonly points: readonly Point[];
  readonly constant?: Point;
}

/** A run of the answer read as columns: `count` values of each (timestamps in µs). */
export interface ColumnsRun {
  readonly columns: Readonly<Record<string, readonly unknown[]>>;
  readonly count: number;
  readonly constant?: Point;
}

export type AnswerRun = PointsRun | ColumnsRun;

/** The run's rows, ARROW_BATCH_ROWS at a time. */
function* slices(run: AnswerRun): Generator<RowValues> {
  const count = 'points' in run ? run.points.length : run.count;
  for (let from = 0; from < count; from += ARROW_BATCH_ROWS) {
    const to = Math.min(count, from + ARROW_BATCH_ROWS);
    yield 'points' in run
      ? pointRows(run.points.slice(from, to), run.constant)
      : columnRows(run.columns, from, to, run.constant);
  }
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
  runs: AsyncIterable<AnswerRun>,
): AsyncGenerator<Uint8Array> {
  const schema: Schema = arrowSchema(columns);
  const head = new RecordBatchStreamWriter();
  head.reset(undefined, schema);
  head.finish();
  const schemaAndEnd = head.toUint8Array(true);
  const schemaBytes = schemaAndEnd.byteLength - END_OF_STREAM_BYTES;
  yield schemaAndEnd.subarray(0, schemaBytes);
  for await (const run of runs) {
    for (const rows of slices(run))
      yield batchBytes([arrowBatch(schema, columns, rows)], schemaBytes);
  }
  yield schemaAndEnd.subarray(schemaBytes);
}

async function* csvChunks(
  columns: readonly Column[],
  runs: AsyncIterable<AnswerRun>,
): AsyncGenerator<string> {
  yield csvHeader(columns);
  for await (const run of runs) {
    for (const rows of slices(run)) yield csvLines(columns, rows);
  }
}

/** The answer's bytes as they are read: pulled by the response, so a slow client slows the reads. */
export function formattedStream(
  format: Exclude<AnswerFormat, 'json'>,
  columns: readonly Column[],
  runs: AsyncIterable<AnswerRun>,
): Readable {
  return Readable.from(format === 'csv' ? csvChunks(columns, runs) : arrowChunks(columns, runs), {
    objectMode: false,
  });
}
