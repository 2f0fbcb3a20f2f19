import { Inject, Injectable } from '@nestjs/common';
import { allowDmlOnCompressedChunks } from './bulk-sql';
import { BulkWriter } from './bulk-writer';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { TimeRange } from './market-data.repository';
import { translatePgErrors } from '../database/pg-errors';
import { withTransaction } from '../database/sessions';
import { TickTableMaintenance } from './tick-tables';
import { TRADE_TABLE, TradeRow } from './write-tables';

export type { TradeRow };

/** Trades of one instrument; each (timestamp, key) once. */
export interface InstrumentTrades {
  readonly instrumentId: string;
  readonly trades: readonly TradeRow[];
}

/** Keys the service derives start with this; a producer's trade_id never does. */
export const DERIVED_KEY_PREFIX = '~';

/**
 * Raw SQL on market_trades_ts. Keyed by (instrument_id, timestamp, trade_id):
 * several trades may share a microsecond, and a replay is an idempotent upsert.
 */
@Injectable()
export class TradesRepository {
  readonly maintenance: TickTableMaintenance;
  private readonly writer: BulkWriter<TradeRow, string>;

  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {
    this.maintenance = new TickTableMaintenance(db, 'market_trades_ts');
    this.writer = new BulkWriter(db, TRADE_TABLE, this.maintenance.partitions);
  }

  /**
   * Writes the trades of several instruments in ONE commit; an existing
   * (instrument, timestamp, key) is replaced (BulkWriter).
   */
  async upsertTrades(batches: readonly InstrumentTrades[]): Promise<void> {
    await this.writer.upsert(batches.map((b) => ({ group: b.instrumentId, rows: b.trades })));
  }

  /** Deletes the trades of an instrument in `range` (milliseconds); returns how many. */
  async deleteRange(instrumentId: string, range: TimeRange): Promise<number> {
    const deleted = await translatePgErrors(() =>
      withTransaction(this.db.pool, async (client) => {
        await allowDmlOnCompressedChunks(client, this.maintenance.timescale);
        const result = await client.query(
          `DELETE FROM market_trades_ts
            WHERE instrument_id = $1 AND "timestamp" >= $2 AND "timestamp" < $3`,
          [instrumentId, new Date(range.fromMs).toISOString(), new Date(range.toMs).toISOString()],
        );
        return result.rowCount ?? 0;
      }),
    );
    // Committed: reads of the instrument stay on the primary until a replica has it.
    await this.db.reads.noteWrite([instrumentId]);
    return deleted;
  }
}
