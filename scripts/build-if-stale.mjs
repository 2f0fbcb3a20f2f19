// `npm start`: builds dist/ only when the sources changed since the last build
// (a full `nest build` takes about a minute on two cores), then the caller
// starts dist/main.js. The build's inputs are hashed, not their mtimes: a
// fresh clone or checkout changes every mtime and nothing else.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = process.env.BUILD_ROOT ?? process.cwd();
const INPUTS = [
  'src',
  'tsconfig.json',
  'tsconfig.build.json',
  'nest-cli.json',
  'package-lock.json',
];
const STAMP = join(root, 'dist', '.build-inputs');
const OUTPUT = join(root, 'dist', 'main.js');

/** The files under `path` (itself when it is one), none when it is missing. */
function filesOf(path) {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => filesOf(join(path, name)));
}

function inputsHash() {
  const hash = createHash('sha256');
  const files = INPUTS.flatMap((name) => filesOf(join(root, name))).sort();
  for (const file of files)
    hash.update(relative(root, file)).update('\0').update(readFileSync(file));
  return hash.digest('hex');
}

const wanted = inputsHash();
const built = existsSync(STAMP) ? readFileSync(STAMP, 'utf8') : '';
if (built === wanted && existsSync(OUTPUT)) {
  console.log('dist/ is up to date with src/: not rebuilt');
} else {
  const [command, ...args] = (process.env.BUILD_COMMAND ?? 'npx --no-install nest build').split(
    ' ',
  );
  execFileSync(command, args, { cwd: root, stdio: 'inherit' });
  writeFileSync(STAMP, wanted);
}
