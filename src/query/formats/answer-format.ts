import { InvalidRequestError } from '../../common/errors';

/** The forms of a /query answer: JSON (the default), CSV, an Apache Arrow IPC stream. */
export const ANSWER_FORMATS = ['json', 'csv', 'arrow'] as const;
export type AnswerFormat = (typeof ANSWER_FORMATS)[number];

export const CSV_CONTENT_TYPE = 'text/csv; charset=utf-8';
export const ARROW_CONTENT_TYPE = 'application/vnd.apache.arrow.stream';

/** Media types of Accept, as a client names them, to the format they ask for. */
const ACCEPTED: Readonly<Record<string, AnswerFormat>> = {
  'application/json': 'json',
  'text/csv': 'csv',
  'application/vnd.apache.arrow.stream': 'arrow',
};

/**
 * `format` when given (it wins over Accept; an unknown one is a 400), else
 * the first media type of Accept that names a format (in the order listed,
 * q-values not weighed), else JSON: `*\/*` and browsers' Accept stay JSON.
 */
export function answerFormat(format: string | undefined, accept: string | undefined): AnswerFormat {
  if (format !== undefined) {
    const wanted = format.trim().toLowerCase();
    if ((ANSWER_FORMATS as readonly string[]).includes(wanted)) return wanted as AnswerFormat;
    throw new InvalidRequestError(
      'format',
      `must be one of ${ANSWER_FORMATS.join(', ')} (got "${format.slice(0, 20)}")`,
    );
  }
  for (const part of (accept ?? '').split(',')) {
    const type = (part.split(';')[0] ?? '').trim().toLowerCase();
    const named = ACCEPTED[type];
    if (named !== undefined) return named;
  }
  return 'json';
}
