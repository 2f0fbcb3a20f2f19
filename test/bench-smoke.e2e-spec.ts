import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `npm run bench --size smoke`: every part runs to the end and reports (the
 * results JSON and the generated markdown), into a temporary directory. It
 * asserts nothing about speed: figures belong to the bench itself.
 */
const ROOT = join(__dirname, '..');
const PARTS = ['ingest', 'events', 'query', 'compression', 'scale'];

interface PartResult {
  status: string;
  error?: string;
  size: string;
  tables: { title: string; header: string[]; rows: string[][] }[];
}

function runBench(out: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [
        require.resolve('ts-node/dist/bin.js'),
        '--transpile-only',
        'bench/index.ts',
        '--size',
        'smoke',
        '--out',
        out,
      ],
      { cwd: ROOT, env: { ...process.env, TZ: 'UTC' }, maxBuffer: 64 * 2 ** 20 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
    );
    child.stdin?.end();
  });
}

describe('bench, smoke size', () => {
  let out: string;

  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'mds-bench-smoke-test-'));
  });

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('should run every part to the end and write the results and the report', async () => {
    const { code, output } = await runBench(out);

    expect({ code, tail: code === 0 ? '' : output.slice(-3000) }).toEqual({ code: 0, tail: '' });
    const results = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as {
      parts: Record<string, PartResult>;
    };
    expect(Object.keys(results.parts).sort()).toEqual([...PARTS].sort());
    for (const part of PARTS) {
      const result = results.parts[part];
      expect({ part, status: result.status, error: result.error }).toEqual({
        part,
        status: 'ok',
        error: undefined,
      });
      expect(result.size).toBe('smoke');
      expect(result.tables.length).toBeGreaterThan(0);
      for (const table of result.tables) {
        expect(table.rows.length).toBeGreaterThan(0);
        for (const row of table.rows) expect(row).toHaveLength(table.header.length);
      }
    }
    const report = readFileSync(join(out, 'benchmarks.md'), 'utf8');
    for (const part of PARTS) expect(report).toContain(`\`npm run bench ${part}\``);
    expect(report).toContain('## Budgets');
  }, 900_000);
});
