import { ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The peers of `npm run bench peers` (InfluxDB 1.6 and ClickHouse 18.16 from
 * Debian) as processes of this run: installed with apt-get when missing,
 * started from a generated config on free loopback ports with their data in
 * a temporary directory, stopped and removed at the end. Also the CPU
 * accounting of server processes from /proc.
 */
const run = promisify(execFile);

/** A peer server this run started. */
export interface PeerServer {
  readonly base: string;
  readonly pid: number;
  readonly dir: string;
  stop(): Promise<void>;
}

/** Installs the Debian packages when `binary` is missing; returns why not, or undefined. */
export async function ensureInstalled(
  binary: string,
  packages: readonly string[],
): Promise<string | undefined> {
  if (existsSync(binary)) return undefined;
  const aptGet = (args: string[]) =>
    run('apt-get', args, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 900_000,
      maxBuffer: 64 * 2 ** 20,
    });
  console.log(`installing ${packages.join(' ')} (apt-get)`);
  try {
    // Stale package lists are the usual failure on a fresh machine: update once, then retry.
    await aptGet(['install', '-y', ...packages]).catch(async () => {
      await aptGet(['update']);
      await aptGet(['install', '-y', ...packages]);
    });
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    return `apt-get install ${packages.join(' ')} failed: ${text.trim().split('\n').slice(-1)[0]}`;
  }
  return existsSync(binary) ? undefined : `${binary} missing after apt-get install`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Every peer still running and its directory: killed and removed if this process exits first. */
const running = new Map<ChildProcess, string>();
process.once('exit', () => {
  for (const [child, dir] of running) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Starts `binary args` with its output in `dir`/server.log and waits until
 * `ready` answers true (30 s at most); the returned stop ends it (SIGTERM,
 * then SIGKILL after 10 s) and removes `dir`.
 */
export async function startPeer(
  name: string,
  binary: string,
  args: string[],
  dir: string,
  base: string,
  ready: () => Promise<boolean>,
): Promise<PeerServer> {
  const logPath = join(dir, 'server.log');
  const log = openSync(logPath, 'a');
  const child = spawn(binary, args, { cwd: dir, stdio: ['ignore', log, log] });
  closeSync(log);
  running.set(child, dir);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    running.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  while (!(await ready().catch(() => false))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const tail = readFileSync(logPath, 'utf8').trim().split('\n').slice(-3).join(' / ');
      await stop();
      throw new Error(`${name} did not start (${tail || 'no output'})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { base, pid: child.pid as number, dir, stop };
}

/** A fresh temporary directory for a peer's config and data. */
export function peerDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `mds-bench-peers-${name}-`));
}

export async function startInfluxDb(): Promise<PeerServer> {
  const dir = peerDir('influxdb');
  const [http, rpc] = [await freePort(), await freePort()];
  // Cold-duration settings of 1 s: the cache is snapshot and the shard fully
  // compacted right after the load, so the bytes on disk are the compacted ones.
  writeFileSync(
    join(dir, 'influxdb.conf'),
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpc}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "1s"
  compact-full-write-cold-duration = "1s"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:${http}"
  log-enabled = false
  max-row-limit = 0
  max-body-size = 0
[continuous_queries]
  enabled = false
`,
  );
  const base = `http://127.0.0.1:${http}`;
  return startPeer(
    'influxd',
    '/usr/bin/influxd',
    ['-config', join(dir, 'influxdb.conf')],
    dir,
    base,
    async () => (await fetch(`${base}/ping`)).status === 204,
  );
}

export async function startClickHouse(): Promise<PeerServer> {
  const dir = peerDir('clickhouse');
  const [http, tcp] = [await freePort(), await freePort()];
  writeFileSync(
    join(dir, 'config.xml'),
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/clickhouse.log</log><errorlog>${dir}/clickhouse.err.log</errorlog><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${http}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>536870912</mark_cache_size>
</yandex>
`,
  );
  writeFileSync(
    join(dir, 'users.xml'),
    `<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
`,
  );
  const base = `http://127.0.0.1:${http}/`;
  return startPeer(
    'clickhouse-server',
    '/usr/sbin/clickhouse-server',
    [`--config-file=${join(dir, 'config.xml')}`],
    dir,
    base,
    async () => (await (await fetch(`${base}?query=SELECT%201`)).text()).trim() === '1',
  );
}

/** Bytes of the files under `dir` (recursively). */
export function directoryBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { withFileTypes: true }).reduce((sum, entry) => {
    const path = join(dir, entry.name);
    return sum + (entry.isDirectory() ? directoryBytes(path) : statSync(path).size);
  }, 0);
}

// ---------------------------------------------------------------------------
// Server CPU, from /proc/<pid>/stat (utime + stime, every thread of the process).

/** CPU milliseconds of a process so far; undefined once it is gone. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // 10 ms ticks
  } catch {
    return undefined;
  }
}

/**
 * The PostgreSQL backends serving `database`: their title names it
 * ("postgres: [cluster: ]user database host(port) state").
 */
export function backendPids(database: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (title.startsWith('postgres: ') && title.includes(` ${database} `))
        pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/**
 * CPU of a changing set of processes over one measurement: sampled every
 * 250 ms, so a backend that ends meanwhile keeps its last reading, and one
 * that starts counts from zero.
 */
export class CpuMeter {
  private readonly start = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pids: () => number[]) {
    for (const pid of pids()) {
      const cpu = processCpuMs(pid);
      if (cpu !== undefined) this.start.set(pid, cpu);
    }
    this.timer = setInterval(() => this.sample(), 250);
  }

  private sample(): void {
    for (const pid of this.pids()) {
      const cpu = processCpuMs(pid);
      if (cpu !== undefined) this.last.set(pid, cpu);
    }
  }

  /** Stops sampling; CPU ms of each process during the measurement, summed. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    let sum = 0;
    for (const [pid, cpu] of this.last) sum += cpu - (this.start.get(pid) ?? 0);
    return sum;
  }
}
