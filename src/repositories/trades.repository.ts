import { Inject, Injectable } from '@nestjs/common';
import { PoolClient } from 'pg';
import { allowDmlOnCompressedChunks, copyText } from './bulk-sql';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { TimeRange } from './market-data.repository';
import { translatePgErrors } from '../database/pg-errors';
import { withTransaction } from '../database/sessions';
import { isoUs, TickTableMaintenance } from './tick-tables';

/** One trade as written: validated, its key settled (trade_id or a derived key). */
export interface TradeRow {
  readonly timestampUs: number;
  /** The producer's trade_id, or DERIVED_KEY_PREFIX + a key derived from the print. */
  readonly key: string;
  readonly price: number;
  readonly size: number;
  readonly conditions: readonly string[] | null;
  readonly qualityScore: number;
  readonly source: string | null;
}

/** Trades of one instrument; each (timestamp, key) once. */
export interface InstrumentTrades {
  readonly instrumentId: string;
  readonly trades: readonly TradeRow[];
}

/** Keys the service derives start with this; a producer's trade_id never does. */
export const DERIVED_KEY_PREFIX = '~';

const WRITE_COLUMNS =
  '"timestamp", instrument_id, trade_id, price, size, conditions, quality_score, source';
const UPSERT_SET = ['price', 'size', 'conditions', 'quality_score', 'source']
  .map((c) => `${c} = EXCLUDED.${c}`)
  .join(', ');
const CONFLICT = `ON CONFLICT (instrument_id, "timestamp", trade_id) DO UPDATE SET ${UPSERT_SET}`;

/** Rows per array statement on the embedded engine (its memory, not a bind limit, bounds it). */
const ARRAY_BATCH_ROWS = 50_000;

/** A text[] literal for COPY; condition codes hold no quote, backslash, comma, brace or space. */
function conditionsLiteral(conditions: readonly string[] | null): string {
  return conditions === null ? '\\N' : `{${conditions.map((c) => `"${copyText(c)}"`).join(',')}}`;
}

/**
 * Raw SQL on market_trades_ts. Keyed by (instrument_id, timestamp, trade_id):
 * several trades may share a microsecond, and a replay is an idempotent upsert.
 */
@Injectable()
export class TradesRepository {
  readonly maintenance: TickTableMaintenance;

  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {
    this.maintenance = new TickTableMaintenance(db, 'market_trades_ts');
  }

  /**
   * Writes the trades of several instruments in ONE transaction; an existing
   * (instrument, timestamp, key) is replaced. On a server, new rows take a
   * plain COPY and existing ones a COPY into a staging table merged with ON
   * CONFLICT; the embedded engine and small batches upsert from arrays.
   */
  async upsertTrades(batches: readonly InstrumentTrades[]): Promise<void> {
    await this.maintenance.upsertBatches(batches, {
      pointsOf: (b) => b.trades,
      fromArrays: (client, written) => this.upsertFromArrays(client, written),
      columns: WRITE_COLUMNS,
      copyLines: copyLinesOf,
      mergeSql: `INSERT INTO market_trades_ts (${WRITE_COLUMNS})
                 SELECT ${WRITE_COLUMNS} FROM market_trades_staging ${CONFLICT}`,
    });
  }

  private async upsertFromArrays(client: PoolClient, batches: readonly InstrumentTrades[]) {
    const rows: { instrumentId: string; trade: TradeRow }[] = [];
    for (const { instrumentId, trades } of batches) {
      for (const trade of trades) rows.push({ instrumentId, trade });
    }
    for (let at = 0; at < rows.length; at += ARRAY_BATCH_ROWS) {
      const part = rows.slice(at, at + ARRAY_BATCH_ROWS);
      await client.query(
        `INSERT INTO market_trades_ts (${WRITE_COLUMNS})
         SELECT t, i, k, p, s, CASE WHEN c IS NULL THEN NULL ELSE string_to_array(c, ',') END, q, src
           FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::float8[], $5::float8[],
                       $6::text[], $7::float8[], $8::text[]) AS u(t, i, k, p, s, c, q, src)
         ${CONFLICT}`,
        [
          part.map((r) => isoUs(r.trade.timestampUs)),
          part.map((r) => r.instrumentId),
          part.map((r) => r.trade.key),
          part.map((r) => r.trade.price),
          part.map((r) => r.trade.size),
          // Joined with commas: condition codes never hold one (trade-rules).
          part.map((r) => (r.trade.conditions === null ? null : r.trade.conditions.join(','))),
          part.map((r) => r.trade.qualityScore),
          part.map((r) => r.trade.source),
        ],
      );
    }
  }

  /** Deletes the trades of an instrument in `range` (milliseconds); returns how many. */
  async deleteRange(instrumentId: string, range: TimeRange): Promise<number> {
    return translatePgErrors(() =>
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
  }
}

function* copyLinesOf(batches: readonly InstrumentTrades[]): Generator<string> {
  for (const { instrumentId, trades } of batches) {
    const instrument = copyText(instrumentId);
    for (const t of trades) {
      yield (
        `${isoUs(t.timestampUs)}\t${instrument}\t${copyText(t.key)}\t${t.price}\t${t.size}\t` +
        `${conditionsLiteral(t.conditions)}\t${t.qualityScore}\t` +
        `${t.source === null ? '\\N' : copyText(t.source)}\n`
      );
    }
  }
}
