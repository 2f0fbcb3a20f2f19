import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ApiKeysService } from './api-keys.service';
import { REQUIRED_SCOPE } from './require-scope.decorator';
import type { ApiScope } from './security-settings';

export const API_KEY_HEADER = 'x-api-key';

/** Routes whose default scope is `read`; everything else is open unless annotated. */
export function isApiRoute(routePath: string | undefined): boolean {
  return routePath !== undefined && routePath.startsWith('/api/v1/');
}

/**
 * The scope of a route without @RequireScope: admin for the maintenance
 * endpoints (a safety net should their controller miss its annotation), read
 * for the rest of /api/v1, none elsewhere (probes, metrics).
 */
export function defaultScopeOf(routePath: string | undefined): ApiScope | undefined {
  if (!isApiRoute(routePath)) return undefined;
  return routePath!.startsWith('/api/v1/storage/maintenance') ? 'admin' : 'read';
}

/** The route pattern the request matched (`/api/v1/storage/instruments/:instrument_id`). */
export function routePathOf(request: FastifyRequest): string | undefined {
  return request.routeOptions?.url;
}

/**
 * Global guard: the scope a route needs is its @RequireScope, else its
 * default (defaultScopeOf). 401 for a missing or unknown key, 403 for a key
 * without the scope. Event transports are not HTTP and pass: their security
 * is the bus's (docs/security.md).
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysService,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http' || !this.keys.enabled) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const required =
      this.reflector.getAllAndOverride<ApiScope | undefined>(REQUIRED_SCOPE, [
        context.getHandler(),
        context.getClass(),
      ]) ?? defaultScopeOf(routePathOf(request));
    if (required === undefined) return true;
    const principal = this.keys.resolve(request.headers[API_KEY_HEADER]);
    if (!principal) {
      throw new UnauthorizedException(
        `A valid API key is required in the ${API_KEY_HEADER} header`,
      );
    }
    if (!principal.scopes.has(required)) {
      throw new ForbiddenException(`This API key lacks the ${required} scope`);
    }
    return true;
  }
}
