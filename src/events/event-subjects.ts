/** The logical names of the events (DESIGN 5): Nest patterns and Redis channels as they are. */
export const INPUT_PATTERN = 'normalized_market_data';
export const OUTPUT_PATTERN = 'market_data_stored';
export const DEAD_LETTER_SUFFIX = '.dead_letter';

/** Transport id of the JetStream strategy, for @EventPattern(..., NATS_JETSTREAM). */
export const NATS_JETSTREAM = Symbol('NATS_JETSTREAM');

export interface EventSubjects {
  readonly input: string;
  readonly output: string;
  readonly deadLetter: string;
}

/** NATS subjects: the logical names behind NATS_SUBJECT_PREFIX. */
export function natsSubjects(prefix: string): EventSubjects {
  return {
    input: `${prefix}${INPUT_PATTERN}`,
    output: `${prefix}${OUTPUT_PATTERN}`,
    deadLetter: `${prefix}${INPUT_PATTERN}${DEAD_LETTER_SUFFIX}`,
  };
}

/** Redis channels (Nest's Redis transport subscribes to the pattern itself). */
export const REDIS_CHANNELS: EventSubjects = natsSubjects('');
