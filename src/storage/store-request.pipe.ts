import { Inject, Injectable, PipeTransform } from '@nestjs/common';
import { validate } from 'class-validator';
import { InvalidRequestError, PayloadTooLargeError } from '../common/errors';
import { toInvalidRequestError } from '../common/validation';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import type { StoreRequest } from './dto/store-request.dto';
import { StoreRequestDto } from './dto/store-request.dto';

const STORE_REQUEST_KEYS = new Set([
  'instrument_id',
  'timeframe',
  'data_type',
  'compression',
  'data_points',
]);

/**
 * Validates the envelope of a store request without class-transformer:
 * copying 100,000 points into class instances would cost more than storing them.
 */
@Injectable()
export class StoreRequestPipe implements PipeTransform<unknown, Promise<StoreRequest>> {
  constructor(@Inject(SETTINGS) private readonly settings: Settings) {}

  async transform(body: unknown): Promise<StoreRequest> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new InvalidRequestError('body', 'must be a JSON object (a StorageRequest)');
    }
    // Copy only the known keys: a key such as "constructor" must not reach the instance.
    const dto = new StoreRequestDto();
    for (const [key, value] of Object.entries(body)) {
      if (!STORE_REQUEST_KEYS.has(key))
        throw new InvalidRequestError(key, 'is not an accepted field');
      (dto as unknown as Record<string, unknown>)[key] = value;
    }
    const errors = await validate(dto);
    if (errors.length > 0) throw toInvalidRequestError(errors);
    if (dto.data_points.length > this.settings.maxPointsPerRequest) {
      throw new PayloadTooLargeError(
        `data_points holds ${dto.data_points.length} points; at most ${this.settings.maxPointsPerRequest} per request`,
      );
    }
    return dto;
  }
}
