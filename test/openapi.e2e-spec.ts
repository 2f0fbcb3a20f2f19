import { request, startTestApp, TestApp } from './support/test-app';
import { ENGINES } from './support/test-database';

type Responses = Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
interface Parameter {
  readonly name: string;
  readonly in: string;
  readonly required?: boolean;
}
interface Schema {
  readonly type?: string;
  readonly $ref?: string;
  readonly oneOf?: unknown[];
  readonly enum?: unknown[];
  readonly items?: Schema;
  readonly properties?: Record<string, Schema>;
  readonly additionalProperties?: unknown;
  readonly required?: string[];
}
interface Operation {
  readonly parameters?: Parameter[];
  readonly requestBody?: {
    content: Record<string, { examples?: Record<string, { value: unknown }> }>;
  };
  readonly responses: Responses;
  readonly security?: unknown[];
}

const ERROR_SCHEMA = '#/components/schemas/ErrorResponseDto';

describe.each(ENGINES)('the OpenAPI document on %s', (engine) => {
  let service: TestApp;
  let operations: { name: string; path: string; operation: Operation }[];
  let schemas: Record<string, Schema>;

  beforeAll(async () => {
    service = await startTestApp(engine, { API_KEYS: 'reader=read,writer=write' });
    const document = (await request(service.baseUrl, 'GET', '/api/docs-json')).body as {
      paths: Record<string, Record<string, Operation>>;
      components: { schemas: Record<string, Schema> };
    };
    schemas = document.components.schemas;
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

  it('should give every property of every schema a type a client generator can use', () => {
    // `X | null` without an explicit type is emitted as `type: object`.
    const untyped: string[] = [];
    const visit = (where: string, schema: Schema) => {
      if (schema.$ref || schema.oneOf || schema.enum) return;
      if (schema.type === undefined) untyped.push(`${where}: no type`);
      if (schema.type === 'array' && schema.items) visit(`${where}[]`, schema.items);
      if (schema.type === 'object') {
        if (!schema.properties && schema.additionalProperties === undefined)
          untyped.push(`${where}: object without properties`);
        for (const [name, property] of Object.entries(schema.properties ?? {}))
          visit(`${where}.${name}`, property);
      }
    };
    for (const [name, schema] of Object.entries(schemas)) visit(name, schema);
    expect(untyped).toEqual([]);
    const bar = schemas.MarketDataPointDto?.properties ?? {};
    expect([bar.dollar_volume?.type, bar.trade_count?.type, bar.source?.type]).toEqual([
      'number',
      'integer',
      'string',
    ]);
  });

  it('should not require a timeframe where trades and quotes need none', () => {
    const timeframeRequired = (name: string) =>
      operations
        .find((o) => o.name === name)
        ?.operation.parameters?.find((p) => p.name === 'timeframe')?.required;
    expect(timeframeRequired('GET /api/v1/storage/query')).toBe(false);
    expect(timeframeRequired('GET /api/v1/storage/instruments/{instrument_id}/latest')).toBe(false);
    expect(schemas.StoreRequestDto?.required?.sort()).toEqual(['data_points', 'instrument_id']);
    expect(schemas.TradesPageResponseDto?.properties?.next_cursor?.type).toBe('string');
    expect(schemas.QuotesPageResponseDto?.required).toContain('next_cursor');
  });

  it('should offer store examples that store as shown and leave every configuration as it was', async () => {
    const store = operations.find((o) => o.name === 'POST /api/v1/storage/store');
    const examples = store?.operation.requestBody?.content['application/json']?.examples ?? {};
    expect(Object.keys(examples).sort()).toEqual(['bars', 'quotes', 'trades']);
    const configurations = () =>
      request(service.baseUrl, 'GET', '/api/v1/storage/configurations', undefined, {
        'x-api-key': 'reader',
      });
    const before = (await configurations()).body as unknown;
    for (const [name, example] of Object.entries(examples)) {
      const answer = await request(
        service.baseUrl,
        'POST',
        '/api/v1/storage/store',
        example.value,
        {
          'x-api-key': 'writer',
        },
      );
      const { stored_count, failed_count, errors } = answer.body as Record<string, unknown>;
      const sent = (example.value as { data_points: unknown[] }).data_points.length;
      expect({ name, status: answer.status, stored_count, failed_count, errors }).toEqual({
        name,
        status: 200,
        stored_count: sent,
        failed_count: 0,
        errors: [],
      });
    }
    expect((await configurations()).body).toEqual(before);
  });
});
