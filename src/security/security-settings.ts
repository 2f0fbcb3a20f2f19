import { createHash } from 'node:crypto';
import { Env, integer, InvalidSettingError } from '../settings/setting-values';

/** What an API key may do; admin implies write, write does not imply admin. */
export type ApiScope = 'read' | 'write' | 'admin';
export const API_SCOPES: readonly ApiScope[] = ['read', 'write', 'admin'];

export interface ApiKeySetting {
  /** sha256 of the key: only the digest is kept after start-up, and compared. */
  readonly digest: Buffer;
  /** Names the key in logs and rate-limit buckets without revealing it: `key-<first 8 hex of digest>`. */
  readonly label: string;
  readonly scopes: ReadonlySet<ApiScope>;
}

export interface SecuritySettings {
  /** Empty: authentication is off (refused when NODE_ENV=production). */
  readonly apiKeys: readonly ApiKeySetting[];
  /** Requests per client (API key, or IP when keys are off) per window; 0: no rate limit. */
  readonly rateLimitRequests: number;
  readonly rateLimitWindowMs: number;
  /** Longest [start_time, end_time) a query or an integrity check may span. */
  readonly maxQueryRangeDays: number;
}

/** A key is any visible ASCII except the separators of API_KEYS. */
const KEY_PATTERN = /^[\x21-\x7e]+$/;
const MIN_PRODUCTION_KEY_LENGTH = 16;
const EXAMPLE = 'API_KEYS=<key>=read,<key>=read+write,<key>=admin';

export function digestOf(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** admin implies every scope, write implies read. */
function impliedScopes(scopes: readonly ApiScope[]): Set<ApiScope> {
  const all = new Set<ApiScope>(scopes);
  if (all.has('admin')) all.add('write');
  if (all.has('write')) all.add('read');
  return all;
}

/**
 * `API_KEYS=k1=read,k2=read+write,k3=admin`. Messages never repeat a key,
 * only its position in the list.
 */
export function parseApiKeys(raw: string | undefined, production: boolean): ApiKeySetting[] {
  const value = raw?.trim() ?? '';
  if (value === '') {
    if (production) {
      throw new InvalidSettingError(
        'API_KEYS',
        `must be set when NODE_ENV=production (${EXAMPLE}); the API would otherwise be open`,
      );
    }
    return [];
  }
  const seen = new Set<string>();
  return value.split(',').map((entry, index) => {
    const where = `entry ${index + 1}`;
    const separator = entry.lastIndexOf('=');
    const key = entry.slice(0, Math.max(separator, 0)).trim();
    const scopeText = separator < 0 ? '' : entry.slice(separator + 1).trim();
    if (key === '' || scopeText === '') {
      throw new InvalidSettingError('API_KEYS', `${where} is not <key>=<scopes> (${EXAMPLE})`);
    }
    if (!KEY_PATTERN.test(key) || key.includes('=')) {
      throw new InvalidSettingError(
        'API_KEYS',
        `${where}: a key is visible ASCII without spaces, "," or "="`,
      );
    }
    if (production && key.length < MIN_PRODUCTION_KEY_LENGTH) {
      throw new InvalidSettingError(
        'API_KEYS',
        `${where}: keys must be at least ${MIN_PRODUCTION_KEY_LENGTH} characters when NODE_ENV=production (e.g. openssl rand -hex 32)`,
      );
    }
    const scopes = scopeText.split('+').map((s) => s.trim());
    for (const scope of scopes) {
      if (!API_SCOPES.includes(scope as ApiScope)) {
        throw new InvalidSettingError(
          'API_KEYS',
          `${where}: scope "${scope.slice(0, 20)}" is not one of ${API_SCOPES.join(', ')} (join several with +)`,
        );
      }
    }
    const digest = digestOf(key);
    const hex = digest.toString('hex');
    if (seen.has(hex)) throw new InvalidSettingError('API_KEYS', `${where} repeats an earlier key`);
    seen.add(hex);
    return {
      digest,
      label: `key-${hex.slice(0, 8)}`,
      scopes: impliedScopes(scopes as ApiScope[]),
    };
  });
}

export function loadSecuritySettings(env: Env, nodeEnv: string): SecuritySettings {
  return {
    apiKeys: parseApiKeys(env.API_KEYS, nodeEnv === 'production'),
    // The limiter keeps one timestamp per counted request: the bound keeps that small.
    rateLimitRequests: integer(env, 'RATE_LIMIT_REQUESTS', 1_000, 0, 100_000),
    rateLimitWindowMs: integer(env, 'RATE_LIMIT_WINDOW_MS', 1_000, 1_000, 3_600_000),
    maxQueryRangeDays: integer(env, 'MAX_QUERY_RANGE_DAYS', 3_660, 1, 110_000),
  };
}
