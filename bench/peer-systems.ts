import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { Client } from 'pg';
import { BarPoint } from '../test/support/bars';
import { csvOf } from './ingest';
import { runMaintenance } from './maintenance';
import { BenchServer } from './processes';
import { backendPids, CpuMeter, directoryBytes, PeerServer } from './peer-servers';
import { vacuumAnalyze } from './query';

/**
 * The systems `npm run bench peers` compares, behind one interface: the
 * service (over HTTP, on plain PostgreSQL or the TimescaleDB server),
 * InfluxDB, ClickHouse and `psql \copy`. Each is given the same batches of
 * the same bars; each answers the same ranges in its own query language,
 * and the client reads and parses every answer.
 */

/** One request's worth of bars: BATCH bars of one instrument. */
export interface Batch {
  readonly instrument: string;
  readonly bars: readonly BarPoint[];
}

/** A range of one instrument's bars, [startMs, endMs). */
export interface Range {
  readonly instrument: string;
  readonly startMs: number;
  readonly endMs: number;
}

/** One request and how to parse its answer into rows. */
export type Probe = TextProbe | BytesProbe;

export interface TextProbe {
  readonly url: string;
  readonly init?: RequestInit;
  /** Parses the body; returns the rows it holds. */
  rows(body: string): number;
}

/** A request whose answer is binary (Arrow IPC), loaded from its bytes. */
export interface BytesProbe {
  readonly url: string;
  readonly init?: RequestInit;
  rowsOfBytes(body: Uint8Array): number;
}

/** CPU of one measurement: the whole, and the service's Node process alone. */
export interface CpuUsed {
  readonly ms: number;
  readonly nodeMs?: number;
}

export interface BytesPerBar {
  readonly perBar: number;
  /** The service on TimescaleDB: with the four rollups, compressed too. */
  readonly withRollups?: number;
  readonly note: string;
}

export interface PeerSystem {
  readonly name: string;
  readonly version: string;
  /** Encodes the batches for every client count, before any clock starts. */
  prepare(batches: readonly Batch[], clientCounts: readonly number[]): void;
  /** Empties the store before an ingest run. */
  reset(): Promise<void>;
  /** Sends every prepared batch, `clients` requests in flight. */
  ingest(clients: number): Promise<void>;
  /** Starts measuring the server's CPU; the returned function ends it. */
  meterCpu(): () => CpuUsed;
  count(): Promise<number>;
  /** Readies the loaded rows for reading (statistics, rollups). */
  prepareReads?(): Promise<void>;
  /** `k` makes the request distinct where the system caches (the service). */
  range?(range: Range, k: number): Probe;
  hourly?(range: Range, k: number): Probe;
  /** The same rows as `range`, as an Apache Arrow IPC stream (the service only). */
  arrowRange?(range: Range, k: number): Probe;
  /** Whether `range` with a fixed `k` is answered from a cache. */
  readonly caches?: boolean;
  bytesPerBar?(): Promise<BytesPerBar>;
}

/** Runs `send` on every item, `clients` at a time, in order. */
export async function inParallel<T>(
  items: readonly T[],
  clients: number,
  send: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await send(items[next++]);
  };
  await Promise.all(Array.from({ length: clients }, worker));
}

