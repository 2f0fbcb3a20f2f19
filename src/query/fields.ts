import { InvalidRequestError } from '../common/errors';
import { POINT_FIELDS, PointField } from '../common/market-data.types';
import { QUOTE_FIELDS, QuoteField } from '../repositories/quotes.reader';
import { TRADE_FIELDS, TRADE_FIELDS_ALL, TradeField } from '../repositories/trades.reader';

/** The fields a data kind answers: those a request may name, and those answered when it names none. */
export interface FieldSet<F extends string> {
  readonly allowed: readonly F[];
  readonly defaults: readonly F[];
}

export const BAR_FIELD_SET: FieldSet<PointField> = {
  allowed: POINT_FIELDS,
  defaults: POINT_FIELDS,
};
export const TRADE_FIELD_SET: FieldSet<TradeField> = {
  allowed: TRADE_FIELDS_ALL,
  defaults: TRADE_FIELDS,
};
export const QUOTE_FIELD_SET: FieldSet<QuoteField> = {
  allowed: QUOTE_FIELDS,
  defaults: QUOTE_FIELDS,
};

/**
 * `fields=open,close` -> ['timestamp', 'open', 'close'] in response order,
 * for every data kind (bars when `set` is not given); unknown names are a
 * 400; none asked for: the kind's defaults.
 */
export function parseFields(fields: string | undefined): PointField[];
export function parseFields<F extends string>(fields: string | undefined, set: FieldSet<F>): F[];
export function parseFields(
  fields: string | undefined,
  set: FieldSet<string> = BAR_FIELD_SET,
): string[] {
  if (fields === undefined || fields.trim() === '') return [...set.defaults];
  const known = new Set<string>(set.allowed);
  const wanted = new Set<string>(['timestamp']);
  for (const raw of fields.split(',')) {
    const name = raw.trim();
    if (!known.has(name)) {
      throw new InvalidRequestError(
        'fields',
        `has unknown field "${name.slice(0, 40)}"; allowed: ${set.allowed.join(', ')}`,
      );
    }
    wanted.add(name);
  }
  return set.allowed.filter((f) => wanted.has(f));
}
