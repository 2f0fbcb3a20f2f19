import { ApiProperty } from '@nestjs/swagger';
import { registerDecorator, ValidationArguments } from 'class-validator';

/** The longest history one request may ask for: ten years and change. */
export const MAX_HISTORY_DAYS = 3660;

const DAY_MS = 86_400_000;

/** Milliseconds of a real calendar day written 'YYYY-MM-DD', or null. */
export function parseDay(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const ms = Date.UTC(year, month - 1, day);
  const date = new Date(ms);
  // Date.UTC rolls 2025-02-30 over to March: a real day survives the round trip.
  return date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day
    ? ms
    : null;
}

function IsDay(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isDay',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate: (value: unknown) => parseDay(value) !== null,
        defaultMessage: (args) =>
          args?.value === undefined || args.value === ''
            ? 'is required'
            : 'must be a calendar day as YYYY-MM-DD, e.g. 2026-11-26',
      },
    });
}

/** On `to`: not before `from`, and at most MAX_HISTORY_DAYS days from it (both counted). */
function IsRangeEndFrom(startProperty: string): PropertyDecorator {
  const daysOf = (args: ValidationArguments) => {
    const from = parseDay((args.object as Record<string, unknown>)[startProperty]);
    const to = parseDay(args.value);
    // A malformed bound is reported by its own rule.
    return from === null || to === null ? null : (to - from) / DAY_MS + 1;
  };
  return (target, propertyName) =>
    registerDecorator({
      name: 'isRangeEnd',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate: (_value: unknown, args: ValidationArguments) => {
          const days = daysOf(args);
          return days === null || (days >= 1 && days <= MAX_HISTORY_DAYS);
        },
        defaultMessage: (args: ValidationArguments) =>
          (daysOf(args) ?? 0) < 1
            ? `must not be before ${startProperty}`
            : `must be at most ${MAX_HISTORY_DAYS} days from ${startProperty}`,
      },
    });
}

export class StatisticsHistoryRequestDto {
  @ApiProperty({ example: '2026-11-01', description: 'First day (UTC), inclusive' })
  @IsDay()
  from: string;

  @ApiProperty({
    example: '2026-11-30',
    description: `Last day (UTC), inclusive; at most ${MAX_HISTORY_DAYS} days from \`from\``,
  })
  @IsDay()
  @IsRangeEndFrom('from')
  to: string;
}
