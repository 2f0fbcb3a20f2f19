import { InvalidRequestError } from '../../common/errors';
import { createValidationPipe } from '../../common/validation';
import { parseDay, StatisticsHistoryRequestDto } from './statistics-history-request.dto';

async function validate(query: Record<string, unknown>): Promise<StatisticsHistoryRequestDto> {
  return (await createValidationPipe().transform(query, {
    type: 'query',
    metatype: StatisticsHistoryRequestDto,
  })) as StatisticsHistoryRequestDto;
}

async function refusalOf(query: Record<string, unknown>): Promise<InvalidRequestError> {
  try {
    await validate(query);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError);
    return error as InvalidRequestError;
  }
  throw new Error(`expected ${JSON.stringify(query)} to be refused`);
}

describe('parseDay', () => {
  it.each([
    ['2026-11-26', Date.UTC(2026, 10, 26)],
    ['2024-02-29', Date.UTC(2024, 1, 29)],
    ['1970-01-01', 0],
  ])('should read %s as its UTC midnight', (day, ms) => {
    expect(parseDay(day)).toBe(ms);
  });

  it.each(['2025-02-29', '2026-13-01', '2026-11-31', '2026-1-5', '2026-11-26T00:00:00Z', 20261126])(
    'should refuse %p',
    (value) => {
      expect(parseDay(value)).toBeNull();
    },
  );
});

describe('StatisticsHistoryRequestDto', () => {
  it('should accept a range of days', async () => {
    await expect(validate({ from: '2026-11-01', to: '2026-11-30' })).resolves.toEqual({
      from: '2026-11-01',
      to: '2026-11-30',
    });
  });

  it('should accept one day and the longest range', async () => {
    await expect(validate({ from: '2026-11-26', to: '2026-11-26' })).resolves.toMatchObject({
      to: '2026-11-26',
    });
    // 2016-12-06 .. 2026-12-13 counts 3660 days, both ends included.
    await expect(validate({ from: '2016-12-06', to: '2026-12-13' })).resolves.toMatchObject({
      from: '2016-12-06',
    });
  });

  it.each([
    [{ to: '2026-11-30' }, 'from', 'from is required'],
    [{ from: '2026-11-01' }, 'to', 'to is required'],
    [{ from: '', to: '2026-11-30' }, 'from', 'from is required'],
    [
      { from: '2026-11-01', to: '30.11.2026' },
      'to',
      'to must be a calendar day as YYYY-MM-DD, e.g. 2026-11-26',
    ],
    [
      { from: '2025-02-29', to: '2026-11-30' },
      'from',
      'from must be a calendar day as YYYY-MM-DD, e.g. 2026-11-26',
    ],
    [{ from: '2026-11-30', to: '2026-11-29' }, 'to', 'to must not be before from'],
    [{ from: '2016-12-06', to: '2026-12-14' }, 'to', 'to must be at most 3660 days from from'],
    [
      { from: '2026-11-01', to: '2026-11-30', limit: '5' },
      'limit',
      'limit is not an accepted field',
    ],
  ])('should refuse %p naming %s', async (query, field, message) => {
    const error = await refusalOf(query);

    expect(error.field).toBe(field);
    expect(error.message).toBe(message);
  });
});