async function expectStatus(res: Response, status: number, what: string): Promise<string> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${text.slice(0, 300)}`);
  return text;
}

const iso = (msValue: number) => new Date(msValue).toISOString();

async function sql<T extends object>(url: string, text: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------
// The service, over HTTP, and psql \copy into its table.

/** Bytes of market_data_ts with its partitions (plain PostgreSQL) or its chunks (TimescaleDB). */
const PLAIN_SIZE_SQL = `SELECT sum(pg_total_relation_size(relid))::bigint AS bytes,
  pg_total_relation_size('market_data_rollups') AS rollups
  FROM pg_partition_tree('market_data_ts')`;
const TIMESCALE_SIZE_SQL = `SELECT hypertable_size('market_data_ts') AS bytes,
  (SELECT coalesce(sum(hypertable_size(format('%I.%I', h.schema_name, h.table_name)::regclass)), 0)
     FROM _timescaledb_catalog.continuous_agg a
     JOIN _timescaledb_catalog.hypertable h ON h.id = a.mat_hypertable_id) AS rollups`;

export function serviceSystem(
  name: string,
  service: BenchServer,
  dbUrl: string,
  version: string,
  timescale: boolean,
): PeerSystem {
  const database = new URL(dbUrl).pathname.slice(1);
  let bodies: string[] = [];
  // The last bar starts a minute before the end: any end in (end - 60 s, end] reads the same
  // rows, and a different one per request is a different cache key (as bench/query.ts does).
  const queryUrl = (r: Range, k: number, timeframe: string, limit: number) =>
    `${service.base}/api/v1/storage/query?instrument_id=${r.instrument}&timeframe=${timeframe}&start_time=${iso(r.startMs)}&end_time=${iso(r.endMs - 59_999 + (k % 59_999))}&limit=${limit}`;
  const query = (r: Range, k: number, timeframe: string, limit: number): Probe => ({
    url: queryUrl(r, k, timeframe, limit),
    rows: (body) => (JSON.parse(body) as { data_points: unknown[] }).data_points.length,
  });
  const minutes = (r: Range) => (r.endMs - r.startMs) / 60_000;
  return {
    name,
    version,
    caches: true,
    prepare: (batches) => {
      bodies = batches.map((b) =>
        JSON.stringify({
          instrument_id: b.instrument,
          timeframe: 'ONE_MINUTE',
          data_points: b.bars,
        }),
      );
    },
    reset: async () => void (await sql(dbUrl, 'TRUNCATE market_data_ts')),
    ingest: async (clients) => {
      await inParallel(bodies, clients, async (body) => {
        const res = await fetch(`${service.base}/api/v1/storage/store`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        const answer = JSON.parse(await expectStatus(res, 200, 'POST /store')) as {
          failed_count: number;
        };
        if (answer.failed_count !== 0)
          throw new Error(`POST /store: ${answer.failed_count} failed`);
      });
    },
    meterCpu: () => {
      const node = new CpuMeter(() => [service.child.pid as number]);
      const backends = new CpuMeter(() => backendPids(database));
      return () => {
        const nodeMs = node.stop();
        return { ms: nodeMs + backends.stop(), nodeMs };
      };
    },
    count: () => systemCount(dbUrl),
    prepareReads: async () => {
      // The steady state autovacuum reaches on its own, and the one the service's jobs reach
      // on bars this old: on plain PostgreSQL one run materializes the rollups; on TimescaleDB
      // (as bench/maintenance.ts) run 1 compresses the bars and refreshes the rollups, run 2
      // compresses the rollups.
      if (!timescale) {
        await runMaintenance(service.base);
        await vacuumAnalyze(dbUrl);
        await sql(dbUrl, 'VACUUM ANALYZE market_data_rollups');
        return;
      }
      await vacuumAnalyze(dbUrl);
      await runMaintenance(service.base);
      await runMaintenance(service.base);
    },
    range: (r, k) => query(r, k, 'ONE_MINUTE', minutes(r)),
    hourly: (r, k) => query(r, k, 'ONE_HOUR', (r.endMs - r.startMs) / 3_600_000),
    // Loaded into a table of columns, as pyarrow or Polars would: no row objects.
    arrowRange: (r, k) => ({
      url: `${queryUrl(r, k, 'ONE_MINUTE', minutes(r))}&format=arrow`,
      rowsOfBytes: (body) => tableFromIPC(body).numRows,
    }),
    bytesPerBar: async () => {
      const bars = await systemCount(dbUrl);
      if (!timescale) {
        const [row] = await sql<{ bytes: string; rollups: string }>(dbUrl, PLAIN_SIZE_SQL);
        return {
          perBar: Number(row.bytes) / bars,
          withRollups: (Number(row.bytes) + Number(row.rollups)) / bars,
          note: 'no compression',
        };
      }
      // Compressed before the reads (prepareReads).
      const [row] = await sql<{ bytes: string; rollups: string }>(dbUrl, TIMESCALE_SIZE_SQL);
      return {
        perBar: Number(row.bytes) / bars,
        withRollups: (Number(row.bytes) + Number(row.rollups)) / bars,
        note: 'compressed',
      };
    },
  };
}

async function systemCount(dbUrl: string): Promise<number> {
  return Number((await sql<{ n: string }>(dbUrl, 'SELECT count(*) AS n FROM market_data_ts'))[0].n);
}

interface CopySession {
  /** Settles once psql has copied the file. */
  readonly copied: Promise<void>;
  end(): void;
}

/**
 * psql \copy of a CSV file into market_data_ts, the session kept open after
 * it (until end()): its backend lives on until its CPU is read.
 */
const copySession =
  (dbUrl: string) =>
  (path: string): CopySession => {
    const psql = spawn('psql', [dbUrl, '-v', 'ON_ERROR_STOP=1', '-q'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const copied = new Promise<void>((resolve, reject) => {
      let out = '';
      psql.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('copied')) resolve();
      });
      psql.once('exit', (code) => reject(new Error(`psql \\copy exited with ${code}`)));
    });
    psql.stdin.write(
      `\\copy market_data_ts ("timestamp", instrument_id, timeframe, open_price, high_price, low_price, close_price, volume, dollar_volume, trade_count) FROM '${path}' WITH (FORMAT csv)\n\\echo copied\n`,
    );
    return { copied, end: () => psql.stdin.end() };
  };

/** psql \copy of the same rows as CSV into the service's table on plain PostgreSQL; one psql per client. */
export function psqlCopySystem(dbUrl: string, dir: string, version: string): PeerSystem {
  const database = new URL(dbUrl).pathname.slice(1);
  // Per client count, one CSV file per client: the batches dealt out in turn.
  const files = new Map<number, string[]>();
  let sessions: CopySession[] = [];
  return {
    name: 'psql \\copy',
    version,
    prepare: (batches, clientCounts) => {
      for (const clients of clientCounts) {
        // Fewer batches than clients (the smoke size): the clients without a batch stay idle.
        const paths = Array.from({ length: Math.min(clients, batches.length) }, (_, c) => {
          const path = join(dir, `copy-${clients}-${c}.csv`);
          const mine = batches.filter((_, i) => i % clients === c);
          writeFileSync(path, mine.map((b) => csvOf(b.instrument, b.bars)).join('\n') + '\n');
          return path;
        });
        files.set(clients, paths);
      }
    },
    reset: async () => void (await sql(dbUrl, 'TRUNCATE market_data_ts')),
    ingest: async (clients) => {
      sessions = (files.get(clients) ?? []).map(copySession(dbUrl));
      await Promise.all(sessions.map((session) => session.copied));
    },
    meterCpu: () => {
      const backends = new CpuMeter(() => backendPids(database));
      return () => {
        const used = { ms: backends.stop() };
        for (const session of sessions.splice(0)) session.end();
        return used;
      };
    },
    count: () => systemCount(dbUrl),
  };
}

// ---------------------------------------------------------------------------
// InfluxDB 1.6: line protocol over HTTP /write, InfluxQL over /query.

const INFLUX_DB = 'bench';

function lineOf(instrument: string, b: BarPoint): string {
  return `bars,instrument=${instrument} open=${b.open},high=${b.high},low=${b.low},close=${b.close},volume=${b.volume}i,dollar_volume=${b.dollar_volume},trade_count=${b.trade_count}i ${Date.parse(b.timestamp) / 1000}`;
}

export async function influxSystem(server: PeerServer): Promise<PeerSystem> {
  const influxql = async (q: string) => {
    const res = await fetch(`${server.base}/query?db=${INFLUX_DB}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ q }).toString(),
    });
    return JSON.parse(await expectStatus(res, 200, 'InfluxDB /query')) as InfluxAnswer;
  };
  const version = (await fetch(`${server.base}/ping`)).headers.get('x-influxdb-version') ?? '?';
  await influxql(`CREATE DATABASE ${INFLUX_DB}`);
  const count = async () => {
    const answer = await influxql('SELECT count(close) FROM bars');
    return Number(answer.results[0].series?.[0]?.values[0]?.[1] ?? 0);
  };
  let bodies: string[] = [];
  const ns = (msValue: number) => `${msValue}000000`;
  const select = (what: string, r: Range, tail = '') => ({
    url: `${server.base}/query?db=${INFLUX_DB}&q=${encodeURIComponent(
      `SELECT ${what} FROM bars WHERE instrument = '${r.instrument}' AND time >= ${ns(r.startMs)} AND time < ${ns(r.endMs)}${tail}`,
    )}`,
    rows: (body: string) =>
      (JSON.parse(body) as InfluxAnswer).results[0].series?.[0]?.values.length ?? 0,
  });
  return {
    name: 'InfluxDB',
    version: `InfluxDB ${version}`,
    reset: async () => {
      await influxql(`DROP DATABASE ${INFLUX_DB}`);
      await influxql(`CREATE DATABASE ${INFLUX_DB}`);
    },
    prepare: (batches) => {
      bodies = batches.map((b) => b.bars.map((bar) => lineOf(b.instrument, bar)).join('\n'));
    },
    ingest: async (clients) => {
      await inParallel(bodies, clients, async (body) => {
        const res = await fetch(`${server.base}/write?db=${INFLUX_DB}&precision=s`, {
          method: 'POST',
          body,
        });
        await expectStatus(res, 204, 'InfluxDB /write');
      });
    },
    meterCpu: () => {
      const meter = new CpuMeter(() => [server.pid]);
      return () => ({ ms: meter.stop() });
    },
    count,
    range: (r) => select('open, high, low, close, volume, dollar_volume, trade_count', r),
    hourly: (r) =>
      select(
        'first(open), max(high), min(low), last(close), sum(volume)',
        r,
        ' GROUP BY time(1h) fill(none)',
      ),
    bytesPerBar: async () => {
      const bars = await count();
      // The shards (TSM files and their field index); not the series file, 32 MB preallocated.
      const bytes = await compactedBytes(
        join(server.dir, 'data', INFLUX_DB, 'autogen'),
        join(server.dir, 'wal'),
      );
      return { perBar: bytes / bars, note: 'shards after compaction' };
    },
  };
}

