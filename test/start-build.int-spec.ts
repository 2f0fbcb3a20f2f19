import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `npm start` (scripts/build-if-stale.mjs) rebuilds dist/ only when the
 * build's inputs changed: here on a small tree whose "build" only counts
 * itself, so that the real one (a minute of nest build) is not needed.
 */
const SCRIPT = join(__dirname, '..', 'scripts', 'build-if-stale.mjs');

describe('npm start', () => {
  let root: string;
  const builds = () =>
    readFileSync(join(root, 'builds.log'), 'utf8').split('\n').filter(Boolean).length;
  const start = () =>
    execFileSync('node', [SCRIPT], {
      encoding: 'utf8',
      env: { ...process.env, BUILD_ROOT: root, BUILD_COMMAND: 'node build.cjs' },
    });

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'mds-start-'));
    mkdirSync(join(root, 'src', 'module'), { recursive: true });
    writeFileSync(join(root, 'src', 'main.ts'), 'export const a = 1;\n');
    writeFileSync(join(root, 'src', 'module', 'b.ts'), 'export const b = 2;\n');
    writeFileSync(join(root, 'tsconfig.json'), '{}\n');
    writeFileSync(join(root, 'builds.log'), '');
    writeFileSync(
      join(root, 'build.cjs'),
      `const fs = require('fs');
       fs.mkdirSync('dist', { recursive: true });
       fs.writeFileSync('dist/main.js', '');
       fs.appendFileSync('builds.log', 'built\\n');`,
    );
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('should build once, then start without building while nothing changed', () => {
    start();
    expect(start()).toContain('dist/ is up to date with src/: not rebuilt');
    expect(builds()).toBe(1);
  });

  it('should not rebuild for a new mtime alone (a fresh checkout)', () => {
    start();
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, 'src', 'main.ts'), later, later);
    start();
    expect(builds()).toBe(1);
  });

  it('should rebuild when a source, a nested one or the compiler settings change', () => {
    start();
    writeFileSync(join(root, 'src', 'module', 'b.ts'), 'export const b = 3;\n');
    start();
    writeFileSync(join(root, 'src', 'module', 'c.ts'), 'export const c = 4;\n');
    start();
    writeFileSync(join(root, 'tsconfig.json'), '{ "compilerOptions": {} }\n');
    start();
    expect(builds()).toBe(4);
  });

  it('should rebuild when dist/ was removed', () => {
    start();
    rmSync(join(root, 'dist'), { recursive: true });
    start();
    expect(builds()).toBe(2);
  });
});
