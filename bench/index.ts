import { BENCH_SIZES, BenchSize } from './support';

/**
 * `npm run bench [part ...] [--size smoke|small|default|large] [--out DIR] [--report]`:
 * every part in turn, or the ones named; the results are merged into
 * bench/results/latest.json and docs/benchmarks.md is regenerated (see
 * bench/run.ts). The size goes into the environment before the parts are
 * loaded, since some read their sizes when loaded.
 */
const DEFAULT_PARTS = ['ingest', 'events', 'query', 'compression', 'scale'];
/** Parts run only when named (issue-specific measurements; the default suite stays within 15 minutes). */
const NAMED_ONLY_PARTS = [
  'layout',
  'rollups',
  'maintenance',
  'trades',
  'nats-floor',
  'peers',
  'research',
  'formats',
];
const PART_NAMES = [...DEFAULT_PARTS, ...NAMED_ONLY_PARTS];

/** Sizes of the parts that read their own environment variables (ingest, events). */
const PART_ENV: Partial<Record<BenchSize, Record<string, string>>> = {
  smoke: { BENCH_POINTS: '2000', BENCH_ROUNDS: '1' },
  small: { BENCH_POINTS: '20000', BENCH_ROUNDS: '1' },
};

interface Options {
  readonly parts: string[];
  readonly size: BenchSize;
  readonly out?: string;
  /** --report: only regenerate the markdown from the results (after editing bench/notes). */
  readonly reportOnly: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const parts: string[] = [];
  let size = (process.env.BENCH_SIZE ?? 'default') as BenchSize;
  let out: string | undefined;
  let reportOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--report') {
      reportOnly = true;
      continue;
    }
    const [flag, inline] = arg.split('=', 2);
    if (flag === '--size' || flag === '--out') {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new Error(`${flag} needs a value`);
      if (flag === '--size') size = value as BenchSize;
      else out = value;
    } else if (arg.startsWith('-')) {
      throw new Error(`unknown option ${arg}; options: --size, --out, --report`);
    } else {
      parts.push(arg);
    }
  }
  if (!BENCH_SIZES.includes(size))
    throw new Error(`unknown size "${size}"; sizes: ${BENCH_SIZES.join(', ')}`);
  for (const part of parts)
    if (!PART_NAMES.includes(part))
      throw new Error(`unknown bench part "${part}"; parts: ${PART_NAMES.join(', ')}`);
  return { parts: parts.length ? parts : DEFAULT_PARTS, size, out, reportOnly };
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  process.env.BENCH_SIZE = options.size;
  for (const [name, value] of Object.entries(PART_ENV[options.size] ?? {}))
    process.env[name] ??= value;
  // Loaded only now: the parts read their sizes from the environment set above.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { regenerateReport, runBench } = require('./run') as typeof import('./run');
  if (options.reportOnly) {
    await regenerateReport(options.out);
    return 0;
  }
  return runBench(options.parts, options.out);
}

main().then(
  (failed) => process.exit(failed ? 1 : 0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
