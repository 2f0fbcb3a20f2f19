import {
  AckPolicy,
  DeliverPolicy,
  JetStreamManager,
  nanos,
  RetentionPolicy,
  StorageType,
} from 'nats';
import { EventSubjects } from './event-subjects';

/** JetStream API error codes (nats-server). */
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

/** Kept in the stream when it is created here: a week of input, outputs and dead letters. */
const STREAM_MAX_AGE_MS = 7 * 24 * 3_600_000;
/** JetStream drops a re-publish with the same Nats-Msg-Id within this window. */
const DUPLICATE_WINDOW_MS = 2 * 60_000;

export interface ConsumerSettings {
  readonly durable: string;
  readonly ackWaitMs: number;
  /** 0: no limit. */
  readonly maxDeliver: number;
  /** Most messages delivered and not yet acknowledged. */
  readonly maxAckPending: number;
}

function apiErrorCode(error: unknown): number | undefined {
  return (error as { api_error?: { err_code?: number } }).api_error?.err_code;
}

/**
 * Creates the stream with our subjects, or adds the missing subjects to an
 * existing one (its other settings are the operator's and are kept).
 */
export async function ensureStream(
  jsm: JetStreamManager,
  stream: string,
  subjects: EventSubjects,
): Promise<void> {
  const wanted = [subjects.input, subjects.output, subjects.deadLetter];
  try {
    const info = await jsm.streams.info(stream);
    const missing = wanted.filter((s) => !info.config.subjects.includes(s));
    if (missing.length > 0) {
      await jsm.streams.update(stream, { subjects: [...info.config.subjects, ...missing] });
    }
  } catch (error) {
    if (apiErrorCode(error) !== STREAM_NOT_FOUND) throw error;
    await jsm.streams.add({
      name: stream,
      subjects: wanted,
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(STREAM_MAX_AGE_MS),
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    });
  }
}

/** Creates the durable pull consumer of the input subject, or brings its limits up to date. */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  subjects: EventSubjects,
  settings: ConsumerSettings,
): Promise<void> {
  const limits = {
    ack_wait: nanos(settings.ackWaitMs),
    max_deliver: settings.maxDeliver > 0 ? settings.maxDeliver : -1,
    max_ack_pending: settings.maxAckPending,
  };
  try {
    const info = await jsm.consumers.info(stream, settings.durable);
    const config = info.config;
    if (
      config.ack_wait !== limits.ack_wait ||
      config.max_deliver !== limits.max_deliver ||
      config.max_ack_pending !== limits.max_ack_pending
    ) {
      await jsm.consumers.update(stream, settings.durable, limits);
    }
  } catch (error) {
    if (apiErrorCode(error) !== CONSUMER_NOT_FOUND) throw error;
    await jsm.consumers.add(stream, {
      durable_name: settings.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: subjects.input,
      ...limits,
    });
  }
}
