import { auditBatches, runWriter, SentBatch } from './support/ingest-load';
import { killService, ServiceProcess, startServiceProcess } from './support/service-process';
import { capabilitiesOf, createTestDatabase, ENGINES, TestDatabase } from './support/test-database';

/**
 * The real service as a child process (src/main.ts) under steady REST ingest:
 * killed with SIGKILL, then restarted on the same data; and stopped with
 * SIGTERM (a Kubernetes rolling update). Every write answered 2xx must be
 * stored exactly; a write whose answer was lost is all-or-nothing.
 */

const WRITERS = 4;

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const acked = (batches: readonly SentBatch[]) =>
  batches.filter((b) => b.status !== undefined && b.status >= 200 && b.status < 300).length;

describe.each(ENGINES)('REST ingest across a crash of the service on %s', (engine) => {
  let db: TestDatabase;
  let env: Record<string, string>;
  let service: ServiceProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase(engine);
    env = {
      ...(db.settings.databaseUrl
        ? { DATABASE_URL: db.settings.databaseUrl }
        : { DATA_DIR: db.settings.dataDir }),
      // The drain waits for the large stores in flight, which on a loaded machine can take
      // longer than the default 25 s; still below Fastify's 72 s keep-alive timeout, so a
      // drain held open by an idle keep-alive connection still ends in exit 1.
      SHUTDOWN_TIMEOUT_MS: '60000',
    };
  });

  afterAll(async () => {
    await killService(service);
    await db?.drop();
  });

  it('should keep every acknowledged write after a kill -9 mid-ingest and a restart', async () => {
    service = await startServiceProcess(env);
    const batches: SentBatch[] = [];
    let stop = false;
    const writers = Array.from({ length: WRITERS }, (_, i) =>
      runWriter(service!.baseUrl, `KILL${i}`, 200, batches, () => stop, {
        stopOnConnectionFailure: true,
      }),
    );
    await until('40 acknowledged writes', () => acked(batches) >= 40);
    // Writers are mid-request: each has a batch in flight when the process dies.
    service.child.kill('SIGKILL');
    expect((await service.exited).signal).toBe('SIGKILL');
    stop = true;
    await Promise.all(writers);
    const unanswered = batches.filter((b) => b.status === 0 || b.status === undefined).length;
    expect(unanswered).toBeGreaterThan(0);

    service = await startServiceProcess(env);
    const audit = await auditBatches(service.baseUrl, batches);
    expect(audit).toEqual({
      acknowledged: acked(batches),
      lostOrAltered: [],
      partial: [],
      committedUnanswered: expect.any(Number),
      unexpectedRows: 0,
    });
    expect(audit.acknowledged).toBeGreaterThanOrEqual(40);
    expect(audit.committedUnanswered).toBeLessThanOrEqual(unanswered);
  }, 240_000);

  it('should finish the requests in flight on SIGTERM, exit 0, and keep every acknowledged write', async () => {
    service ??= await startServiceProcess(env);
    const base = service.baseUrl;
    // Large batches: each is still being written when the signal arrives.
    const big: SentBatch[] = [];
    const steady: SentBatch[] = [];
    let stop = false;
    const steadyWriters = Array.from({ length: 2 }, (_, i) =>
      runWriter(base, `TERM${i}`, 100, steady, () => stop, { stopOnConnectionFailure: true }),
    );
    await until('steady writes', () => acked(steady) >= 10);
    const bigSize = capabilitiesOf(engine).embedded ? 10_000 : 50_000;
    // How long two large stores take side by side on this machine, under this load: two
    // rounds, so the fastest is a warm one (the first pays for new partitions and plans,
    // and a wait judged by it alone let a large batch finish before the signal).
    const probe: SentBatch[] = [];
    let probes = 0;
    await Promise.all(
      Array.from({ length: 2 }, (_, i) =>
        runWriter(base, `PROBE${i}`, bigSize, probe, () => probes++ >= 4),
      ),
    );
    expect(probe.map((b) => b.status)).toEqual([200, 200, 200, 200]);
    const storeMs = Math.min(...probe.map((b) => b.ms!));
    let oneShot = 0;
    const bigWriters = Array.from({ length: 2 }, (_, i) =>
      runWriter(base, `BIG${i}`, bigSize, big, () => oneShot++ >= 2),
    );
    await until('both large batches sent', () => big.length === 2);
    // A quarter of the way through a warm store: taken in by the service, far from answered.
    await new Promise((r) => setTimeout(r, Math.max(150, storeMs / 4)));
    // Both large requests were sent before the signal and are not answered yet.
    expect(big.map((b) => b.status)).toEqual([undefined, undefined]);
    service.child.kill('SIGTERM');
    const exit = await service.exited;
    stop = true;
    await Promise.all([...bigWriters, ...steadyWriters]);

    expect(exit).toEqual({ code: 0, signal: null });
    expect(service.output()).toContain('SIGTERM: draining');
    // In flight at the signal: answered in full, not cut.
    expect(big.map((b) => b.status)).toEqual([200, 200]);
    // The steady stream: answered, turned away by the drain (503, connection closed) or,
    // once the port is closed, not connected; never cut mid-answer with another status.
    for (const batch of steady) expect([0, 200, 503]).toContain(batch.status);
    expect(steady.filter((b) => b.status === 503 || b.status === 0).length).toBeGreaterThan(0);

    service = await startServiceProcess(env);
    const audit = await auditBatches(service.baseUrl, [...probe, ...big, ...steady]);
    expect(audit).toEqual({
      acknowledged: acked(probe) + acked(big) + acked(steady),
      lostOrAltered: [],
      partial: [],
      committedUnanswered: expect.any(Number),
      unexpectedRows: 0,
    });
    service.child.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);
  }, 240_000);
});
