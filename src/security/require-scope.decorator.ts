import { SetMetadata } from '@nestjs/common';
import type { ApiScope } from './security-settings';

export const REQUIRED_SCOPE = 'security:requiredScope';

/**
 * The scope a controller or handler needs (a handler's overrides its
 * controller's). Without it, routes under /api/v1 need `read` and others are
 * open (probes, metrics): see ApiKeyGuard.
 */
export const RequireScope = (scope: ApiScope) => SetMetadata(REQUIRED_SCOPE, scope);
