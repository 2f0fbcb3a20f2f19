import { request, startTestApp, TestApp } from './support/test-app';
import { ENGINES } from './support/test-database';

type Responses = Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
interface Operation {
  readonly parameters?: unknown[];
  readonly requestBody?: unknown;
  readonly responses: Responses;
  readonly security?: unknown[];
}

const ERROR_SCHEMA = '#/components/schemas/ErrorResponseDto';

describe.each(ENGINES)('the OpenAPI document on %s', (engine) => {
  let service: TestApp;
  let operations: { name: string; path: string; operation: Operation }[];

  beforeAll(async () => {
    service = await startTestApp(engine, { API_KEYS: 'reader=read' });
    const document = (await request(service.baseUrl, 'GET', '/api/docs-json')).body as {
      paths: Record<string, Record<string, Operation>>;
    };
    operations = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({
        name: `${method.toUpperCase()} ${path}`,
        path,
        operation,
      })),
    );
  });

  afterAll(async () => {
    await service?.close();
  });

  const errorsOf = (operation: Operation) =>
    Object.entries(operation.responses)
      .filter(([status]) => Number(status) >= 400)
      .map(([status, response]) => [status, response.content?.['application/json']?.schema?.$ref]);

  it('should list on every /api/v1 operation the key, rate-limit and database errors in the error shape', () => {
    const api = operations.filter((o) => o.path.startsWith('/api/v1/'));
    expect(api.length).toBeGreaterThan(10);
    for (const { name, operation } of api) {
      const errors = Object.fromEntries(errorsOf(operation));
      for (const status of ['401', '403', '429', '503'])
        expect({ name, status, has: status in errors }).toEqual({ name, status, has: true });
      expect({ name, ref: errors['401'] }).toEqual({ name, ref: ERROR_SCHEMA });
    }
  });

  it('should list 400 where an operation takes input, and 413 and 415 where it takes a body', () => {
    for (const { name, operation } of operations) {
      const statuses = Object.keys(operation.responses);
      if (operation.parameters?.length || operation.requestBody)
        expect({ name, has400: statuses.includes('400') }).toEqual({ name, has400: true });
      if (operation.requestBody)
        expect({ name, statuses: statuses.filter((s) => s === '413' || s === '415') }).toEqual({
          name,
          statuses: ['413', '415'],
        });
    }
  });

  it('should show the probes and /metrics as open, and answer them without a key', async () => {
    const open = operations.filter((o) => !o.path.startsWith('/api/'));
    expect(open.map((o) => o.name).sort()).toEqual([
      'GET /health/live',
      'GET /health/ready',
      'GET /metrics',
    ]);
    for (const { path, operation } of open) {
      expect(operation.security).toEqual([]);
      expect((await request(service.baseUrl, 'GET', path)).status).toBe(200);
    }
    // And the rest needs one: the document says what the service does.
    expect((await request(service.baseUrl, 'GET', '/api/v1/storage/statistics')).status).toBe(401);
  });

  it('should describe the error answers as the service sends them', async () => {
    const document = (await request(service.baseUrl, 'GET', '/api/docs-json')).body as {
      components: {
        schemas: Record<string, { properties: Record<string, unknown>; required: string[] }>;
      };
    };
    const schema = document.components.schemas.ErrorResponseDto;
    const answer = await request(
      service.baseUrl,
      'GET',
      '/api/v1/storage/query?instrument_id=A&timeframe=ONE_MINUTE&start_time=x&end_time=y',
      undefined,
      { 'x-api-key': 'reader' },
    );
    expect(answer.status).toBe(400);
    expect(Object.keys(answer.body as object).sort()).toEqual(
      Object.keys(schema.properties).sort(),
    );
    expect(schema.required.sort()).toEqual(['error', 'message', 'statusCode']);
  });
});
