import { ExecutionContext, ForbiddenException, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { loadSettings } from '../settings/settings';
import { ApiKeyGuard } from './api-key.guard';
import { ApiKeysService } from './api-keys.service';
import { REQUIRED_SCOPE } from './require-scope.decorator';
import type { ApiScope } from './security-settings';

const KEYS = 'reader=read,writer=read+write,boss=admin';

function keysService(apiKeys = KEYS): ApiKeysService {
  return new ApiKeysService(loadSettings({ API_KEYS: apiKeys }));
}

/** An HTTP context for a route pattern, an x-api-key and a handler annotated with `scope`. */
function httpContext(route: string, key?: string, scope?: ApiScope): ExecutionContext {
  const handler = () => undefined;
  if (scope) Reflect.defineMetadata(REQUIRED_SCOPE, scope, handler);
  const request = { routeOptions: { url: route }, headers: key ? { 'x-api-key': key } : {} };
  return {
    getType: () => 'http',
    getHandler: () => handler,
    getClass: () => class Controller {},
    switchToHttp: () => ({ getRequest: () => request }),
  } as unknown as ExecutionContext;
}

function outcome(guard: ApiKeyGuard, context: ExecutionContext): string {
  try {
    return guard.canActivate(context) ? 'allowed' : 'denied';
  } catch (error) {
    if (error instanceof UnauthorizedException) return '401';
    if (error instanceof ForbiddenException) return '403';
    throw error;
  }
}

describe('ApiKeysService', () => {
  describe('resolve', () => {
    it('should find the configured key and its scopes', () => {
      const principal = keysService().resolve('writer');

      expect(principal && [...principal.scopes].sort()).toEqual(['read', 'write']);
    });

    it.each([undefined, '', 'Writer', 'writer ', 'write', ['writer'], 42])(
      'should not resolve %p',
      (presented) => {
        expect(keysService().resolve(presented)).toBeUndefined();
      },
    );
  });
});

describe('ApiKeyGuard', () => {
  const guard = new ApiKeyGuard(new Reflector(), keysService());

  it.each([
    ['/api/v1/storage/query', undefined, undefined, '401'],
    ['/api/v1/storage/query', 'nope', undefined, '401'],
    ['/api/v1/storage/query', 'reader', undefined, 'allowed'],
    ['/api/v1/storage/store', 'reader', 'write', '403'],
    ['/api/v1/storage/store', 'writer', 'write', 'allowed'],
    ['/api/v1/storage/store', 'boss', 'write', 'allowed'],
    ['/api/v1/storage/configurations', 'writer', 'admin', '403'],
    ['/api/v1/storage/configurations', 'boss', 'admin', 'allowed'],
    ['/health/live', undefined, undefined, 'allowed'],
    ['/metrics', undefined, undefined, 'allowed'],
    ['/health/ready', 'nope', undefined, 'allowed'],
    ['/internal/annotated', undefined, 'admin', '401'],
    ['/api/v1/storage/maintenance/compress', 'writer', undefined, '403'],
    ['/api/v1/storage/maintenance/compress', 'boss', undefined, 'allowed'],
  ])('should answer %s with key %p needing %p: %s', (route, key, scope, expected) => {
    expect(outcome(guard, httpContext(route, key, scope as ApiScope | undefined))).toBe(expected);
  });

  it('should let every request through when no key is configured', () => {
    const open = new ApiKeyGuard(new Reflector(), keysService(''));

    expect(outcome(open, httpContext('/api/v1/storage/store', undefined, 'write'))).toBe('allowed');
  });

  it('should leave event handlers (not HTTP) to the bus', () => {
    const rpc = { ...httpContext('/x', undefined, 'write'), getType: () => 'rpc' };

    expect(outcome(guard, rpc as unknown as ExecutionContext)).toBe('allowed');
  });
});
