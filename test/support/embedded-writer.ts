/**
 * Child process of the embedded durability suite: opens the embedded engine on
 * DATA_DIR, writes `batches` batches of `batchSize` 1-minute bars, prints
 * `committed <rows>` after each commit, then waits to be killed.
 *
 * Usage: node -r ts-node/register/transpile-only test/support/embedded-writer.ts \
 *          <dataDir> <batchSize> <batches> <instrumentId> <startIso>
 */
import { Logger } from '@nestjs/common';
import { TimeFrame } from '../../src/common/market-data.types';
import { DatabaseConnection } from '../../src/database/database-connection';
import { MarketDataRepository } from '../../src/repositories/market-data.repository';
import { loadSettings } from '../../src/settings/settings';
import { makeBarRows } from './bar-rows';

async function main(): Promise<void> {
  const [dataDir, batchSize, batches, instrumentId, startIso] = process.argv.slice(2);
  Logger.overrideLogger(['error']);
  const connection = await DatabaseConnection.open(
    loadSettings({ LOG_LEVEL: 'error', DATA_DIR: dataDir }),
  );
  const repository = new MarketDataRepository(connection);
  const size = Number(batchSize);
  const rows = makeBarRows(startIso, size * Number(batches));
  for (let i = 0; i * size < rows.length; i++) {
    await repository.upsertBars(
      { instrumentId, timeframe: TimeFrame.ONE_MINUTE },
      rows.slice(i * size, (i + 1) * size),
    );
    process.stdout.write(`committed ${(i + 1) * size}\n`);
  }
  process.stdout.write('done\n');
  // Stay up with the engine open: the parent kills this process.
  setInterval(() => undefined, 60_000);
}

if (require.main !== module) throw new Error('embedded-writer.ts is a script, not a module');

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
