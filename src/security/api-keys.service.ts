import { Inject, Injectable } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';
import { ApiKeySetting, ApiScope, digestOf } from './security-settings';

/** The configured key a request presented. */
export interface ApiPrincipal {
  readonly label: string;
  readonly scopes: ReadonlySet<ApiScope>;
}

/**
 * Resolves a presented `x-api-key`. Both sides are hashed to 32 bytes and
 * compared with timingSafeEqual against every configured key, without an early
 * exit, so the time taken says nothing about how close a guess was or which
 * key matched.
 */
@Injectable()
export class ApiKeysService {
  private readonly keys: readonly ApiKeySetting[];

  constructor(@Inject(SETTINGS) settings: Settings) {
    this.keys = settings.security.apiKeys;
  }

  /** False: authentication is off and every route is open (development only). */
  get enabled(): boolean {
    return this.keys.length > 0;
  }

  resolve(presented: unknown): ApiPrincipal | undefined {
    if (typeof presented !== 'string' || presented === '') return undefined;
    const digest = digestOf(presented);
    let found: ApiKeySetting | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(digest, key.digest) && found === undefined) found = key;
    }
    return found && { label: found.label, scopes: found.scopes };
  }
}
