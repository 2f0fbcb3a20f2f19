import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, getSchemaPath, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { APP_VERSION } from './common/app-version';
import { ErrorResponseDto } from './common/error-response.dto';
import { isApiRoute } from './security/api-key.guard';

/** The error answers an operation can give, by what it is (see completeErrorResponses). */
const ERROR_RESPONSES = {
  400: 'A parameter or body field is invalid; `field` names it and `message` says what to send',
  401: 'Missing or unknown `x-api-key` (when API keys are configured)',
  403: 'The key lacks the scope this operation needs',
  413: 'Body above BODY_LIMIT_BYTES (a store: or more points than MAX_POINTS_PER_REQUEST)',
  415: 'The body is not sent as `application/json`',
  429: 'Rate limit passed; `Retry-After` says when to retry',
  503: 'The database is unavailable, or busy (no pooled connection came free within DB_POOL_WAIT_MS); `Retry-After` says when to retry',
} as const;

type ErrorStatus = keyof typeof ERROR_RESPONSES;

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

type OperationObject = NonNullable<OpenAPIObject['paths'][string]['get']>;

/** The OpenAPI document of /api/docs, generated from the DTOs and completed with every error answer. */
export function createApiDocument(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Market data storage')
      .setDescription(
        'Store and read OHLCV bars, trades and quotes by instrument, timeframe and time range',
      )
      .setVersion(APP_VERSION)
      // The x-api-key header (src/security); probes, metrics and these docs need none.
      .addApiKey({ type: 'apiKey', name: 'x-api-key', in: 'header' }, 'api-key')
      .addSecurityRequirements('api-key')
      .build(),
    { extraModels: [ErrorResponseDto] },
  );
  for (const [path, item] of Object.entries(document.paths))
    for (const method of METHODS) {
      const operation = item[method];
      if (operation) completeErrorResponses(path, operation);
    }
  return document;
}

/**
 * Every answer the service can give, in the one error shape: the key, the
 * rate limit and the database apply to every /api/v1 operation; validation
 * to every one that takes input; the body limits to every one with a body.
 * Probes and /metrics need no key (security: none).
 */
function completeErrorResponses(path: string, operation: OperationObject): void {
  const statuses: ErrorStatus[] = [];
  const takesInput = Boolean(operation.parameters?.length || operation.requestBody);
  if (takesInput) statuses.push(400);
  if (operation.requestBody) statuses.push(413, 415);
  if (isApiRoute(path)) statuses.push(401, 403, 429, 503);
  else operation.security = [];
  const responses = operation.responses;
  for (const status of statuses) responses[status] ??= { description: ERROR_RESPONSES[status] };
  for (const [status, response] of Object.entries(responses)) {
    if (Number(status) < 400 || !response || '$ref' in response) continue;
    // The error shape on every error answer, also those a controller declared (404, 503 ...).
    if (!response.content && !isProbe(path))
      response.content = {
        'application/json': { schema: { $ref: getSchemaPath(ErrorResponseDto) } },
      };
  }
}

/** A probe's 503 is its health report, not an error body. */
function isProbe(path: string): boolean {
  return path.startsWith('/health/');
}
