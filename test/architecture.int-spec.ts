import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ESLint } from 'eslint';

/**
 * The house rules of docs/architecture.md, checked on the code itself: SQL
 * only in repositories/ and database/, no hidden module graph, a lint that
 * fails on an import cycle, database/ infrastructure only.
 */
const ROOT = join(__dirname, '..');
const SRC = join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

const PRODUCTION = sourceFiles(SRC).map((path) => ({
  path: relative(SRC, path),
  text: readFileSync(path, 'utf8'),
}));

/** The code without its comments: a comment may well mention CREATE TABLE. */
function codeOf(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

const SQL =
  /\b(SELECT\s+\S|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE|ALTER\s+TABLE|DROP\s+TABLE|COPY\s+\w+)/;

describe('the architecture', () => {
  it('should keep SQL in src/repositories and src/database only', () => {
    const outside = PRODUCTION.filter(
      (f) => !/^(repositories|database)\//.test(f.path) && SQL.test(codeOf(f.text)),
    ).map((f) => f.path);
    expect(outside).toEqual([]);
  });

  it('should make only the settings and metrics modules global', () => {
    const globals = PRODUCTION.filter((f) => /@Global\(\)/.test(codeOf(f.text))).map((f) => f.path);
    expect(globals.sort()).toEqual(['metrics/metrics.module.ts', 'settings/settings.module.ts']);
  });

  it('should keep src/database infrastructure only, under 1,000 lines of code', () => {
    const lines = PRODUCTION.filter((f) => f.path.startsWith('database/'))
      .map((f) => f.text.split('\n').length - 1)
      .reduce((sum, n) => sum + n, 0);
    expect(lines).toBeLessThan(1_000);
  });

  it('should fail the lint on an import cycle', async () => {
    // The fixture is ignored by `npm run check`; here the project's own configuration lints it.
    const eslint = new ESLint({ cwd: ROOT, ignore: false });
    const [first] = await eslint.lintFiles(['test/fixtures/import-cycle/first.ts']);
    expect(first?.messages.map((m) => m.ruleId)).toContain('import-x/no-cycle');
    expect(first?.errorCount).toBeGreaterThan(0);
  }, 120_000);
});
