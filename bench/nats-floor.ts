import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { AckPolicy, connect, JsMsg } from 'nats';
import { ensureStream } from '../src/events/jetstream-setup';
import { makeEvents, publishAll, uniqueEventNames } from '../test/support/events';
import { printTable, recordConditions } from './support';

/**
 * What JetStream itself costs per one-bar event, before any storage work:
 * the events bench's backlog consumed by a bare pull consumer that (1) only
 * receives, (2) also parses the JSON, (3) also acknowledges each message
 * (AckPolicy.Explicit, as the service must: see bench/notes/events.md).
 * CPU of nats-server (read from /proc, when it runs on this machine) and of
 * this process, per event.
 */
const POINTS = Number(process.env.BENCH_POINTS ?? 100_000);
const NATS_URL = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
/** Acks per this many messages in the modes without explicit acks (AckPolicy.All). */
const ACK_EVERY = 5_000;

type Mode = 'receive' | 'parse' | 'parse+ack';

/** CPU ms of the local nats-server processes; undefined when none is found. */
function natsServerCpuMs(): number | undefined {
  try {
    const pids = execFileSync('pgrep', ['-x', 'nats-server']).toString().trim().split('\n');
    return pids.reduce((sum, pid) => {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return sum + (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, in 10 ms ticks
    }, 0);
  } catch {
    return undefined;
  }
}

function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

export async function runNatsFloorBench(): Promise<void> {
  const names = uniqueEventNames('floor');
  const nc = await connect({ servers: NATS_URL });
  const jsm = await nc.jetstreamManager();
  try {
    const instruments = Array.from({ length: 20 }, (_, i) => `NF${i}`);
    const events = makeEvents(instruments, Math.ceil(POINTS / instruments.length));
    await ensureStream(jsm, names.stream, names.subjects);
    await publishAll(nc.jetstream(), names.subjects.input, events, 1_000);
    recordConditions({ 'nats floor events': events.length });

    const rows: (string | number)[][] = [];
    // The first pass warms up (JIT, buffers) and is not reported.
    for (const [pass, mode] of (['parse', 'receive', 'parse', 'parse+ack'] as Mode[]).entries()) {
      const durable = `floor_${pass}`;
      await jsm.consumers.add(names.stream, {
        durable_name: durable,
        ack_policy: mode === 'parse+ack' ? AckPolicy.Explicit : AckPolicy.All,
        filter_subject: names.subjects.input,
        max_ack_pending: 20_000,
      });
      const consumer = await nc.jetstream().consumers.get(names.stream, durable);
      const decoder = new TextDecoder();
      let received = 0;
      let parsed = 0;
      const natsBefore = natsServerCpuMs();
      const selfBefore = processCpuMs();
      const started = performance.now();
      await new Promise<void>((resolve) => {
        void consumer.consume({
          max_messages: 10_000,
          callback: (m: JsMsg) => {
            received++;
            if (mode !== 'receive' && JSON.parse(decoder.decode(m.data)) !== null) parsed++;
            if (mode === 'parse+ack' || received % ACK_EVERY === 0 || received === events.length)
              m.ack();
            if (received === events.length) resolve();
          },
        });
      });
      const ms = performance.now() - started;
      const natsAfter = natsServerCpuMs();
      const perEvent = (cpuMs: number) => ((cpuMs * 1000) / received).toFixed(1);
      if (mode !== 'receive' && parsed !== received) throw new Error('not every event was parsed');
      if (pass === 0) continue;
      rows.push([
        mode === 'receive'
          ? 'receive only (one ack per 5,000)'
          : mode === 'parse'
            ? 'receive + JSON.parse (one ack per 5,000)'
            : 'receive + JSON.parse + ack each (explicit)',
        Math.round(received / (ms / 1000)),
        natsBefore === undefined || natsAfter === undefined
          ? '-'
          : perEvent(natsAfter - natsBefore),
        perEvent(processCpuMs() - selfBefore),
      ]);
    }
    printTable(
      `JetStream alone: ${events.length.toLocaleString('en')} one-bar events consumed by a bare pull consumer, no storage`,
      ['consumer does', 'events/s', 'nats-server CPU µs/event', 'client CPU µs/event'],
      rows,
    );
  } finally {
    await jsm.streams.delete(names.stream).catch(() => undefined);
    await nc.close();
  }
}
