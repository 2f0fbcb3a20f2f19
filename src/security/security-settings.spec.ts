import { InvalidSettingError, loadSettings } from '../settings/settings';
import { digestOf, parseApiKeys } from './security-settings';

function refusal(env: Record<string, string>): InvalidSettingError {
  try {
    loadSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidSettingError);
    return error as InvalidSettingError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('parseApiKeys', () => {
  it('should read keys with their scopes, admin implying write and read, write implying read', () => {
    const keys = parseApiKeys('k1=read,k2=read+write,k3=admin, k4 = write ', false);

    expect(keys.map((k) => [...k.scopes].sort())).toEqual([
      ['read'],
      ['read', 'write'],
      ['admin', 'read', 'write'],
      ['read', 'write'],
    ]);
    expect(keys.map((k) => k.digest)).toEqual(['k1', 'k2', 'k3', 'k4'].map(digestOf));
  });

  it('should keep only digests and labels, never the key itself', () => {
    const [key] = parseApiKeys('super-secret-key-value=read', false);

    expect(JSON.stringify({ ...key, scopes: [...(key?.scopes ?? [])] })).not.toContain(
      'super-secret',
    );
    expect(key?.label).toMatch(/^key-[0-9a-f]{8}$/);
  });

  it('should answer no keys (authentication off) when unset or blank outside production', () => {
    expect(parseApiKeys(undefined, false)).toEqual([]);
    expect(parseApiKeys('  ', false)).toEqual([]);
  });
});

describe('loadSettings with API_KEYS', () => {
  it('should refuse to start in production without keys, in one line naming API_KEYS', () => {
    const error = refusal({ NODE_ENV: 'production' });

    expect(error.variable).toBe('API_KEYS');
    expect(error.message).toBe(
      'Invalid setting API_KEYS: must be set when NODE_ENV=production (API_KEYS=<key>=read,<key>=read+write,<key>=admin); the API would otherwise be open',
    );
    expect(error.message).not.toContain('\n');
  });

  it('should refuse short keys in production', () => {
    const error = refusal({ NODE_ENV: 'production', API_KEYS: 'k1=admin' });

    expect(error.message).toContain('at least 16 characters');
    expect(error.message).not.toContain('k1');
  });

  it.each([
    ['k1', 'entry 1 is not <key>=<scopes>'],
    ['k1=', 'entry 1 is not <key>=<scopes>'],
    ['=read', 'entry 1 is not <key>=<scopes>'],
    ['k1=read,,k2=read', 'entry 2 is not <key>=<scopes>'],
    ['k1=read,k2=owner', 'entry 2: scope "owner" is not one of read, write, admin'],
    ['k1=read+', 'entry 1: scope "" is not one of read, write, admin'],
    ['k 1=read', 'entry 1: a key is visible ASCII without spaces'],
    ['k1=read,k1=admin', 'entry 2 repeats an earlier key'],
  ])('should refuse API_KEYS=%p', (value, reason) => {
    const error = refusal({ API_KEYS: value });

    expect(error.variable).toBe('API_KEYS');
    expect(error.message).toContain(reason);
  });

  it.each([
    ['RATE_LIMIT_REQUESTS', '100001', '100001 is outside 0..100000'],
    ['RATE_LIMIT_WINDOW_MS', '999', '999 is outside 1000..3600000'],
    ['MAX_QUERY_RANGE_DAYS', '0', '0 is outside 1..110000'],
  ])('should refuse %s=%s', (variable, value, reason) => {
    expect(refusal({ [variable]: value }).message).toBe(`Invalid setting ${variable}: ${reason}`);
  });
});
