import { runCacheBench } from './cache';
import { runEventsBench } from './events';
import { runIngestBench } from './ingest';
import { runRollupsBench } from './rollups';
import { runTradesBench } from './trades';
import { runLayoutBench } from './layout';

/** `npm run bench [part]`: every benchmark part in turn, or the one named. */
const PARTS: Record<string, () => Promise<void>> = {
  ingest: runIngestBench,
  events: runEventsBench,
  cache: runCacheBench,
  rollups: runRollupsBench,
  trades: runTradesBench,
  layout: runLayoutBench,
};

async function run(): Promise<void> {
  const wanted = process.argv[2];
  const names = wanted ? [wanted] : Object.keys(PARTS);
  for (const name of names) {
    const part = PARTS[name];
    if (!part)
      throw new Error(`unknown bench part "${name}"; parts: ${Object.keys(PARTS).join(', ')}`);
    await part();
  }
}

run().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
