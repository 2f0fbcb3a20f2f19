import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runCompressionBench } from './compression';
import { runEventsBench } from './events';
import { runFormatsBench } from './formats';
import { runNatsFloorBench } from './nats-floor';
import { runPeersBench } from './peers';
import { runIngestBench } from './ingest';
import { runLayoutBench } from './layout';
import { runMaintenanceBench } from './maintenance';
import { runQueryBench } from './query';
import { runResearchBench } from './research';
import { runRollupsBench } from './rollups';
import { reportPaths, writeReport } from './report';
import { runScaleBench } from './scale';
import { runTradesBench } from './trades';
import { beginPart, benchSize, endPart, readMachine, recordedParts } from './support';

/** Every part, in the order of the full suite and of docs/benchmarks.md. */
export const PARTS: Record<string, () => Promise<void>> = {
  ingest: runIngestBench,
  events: runEventsBench,
  'nats-floor': runNatsFloorBench,
  query: runQueryBench,
  compression: runCompressionBench,
  scale: runScaleBench,
  layout: runLayoutBench,
  rollups: runRollupsBench,
  maintenance: runMaintenanceBench,
  trades: runTradesBench,
  peers: runPeersBench,
  research: runResearchBench,
  formats: runFormatsBench,
};

/**
 * Runs the parts, then merges their results into the results file and
 * regenerates the report. A smoke run writes to a temporary directory unless
 * `outDir` is given, so it never replaces measured figures. Returns the
 * number of parts that failed.
 */
export async function runBench(parts: readonly string[], outDir?: string): Promise<number> {
  const out = outDir ?? (benchSize() === 'smoke' ? join(tmpdir(), 'mds-bench-smoke') : undefined);
  const machine = await readMachine();
  const started = Date.now();
  let failed = 0;
  for (const name of parts) {
    console.log(`\n=== bench ${name} (size ${benchSize()}) ===`);
    beginPart(name, machine);
    try {
      await PARTS[name]();
      endPart();
    } catch (error) {
      failed++;
      console.error(`bench ${name} failed:`, error);
      endPart(error);
    }
  }
  const root = join(__dirname, '..');
  const paths = reportPaths(root, out);
  await writeReport(paths, recordedParts(), Object.keys(PARTS), join(root, 'bench', 'notes'));
  console.log(
    `\nbench done in ${Math.round((Date.now() - started) / 1000)} s (${failed} part(s) failed): ${paths.json}, ${paths.markdown}`,
  );
  return failed;
}

/** Regenerates the markdown from the results file alone (no part runs). */
export async function regenerateReport(outDir?: string): Promise<void> {
  const root = join(__dirname, '..');
  const paths = reportPaths(root, outDir);
  await writeReport(paths, [], Object.keys(PARTS), join(root, 'bench', 'notes'));
  console.log(`regenerated ${paths.markdown} from ${paths.json}`);
}
