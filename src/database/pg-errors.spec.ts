import { DatabaseUnavailableError } from '../common/errors';
import { translatePgErrors } from './pg-errors';

/** What translatePgErrors makes of `error`. */
async function translated(error: Error): Promise<unknown> {
  return translatePgErrors(() => Promise.reject(error)).catch((e: unknown) => e);
}

describe('translatePgErrors', () => {
  it('should say the database is busy when no pooled connection came free in time', async () => {
    const error = await translated(new Error('timeout exceeded when trying to connect'));
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect(error).toMatchObject({
      reason: 'busy',
      message: expect.stringMatching(/^The database is busy/),
    });
  });

  it.each([
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    ],
    ['a new connection timing out', new Error('Connection terminated due to connection timeout')],
    [
      'a server shutting down',
      Object.assign(new Error('terminating connection'), { code: '57P01' }),
    ],
  ])('should say the database is unavailable on %s', async (_label, cause) => {
    const error = await translated(cause);
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect(error).toMatchObject({
      reason: 'unreachable',
      message: 'The database is unavailable; retry shortly',
      cause,
    });
  });

  it('should pass any other error through unchanged', async () => {
    const other = Object.assign(new Error('duplicate key'), { code: '23505' });
    await expect(translated(other)).resolves.toBe(other);
  });
});
