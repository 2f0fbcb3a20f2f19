import { Inject, Injectable } from '@nestjs/common';
import { PoolClient } from 'pg';
import { allowDmlOnCompressedChunks, copyText } from './bulk-sql';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { TimeRange } from './market-data.repository';
import { translatePgErrors } from '../database/pg-errors';
import { withTransaction } from '../database/sessions';
import { isoUs, TickTableMaintenance } from './tick-tables';

/** One quote as written: validated, bid <= ask, sizes >= 0. */
export interface QuoteRow {
  readonly timestampUs: number;
  readonly bid: number;
  readonly ask: number;
  readonly bidSize: number;
  readonly askSize: number;
  /** '' when the producer named none: part of the key. */
  readonly source: string;
}

/** Quotes of one instrument; each (timestamp, source) once. */
export interface InstrumentQuotes {
  readonly instrumentId: string;
  readonly quotes: readonly QuoteRow[];
}

const WRITE_COLUMNS = '"timestamp", instrument_id, bid, ask, bid_size, ask_size, source';
const CONFLICT = `ON CONFLICT (instrument_id, "timestamp", source) DO UPDATE SET
  bid = EXCLUDED.bid, ask = EXCLUDED.ask, bid_size = EXCLUDED.bid_size, ask_size = EXCLUDED.ask_size`;
const ARRAY_BATCH_ROWS = 50_000;

/**
 * Raw SQL on market_quotes_ts. Keyed by (instrument_id, timestamp, source):
 * one quote per venue and microsecond, a later one replacing it.
 */
@Injectable()
export class QuotesRepository {
  readonly maintenance: TickTableMaintenance;

  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {
    this.maintenance = new TickTableMaintenance(db, 'market_quotes_ts');
  }

  /** Writes the quotes of several instruments in ONE transaction, as TradesRepository.upsertTrades. */
  async upsertQuotes(batches: readonly InstrumentQuotes[]): Promise<void> {
    await this.maintenance.upsertBatches(batches, {
      pointsOf: (b) => b.quotes,
      fromArrays: (client, written) => this.upsertFromArrays(client, written),
      columns: WRITE_COLUMNS,
      copyLines: copyLinesOf,
      mergeSql: `INSERT INTO market_quotes_ts (${WRITE_COLUMNS})
                 SELECT ${WRITE_COLUMNS} FROM market_quotes_staging ${CONFLICT}`,
    });
  }

  private async upsertFromArrays(client: PoolClient, batches: readonly InstrumentQuotes[]) {
    const rows: { instrumentId: string; quote: QuoteRow }[] = [];
    for (const { instrumentId, quotes } of batches) {
      for (const quote of quotes) rows.push({ instrumentId, quote });
    }
    for (let at = 0; at < rows.length; at += ARRAY_BATCH_ROWS) {
      const part = rows.slice(at, at + ARRAY_BATCH_ROWS);
      await client.query(
        `INSERT INTO market_quotes_ts (${WRITE_COLUMNS})
         SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::float8[], $4::float8[],
                              $5::float8[], $6::float8[], $7::text[])
         ${CONFLICT}`,
        [
          part.map((r) => isoUs(r.quote.timestampUs)),
          part.map((r) => r.instrumentId),
          part.map((r) => r.quote.bid),
          part.map((r) => r.quote.ask),
          part.map((r) => r.quote.bidSize),
          part.map((r) => r.quote.askSize),
          part.map((r) => r.quote.source),
        ],
      );
    }
  }

  /** Deletes the quotes of an instrument in `range` (milliseconds); returns how many. */
  async deleteRange(instrumentId: string, range: TimeRange): Promise<number> {
    return translatePgErrors(() =>
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
  }
}

function* copyLinesOf(batches: readonly InstrumentQuotes[]): Generator<string> {
  for (const { instrumentId, quotes } of batches) {
    const instrument = copyText(instrumentId);
    for (const q of quotes) {
      yield `${isoUs(q.timestampUs)}\t${instrument}\t${q.bid}\t${q.ask}\t${q.bidSize}\t${q.askSize}\t${copyText(q.source)}\n`;
    }
  }
}
