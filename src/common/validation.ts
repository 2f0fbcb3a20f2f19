import { ValidationError, ValidationPipe } from '@nestjs/common';
import { registerDecorator, ValidationOptions } from 'class-validator';
import { InvalidRequestError } from './errors';
import { parseIsoInstant } from './time';

/** The first constraint of the first failing property, as one domain error naming the field. */
export function toInvalidRequestError(errors: ValidationError[]): InvalidRequestError {
  let error = errors[0];
  if (!error) return new InvalidRequestError('body', 'is invalid');
  let path = error.property;
  for (let child = error.children?.[0]; !error.constraints && child; child = error.children?.[0]) {
    error = child;
    path = `${path}.${error.property}`;
  }
  if (error.constraints?.whitelistValidation)
    return new InvalidRequestError(path, 'is not an accepted field');
  const message = firstByKind(error.constraints ?? {}) ?? 'is invalid';
  // class-validator messages start with the property name; keep only the reason.
  const reason = message.startsWith(`${error.property} `)
    ? message.slice(error.property.length + 1)
    : message;
  // A field that is not there is missing: say so first, then what it takes.
  if (error.value === undefined || error.value === '')
    return new InvalidRequestError(
      path,
      reason === 'is required' ? reason : `is required (${reason})`,
    );
  return new InvalidRequestError(path, reason);
}

/**
 * Constraint kinds in the order a reason is told: what the value is (a
 * number, one of a list) before its bounds, so that `limit=abc` is "must be
 * a whole number", not "must be at most 100000" (class-validator lists
 * every failed constraint, in decorator order).
 */
const KIND_FIRST = ['isInt', 'isNumber', 'isEnum', 'isString', 'isBoolean', 'isArray', 'isInstant'];

function firstByKind(constraints: Record<string, string>): string | undefined {
  const kind = KIND_FIRST.find((name) => name in constraints);
  return kind ? constraints[kind] : Object.values(constraints)[0];
}

/** Query-string DTOs: strings converted to their declared types, unknown parameters refused. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    exceptionFactory: toInvalidRequestError,
  });
}

/** An ISO-8601 instant with an explicit zone (Z or ±hh:mm), a real calendar date. */
export function IsInstant(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isInstant',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => parseIsoInstant(value) !== null,
        defaultMessage: (args) =>
          args?.value === undefined || args.value === ''
            ? 'is required'
            : 'must be an ISO-8601 time with a zone, e.g. 2025-06-21T10:00:00Z',
      },
    });
}