interface InfluxAnswer {
  results: { series?: { values: unknown[][] }[]; error?: string }[];
}

/**
 * The shard's bytes once the write-ahead log is snapshot and the shard fully
 * compacted (the 1 s cold durations of the generated config): waits until the
 * log is empty and the size holds still for 3 s, 120 s at most.
 */
async function compactedBytes(dataDir: string, walDir: string): Promise<number> {
  const deadline = Date.now() + 120_000;
  let previous = -1;
  let stable = 0;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    const bytes = directoryBytes(dataDir);
    const walBytes = directoryBytes(join(walDir, INFLUX_DB));
    stable = bytes === previous && walBytes < 1024 ? stable + 1 : 0;
    if (stable >= 3) return bytes;
    previous = bytes;
  }
  console.log('InfluxDB: compaction did not settle within 120 s; the size is as it stands');
  return previous;
}

// ---------------------------------------------------------------------------
// ClickHouse 18.16: TabSeparated inserts and JSONEachRow answers over HTTP.

const CLICKHOUSE_TABLE = `CREATE TABLE bars (instrument String, ts DateTime, open Float64,
  high Float64, low Float64, close Float64, volume UInt64, dollar_volume Float64,
  trade_count UInt32) ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (instrument, ts)`;

const chTime = (msValue: number) => `'${iso(msValue).slice(0, 19).replace('T', ' ')}'`;

