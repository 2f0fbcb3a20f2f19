import { ENGINES, reportedEngine } from './support/test-database';
import { request, startTestApp, TestApp } from './support/test-app';

describe.each(ENGINES)('smoke on %s', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(engine);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('should report healthy', async () => {
    const res = await request(t.baseUrl, 'GET', '/api/v1/storage/health');
    expect(res.status).toBe(200);
    expect(res.body.database.engine).toBe(reportedEngine(engine));
  });
});
