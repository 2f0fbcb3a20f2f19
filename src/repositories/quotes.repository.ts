import { Inject, Injectable } from '@nestjs/common';
import { allowDmlOnCompressedChunks } from './bulk-sql';
import { BulkWriter } from './bulk-writer';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { TimeRange } from './market-data.repository';
import { translatePgErrors } from '../database/pg-errors';
import { withTransaction } from '../database/sessions';
import { TickTableMaintenance } from './tick-tables';
import { QUOTE_TABLE, QuoteRow } from './write-tables';

export type { QuoteRow };

/** Quotes of one instrument; each (timestamp, source) once. */
export interface InstrumentQuotes {
  readonly instrumentId: string;
  readonly quotes: readonly QuoteRow[];
}

/**
 * Raw SQL on market_quotes_ts. Keyed by (instrument_id, timestamp, source):
 * one quote per venue and microsecond, a later one replacing it.
 */
@Injectable()
export class QuotesRepository {
  readonly maintenance: TickTableMaintenance;
  private readonly writer: BulkWriter<QuoteRow, string>;

  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {
    this.maintenance = new TickTableMaintenance(db, 'market_quotes_ts');
    this.writer = new BulkWriter(db, QUOTE_TABLE, this.maintenance.partitions);
  }

  /** Writes the quotes of several instruments in ONE commit, as TradesRepository.upsertTrades. */
  async upsertQuotes(batches: readonly InstrumentQuotes[]): Promise<void> {
    await this.writer.upsert(batches.map((b) => ({ group: b.instrumentId, rows: b.quotes })));
  }

  /** Deletes the quotes of an instrument in `range` (milliseconds); returns how many. */
  async deleteRange(instrumentId: string, range: TimeRange): Promise<number> {
    const deleted = await translatePgErrors(() =>
      withTransaction(this.db.pool, async (client) => {
        await allowDmlOnCompressedChunks(client, this.maintenance.timescale);
        const result = await client.query(
          `DELETE FROM market_quotes_ts
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