function tsvOf(b: Batch): string {
  return b.bars
    .map(
      (bar) =>
        `${b.instrument}\t${bar.timestamp.slice(0, 19).replace('T', ' ')}\t${bar.open}\t${bar.high}\t${bar.low}\t${bar.close}\t${bar.volume}\t${bar.dollar_volume}\t${bar.trade_count}`,
    )
    .join('\n');
}

/** JSONEachRow: one object a line, parsed as one array. */
function jsonEachRow(body: string): number {
  const text = body.trimEnd();
  return text ? (JSON.parse(`[${text.split('\n').join(',')}]`) as unknown[]).length : 0;
}

export async function clickHouseSystem(server: PeerServer): Promise<PeerSystem> {
  const statement = async (text: string, body?: string) => {
    const res = await fetch(
      body === undefined ? server.base : `${server.base}?query=${encodeURIComponent(text)}`,
      { method: 'POST', body: body ?? text },
    );
    return expectStatus(res, 200, `ClickHouse ${text.slice(0, 40)}`);
  };
  const version = (await statement('SELECT version()')).trim();
  await statement(CLICKHOUSE_TABLE);
  let bodies: string[] = [];
  const select = (what: string, r: Range, tail: string) => ({
    url: `${server.base}?query=${encodeURIComponent(
      `SELECT ${what} FROM bars WHERE instrument = '${r.instrument}' AND ts >= ${chTime(r.startMs)} AND ts < ${chTime(r.endMs)} ${tail} FORMAT JSONEachRow`,
    )}`,
    rows: jsonEachRow,
  });
  const count = async () => Number(await statement('SELECT count() FROM bars'));
  return {
    name: 'ClickHouse',
    version: `ClickHouse ${version}`,
    reset: async () => void (await statement('TRUNCATE TABLE bars')),
    prepare: (batches) => {
      bodies = batches.map(tsvOf);
    },
    ingest: async (clients) => {
      await inParallel(bodies, clients, async (body) => {
        await statement('INSERT INTO bars FORMAT TabSeparated', body);
      });
    },
    meterCpu: () => {
      const meter = new CpuMeter(() => [server.pid]);
      return () => ({ ms: meter.stop() });
    },
    count,
    range: (r) =>
      select('ts, open, high, low, close, volume, dollar_volume, trade_count', r, 'ORDER BY ts'),
    hourly: (r) =>
      select(
        'toStartOfHour(ts) AS t, argMin(open, ts) AS open, max(high) AS high, min(low) AS low, argMax(close, ts) AS close, sum(volume) AS volume',
        r,
        'GROUP BY t ORDER BY t',
      ),
    bytesPerBar: async () => {
      await statement('OPTIMIZE TABLE bars FINAL');
      const bytes = Number(
        await statement(
          "SELECT sum(data_compressed_bytes) FROM system.parts WHERE active AND database = currentDatabase() AND table = 'bars'",
        ),
      );
      return {
        perBar: bytes / (await count()),
        note: 'data_compressed_bytes after OPTIMIZE FINAL',
      };
    },
  };
}
