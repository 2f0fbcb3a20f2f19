import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { Client } from 'pg';

export const POSTGRES_ADMIN_URL =
  process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** `--size`: smoke (seconds, CI), small, default (the whole suite within 15 minutes), large. */
export type BenchSize = 'smoke' | 'small' | 'default' | 'large';
export const BENCH_SIZES: readonly BenchSize[] = ['smoke', 'small', 'default', 'large'];

export function benchSize(): BenchSize {
  const size = (process.env.BENCH_SIZE ?? 'default') as BenchSize;
  if (!BENCH_SIZES.includes(size))
    throw new Error(`unknown bench size "${size}"; sizes: ${BENCH_SIZES.join(', ')}`);
  return size;
}

/** The value for the size of this run. */
export function bySize<T>(values: Record<BenchSize, T>): T {
  return values[benchSize()];
}

/** The TimescaleDB server (../shared/timescaledb/install.sh) for the parts that need one. */
export const TIMESCALEDB_ADMIN_URL =
  process.env.BENCH_TIMESCALEDB_URL ?? 'postgres://postgres@127.0.0.1:5433/postgres';

/**
 * A fresh database for one bench run, on the plain PostgreSQL unless
 * `adminUrl` names another server; dropped by the returned function.
 */
export async function createBenchDatabase(
  adminUrl: string = POSTGRES_ADMIN_URL,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `mds_bench_${process.pid}_${Date.now()}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export function machineLine(serverVersion: string): string {
  return `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, PostgreSQL ${serverVersion}`;
}

/** Runs psql with a command; returns wall milliseconds. */
export function timePsql(url: string, command: string): number {
  const started = performance.now();
  execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-q', '-c', command], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return performance.now() - started;
}

/** Prints a table and records it for bench/results/latest.json and docs/benchmarks.md. */
export function printTable(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    '| ' + r.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ') + ' |';
  console.log(`\n${title}\n`);
  console.log(line(header));
  console.log('| ' + widths.map((w) => '-'.repeat(w)).join(' | ') + ' |');
  cells.slice(1).forEach((r) => console.log(line(r)));
  currentPart().tables.push({ title, header, rows: cells.slice(1) });
}

// ---------------------------------------------------------------------------
// What a run records: one entry per part, merged into the results file.

export interface Machine {
  readonly cores: number;
  readonly cpu: string;
  readonly memory_gib: number;
  readonly node: string;
  readonly postgresql: string;
}

export interface RecordedTable {
  readonly title: string;
  readonly header: string[];
  readonly rows: string[][];
}

export interface Budget {
  /** What is measured, e.g. "query p95, 30 days ONE_MINUTE, 32 clients, uncached". */
  readonly name: string;
  /** The rule, e.g. "< 1000 ms". */
  readonly target: string;
  readonly measured: string;
  readonly pass: boolean;
}

export interface PartResult {
  readonly part: string;
  readonly size: BenchSize;
  readonly started_at: string;
  finished_at?: string;
  duration_s?: number;
  status: 'ok' | 'failed';
  error?: string;
  machine?: Machine;
  /** Load average (1 min) at the start and end: the machine is shared. */
  load_average: { start: number; end?: number };
  /** Rows, clients, durations... as the part states them. */
  conditions: Record<string, string | number>;
  tables: RecordedTable[];
  charts: { title: string; text: string }[];
  budgets: Budget[];
}

const recorded: PartResult[] = [];
let active: PartResult | undefined;
let machine: Machine | undefined;

export async function readMachine(): Promise<Machine> {
  if (machine) return machine;
  const client = new Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>(
      `SELECT current_setting('server_version') AS v`,
    );
    machine = {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? '?',
      memory_gib: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      postgresql: rows[0].v,
    };
    return machine;
  } finally {
    await client.end();
  }
}

/** The conditions line printed under every table title. */
export function conditionsLine(m: Machine): string {
  return `${m.cores} cores (${m.cpu}), ${m.memory_gib} GiB, Node ${m.node}, PostgreSQL ${m.postgresql}, load average ${loadavg()[0].toFixed(1)}`;
}

export function beginPart(part: string, m?: Machine): void {
  active = {
    part,
    size: benchSize(),
    started_at: new Date().toISOString(),
    status: 'ok',
    machine: m,
    load_average: { start: round(loadavg()[0], 2) },
    conditions: {},
    tables: [],
    charts: [],
    budgets: [],
  };
  recorded.push(active);
}

export function endPart(error?: unknown): PartResult {
  const part = currentPart();
  part.finished_at = new Date().toISOString();
  part.duration_s = round((Date.parse(part.finished_at) - Date.parse(part.started_at)) / 1000, 1);
  part.load_average.end = round(loadavg()[0], 2);
  if (error !== undefined) {
    part.status = 'failed';
    part.error = error instanceof Error ? error.message : JSON.stringify(error);
  }
  active = undefined;
  return part;
}

export function recordedParts(): readonly PartResult[] {
  return recorded;
}

function currentPart(): PartResult {
  if (!active) beginPart('unnamed');
  return active as PartResult;
}

export function recordConditions(conditions: Record<string, string | number>): void {
  Object.assign(currentPart().conditions, conditions);
}

/** Records and prints a budget check. */
export function recordBudget(budget: Budget): void {
  currentPart().budgets.push(budget);
  console.log(
    `budget ${budget.pass ? 'met   ' : 'MISSED'}: ${budget.name}: ${budget.measured} (target ${budget.target})`,
  );
}

export function recordChart(title: string, text: string): void {
  currentPart().charts.push({ title, text });
  console.log(`\n${title}\n\n${text}`);
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Milliseconds with precision that suits their size. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return '-';
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/**
 * Horizontal bars on a log scale (latencies span 1 ms to seconds): one line
 * per series value, labelled with the figure.
 */
export function asciiChart(
  groups: { label: string; values: { name: string; value: number }[] }[],
  unit: string,
  width = 48,
): string {
  const all = groups.flatMap((g) => g.values.map((v) => v.value)).filter((v) => v > 0);
  if (all.length === 0) return '(no data)';
  const lo = Math.log10(Math.min(...all) / 1.5);
  const hi = Math.log10(Math.max(...all));
  const labelWidth = Math.max(...groups.map((g) => g.label.length));
  const nameWidth = Math.max(...groups.flatMap((g) => g.values.map((v) => v.name.length)));
  const lines: string[] = [];
  for (const group of groups) {
    group.values.forEach((v, i) => {
      const length =
        v.value > 0 ? Math.max(1, Math.round(((Math.log10(v.value) - lo) / (hi - lo)) * width)) : 0;
      lines.push(
        `${(i === 0 ? group.label : '').padEnd(labelWidth)}  ${v.name.padEnd(nameWidth)} |${'#'.repeat(length).padEnd(width)} ${ms(v.value)} ${unit}`,
      );
    });
  }
  const decades: string[] = [];
  for (let d = Math.ceil(lo); d <= Math.floor(hi); d++) decades.push(String(10 ** d));
  const marks = decades.length ? `; powers of ten inside: ${decades.join(', ')}` : '';
  lines.push(`${''.padEnd(labelWidth + nameWidth + 2)}  (log scale, ${unit}${marks})`);
  return lines.join('\n');
}
