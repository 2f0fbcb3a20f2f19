import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory';
import { createTestDatabase, TestDatabase, TestEngine } from './test-database';

export interface TestApp {
  readonly app: NestFastifyApplication;
  readonly db: TestDatabase;
  /** http://127.0.0.1:<port> */
  readonly baseUrl: string;
  close(): Promise<void>;
}

/** The real application on a fresh database, listening on a free loopback port. */
export async function startTestApp(
  engine: TestEngine,
  env: Record<string, string> = {},
): Promise<TestApp> {
  const db = await createTestDatabase(engine, env);
  const app = await createApp(db.settings);
  await app.init();
  // The event transports the env configures (none by default).
  await app.startAllMicroservices();
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return {
    app,
    db,
    baseUrl: `http://127.0.0.1:${address.port}`,
    close: async () => {
      await app.close();
      await db.drop();
    },
  };
}

export interface JsonResponse<T = any> {
  readonly status: number;
  readonly headers: Headers;
  /** The body as sent, to check exact numbers (volumes above 2^53). */
  readonly text: string;
  readonly body: T;
}

/** fetch with a JSON body; the answer is parsed but its raw text kept. */
export async function request<T = any>(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<T>> {
  const response = await fetch(baseUrl + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: T;
  try {
    parsed = JSON.parse(text) as T;
  } catch {
    parsed = text as T;
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}
