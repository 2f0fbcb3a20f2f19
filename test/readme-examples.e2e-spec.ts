import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { connect, NatsConnection } from 'nats';
import { ServiceProcess, startServiceProcess } from './support/service-process';

/**
 * The README's examples, run in order against the service started as the
 * README says (embedded engine, empty data directory, a local NATS), each
 * answer compared with the one printed under its command. What differs on
 * every run (ids, timings, times of day, the day itself, sizes on disk) is
 * masked on both sides; a printed answer trimmed with `...` must match piece
 * by piece. `README_UPDATE=1` writes the answers of this run into the README
 * instead (trimmed ones are left for a hand to cut again).
 */
const ROOT = resolve(__dirname, '..');
const README = join(ROOT, 'README.md');
const PRINTED_PORT = 'localhost:3900';
const STREAM = 'README_DEMO';
const UPDATE = process.env.README_UPDATE === '1';
const DAY_MS = 86_400_000;
const RUN_TIMES_FROM = Date.parse('2026-01-01T00:00:00Z');

interface Example {
  readonly line: number;
  readonly command: string;
  /** Offsets of the printed answer's text in the README. */
  readonly answerStart: number;
  readonly answerEnd: number;
  readonly printed: string;
}

/** Every sh block that talks to the service or its NATS, paired with the plain block under it. */
function examplesOf(text: string): Example[] {
  const fence = /^```(\w*)\n([\s\S]*?)^```\n/gm;
  const blocks = [...text.matchAll(fence)].map((m) => ({
    lang: m[1] ?? '',
    body: m[2] ?? '',
    start: m.index,
    bodyStart: m.index + 4 + (m[1] ?? '').length,
    end: m.index + m[0].length,
  }));
  const examples: Example[] = [];
  blocks.forEach((block, i) => {
    const next = blocks[i + 1];
    const talks = block.body.includes(PRINTED_PORT) || block.body.includes("require('nats')");
    if (block.lang !== 'sh' || !talks || !next || next.lang !== '') return;
    if (text.slice(block.end, next.start).trim() !== '') return;
    examples.push({
      line: text.slice(0, block.start).split('\n').length,
      command: block.body,
      answerStart: next.bodyStart,
      answerEnd: next.bodyStart + next.body.length,
      printed: next.body,
    });
  });
  return examples;
}

/** Masks what differs on every run, the same way on the printed and the actual answer. */
function masked(answer: string, now: number): string {
  // The examples' data is of 2025: a later instant up to now is a time of the run that printed it.
  const near = (iso: string) =>
    Date.parse(iso) >= RUN_TIMES_FROM && Date.parse(iso) <= now + DAY_MS;
  return answer
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/("?[a-z_]*(?:_ms|_s|_gb|_mb)"?\s*[:=]\s*)-?[0-9.e+-]+/g, '$1<n>')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z/g, (iso) =>
      near(iso) ? '<now>' : iso,
    )
    .replace(/\b\d{4}-\d{2}-\d{2}\b/g, (day) => (near(`${day}T12:00:00Z`) ? '<day>' : day))
    .trimEnd();
}

/** Whether `actual` holds the printed pieces around each `...` line, in order. */
function matchesTrimmed(printed: string, actual: string): boolean {
  const pieces = printed.split(/^\s*\.\.\.\s*$/m).map((p) => p.trim());
  let at = 0;
  for (const piece of pieces) {
    const found = actual.indexOf(piece, at);
    if (found < 0) return false;
    at = found + piece.length;
  }
  return true;
}

const exec = promisify(execFile);

describe('the README examples', () => {
  let service: ServiceProcess;
  let nats: NatsConnection;
  let dataDir: string;

  const dropStream = async () => {
    const manager = await nats.jetstreamManager();
    await manager.streams.delete(STREAM).catch(() => false);
  };

  beforeAll(async () => {
    nats = await connect({ servers: 'nats://127.0.0.1:4222' });
    await dropStream();
    dataDir = mkdtempSync(join(tmpdir(), 'mds-readme-'));
    service = await startServiceProcess({
      DATA_DIR: dataDir,
      COMPRESSION_JOB_INTERVAL_MS: '0',
      STATS_REFRESH_INTERVAL_MS: '60000',
      NATS_URL: 'nats://127.0.0.1:4222',
      NATS_STREAM: STREAM,
      NATS_CONSUMER: 'readme-demo',
      // The service's own default, which the spawned-service helper sets to forever for old fixtures.
      RETENTION_DEFAULT_DAYS: '730',
    });
  });

  afterAll(async () => {
    service?.child.kill('SIGTERM');
    await service?.exited;
    if (nats) {
      await dropStream();
      await nats.close();
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('should answer every example as printed', async () => {
    const text = readFileSync(README, 'utf8');
    const examples = examplesOf(text);
    expect(examples.length).toBeGreaterThan(30);
    const host = service.baseUrl.replace('http://', '');
    const mismatches: string[] = [];
    const answers: string[] = [];
    for (const example of examples) {
      const command = example.command.split(PRINTED_PORT).join(host);
      const { stdout } = await exec('bash', ['-c', command], { cwd: ROOT, encoding: 'utf8' });
      answers.push(stdout);
      const now = Date.now();
      const [printed, actual] = [masked(example.printed, now), masked(stdout, now)];
      const same = printed.includes('...') ? matchesTrimmed(printed, actual) : printed === actual;
      if (!same)
        mismatches.push(
          `README.md:${example.line}\n--- printed\n${printed}\n--- answered\n${actual}`,
        );
    }
    if (UPDATE) {
      let updated = text;
      // From the end, so the offsets of the earlier examples stay right.
      examples.forEach((_, i) => {
        const example = examples[examples.length - 1 - i];
        const answer = answers[examples.length - 1 - i];
        if (example.printed.includes('...')) return;
        updated =
          updated.slice(0, example.answerStart) +
          (answer.endsWith('\n') ? answer : `${answer}\n`) +
          updated.slice(example.answerEnd);
      });
      writeFileSync(README, updated);
      return;
    }
    expect(mismatches).toEqual([]);
  });
});
