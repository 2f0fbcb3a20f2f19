/**
 * Reading one environment variable: a value, a checked one, or an
 * InvalidSettingError naming the variable. Shared by the service's settings
 * and the security settings.
 */

/** A setting with a bad value; main.ts prints its message as one line and exits. */
export class InvalidSettingError extends Error {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`Invalid setting ${variable}: ${reason}`);
  }
}

export type Env = Record<string, string | undefined>;

export function text(env: Env, name: string, fallback: string): string {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? fallback : value;
}

export function integer(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new InvalidSettingError(name, `"${raw}" is not a whole number`);
  const value = Number(raw);
  if (value < min || value > max) {
    throw new InvalidSettingError(name, `${value} is outside ${min}..${max}`);
  }
  return value;
}

/** A decimal like `1.1` or `4` within min..max. */
export function decimal(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+(\.\d+)?$/.test(raw)) throw new InvalidSettingError(name, `"${raw}" is not a decimal`);
  const value = Number(raw);
  if (value < min || value > max) {
    throw new InvalidSettingError(name, `${value} is outside ${min}..${max}`);
  }
  return value;
}

export function oneOf<T extends string>(
  env: Env,
  name: string,
  fallback: T,
  allowed: readonly T[],
): T {
  const value = text(env, name, fallback);
  if (!allowed.includes(value as T)) {
    throw new InvalidSettingError(name, `"${value}" is not one of ${allowed.join(', ')}`);
  }
  return value as T;
}

export function url(
  env: Env,
  name: string,
  protocols: string[],
  example: string,
): string | undefined {
  const value = env[name]?.trim();
  if (!value) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new InvalidSettingError(name, `is not a URL (${example})`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new InvalidSettingError(
      name,
      `protocol "${parsed.protocol}" is not ${protocols.join(' or ')}`,
    );
  }
  return value;
}

/** 0 turns a periodic job off; otherwise at least a second, at most a day. */
export function refreshInterval(env: Env, name: string, fallback: number): number {
  const value = integer(env, name, fallback, 0, 86_400_000);
  if (value > 0 && value < 1000) {
    throw new InvalidSettingError(name, `${value} must be 0 (off) or at least 1000`);
  }
  return value;
}

export function matching(
  env: Env,
  name: string,
  fallback: string,
  pattern: RegExp,
  rule: string,
): string {
  const value = env[name]?.trim() ?? '';
  if (value === '') return fallback;
  if (!pattern.test(value)) throw new InvalidSettingError(name, `"${value}" is not ${rule}`);
  return value;
}
