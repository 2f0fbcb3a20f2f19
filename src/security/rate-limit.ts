import { ExecutionContext } from '@nestjs/common';
import { normalizeIp, ThrottlerModuleOptions } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import type { Settings } from '../settings/settings';
import { API_KEY_HEADER, isApiRoute, routePathOf } from './api-key.guard';
import { ApiKeysService } from './api-keys.service';

/**
 * Per-client rate limit on the /api/v1 routes (probes, metrics and docs are
 * not limited). The client is the API key when it is a configured one, else
 * the remote address: a flood of wrong keys is limited per address. One
 * budget per client across all routes. 429 with Retry-After (seconds).
 */
export function rateLimitOptions(settings: Settings): ThrottlerModuleOptions {
  const { rateLimitRequests, rateLimitWindowMs } = settings.security;
  const keys = new ApiKeysService(settings);
  return {
    throttlers: [{ limit: rateLimitRequests, ttl: rateLimitWindowMs }],
    skipIf: (context: ExecutionContext) =>
      rateLimitRequests === 0 ||
      context.getType() !== 'http' ||
      !isApiRoute(routePathOf(context.switchToHttp().getRequest<FastifyRequest>())),
    getTracker: (req: Record<string, unknown>) => {
      const request = req as unknown as FastifyRequest;
      const principal = keys.resolve(request.headers[API_KEY_HEADER]);
      return principal ? principal.label : `ip-${normalizeIp(request.ip)}`;
    },
    generateKey: (_context, tracker, name) => `${name}:${tracker}`,
    errorMessage: (_context, detail) =>
      `Too many requests: at most ${detail.limit} per ${rateLimitWindowMs / 1000} s; retry after ${detail.timeToBlockExpire} s`,
  };
}
