import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Agent, request as httpRequest } from 'node:http';
import { makeBars } from './support/bars';
import { request, startTestApp, TestApp } from './support/test-app';
import { ENGINES } from './support/test-database';

const BASE = '/api/v1/storage';
const LIMIT = 64 * 1024;
const DISCARD_LIMIT = 8 * 1024 * 1024;
const DAY = '2025-06-23T00:00:00.000Z';

/** A real store body of about `bytes` (1-minute bars of instrument BIG). */
function storeBodyOf(bytes: number): Buffer {
  const points = makeBars(DAY, Math.ceil(bytes / 150), 60_000, 7);
  return Buffer.from(
    JSON.stringify({ instrument_id: 'BIG', timeframe: 'ONE_MINUTE', data_points: points }),
  );
}

/** POST over one keep-alive agent; tells whether the socket was reused. */
function post(
  baseUrl: string,
  agent: Agent,
  path: string,
  body: Buffer,
): Promise<{ status: number; text: string; reused: boolean; connection?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${baseUrl}${path}`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text,
            reused: req.reusedSocket,
            connection: res.headers.connection,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A shell pipeline with curl, `input` on its stdin. */
async function curl(pipeline: string, input?: Buffer): Promise<{ stdout: string }> {
  const running = promisify(execFile)('sh', ['-c', pipeline], { encoding: 'utf8' });
  running.child.stdin?.end(input);
  return running;
}

describe.each(ENGINES)('a body above BODY_LIMIT_BYTES on %s', (engine) => {
  let service: TestApp;

  beforeAll(async () => {
    service = await startTestApp(engine, {
      BODY_LIMIT_BYTES: String(LIMIT),
      BODY_DISCARD_LIMIT_BYTES: String(DISCARD_LIMIT),
    });
  });

  afterAll(async () => {
    await service?.close();
  });

  it('should reach fetch (undici) as a 413 naming the limit, not as a reset', async () => {
    const body = storeBodyOf(4 * 1024 * 1024);
    const response = await fetch(`${service.baseUrl}${BASE}/store`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      statusCode: 413,
      error: 'Payload Too Large',
      message: `Request body is ${body.length} bytes, above the limit of ${LIMIT} bytes (BODY_LIMIT_BYTES): send the points in several requests`,
    });
  });

  it('should store nothing of it', async () => {
    const latest = await request(
      service.baseUrl,
      'GET',
      `${BASE}/instruments/BIG/latest?timeframe=ONE_MINUTE`,
    );
    expect(latest.status).toBe(404);
  });

  it('should read and drop the rest, keeping the connection for the next request', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await post(
        service.baseUrl,
        agent,
        `${BASE}/store`,
        storeBodyOf(2 * 1024 * 1024),
      );
      expect({ status: first.status, connection: first.connection }).toEqual({
        status: 413,
        connection: 'keep-alive',
      });
      const small = storeBodyOf(LIMIT / 4);
      const second = await post(service.baseUrl, agent, `${BASE}/store`, small);
      expect({ status: second.status, reused: second.reused }).toEqual({
        status: 200,
        reused: true,
      });
      expect(JSON.parse(second.text)).toMatchObject({ failed_count: 0 });
    } finally {
      agent.destroy();
    }
  });

  it('should answer 413 instead of 100 Continue, so that curl sends nothing past BODY_DISCARD_LIMIT_BYTES', async () => {
    const { stdout } = await curl(
      `head -c ${DISCARD_LIMIT + 1024 * 1024} /dev/zero | curl -s -o /dev/null -w '%{http_code}' ` +
        `-H 'content-type: application/json' --data-binary @- ${service.baseUrl}${BASE}/store`,
    );
    expect(stdout).toBe('413');
  });

  it('should still let a body within the limit continue after Expect: 100-continue', async () => {
    const { stdout } = await curl(
      `curl -s -w ' %{http_code}' -H 'content-type: application/json' -H 'Expect: 100-continue' ` +
        `--data-binary @- ${service.baseUrl}${BASE}/store`,
      storeBodyOf(LIMIT / 4),
    );
    expect(stdout).toMatch(/"failed_count":0.* 200$/);
  });
});
