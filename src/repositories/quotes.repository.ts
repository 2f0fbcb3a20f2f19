import { Inject, Injectable } from '@nestjs/common';
import { allowDmlOnCompressedChunks, ISO_US_SQL } from './bulk-sql';
import { BulkWriter } from './bulk-writer';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { TimeRange } from './market-data.repository';
import { translatePgErrors } from '../database/pg-errors';
import { withTransaction } from '../database/sessions';
import { isoUs, MicroRange, TickPage, TickPosition, TickTableMaintenance } from './tick-tables';
import { quotedNames, selectList, toTickPage } from './trades.repository';
import { QUOTE_TABLE, QuoteRow } from './write-tables';

export type { QuoteRow };

/** Quotes of one instrument; each (timestamp, source) once. */
export interface InstrumentQuotes {
  readonly instrumentId: string;
  readonly quotes: readonly QuoteRow[];
}

export const QUOTE_FIELDS = ['timestamp', 'bid', 'ask', 'bid_size', 'ask_size', 'source'] as const;
export type QuoteField = (typeof QUOTE_FIELDS)[number];

const QUOTE_FIELD_SQL: Readonly<Record<QuoteField, string>> = {
  timestamp: `to_char("timestamp" AT TIME ZONE 'UTC', ${ISO_US_SQL})`,
  bid: 'bid',
  ask: 'ask',
  bid_size: 'bid_size',
  ask_size: 'ask_size',
  source: `nullif(source, '')`,
};

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

  /** One page of quotes in [range) after `after`, ascending by (timestamp, source). */
  async findQuotesPage(
    instrumentId: string,
    range: MicroRange,
    fields: readonly QuoteField[],
    limit: number,
    after: TickPosition | undefined,
    withTotal: boolean,
  ): Promise<TickPage> {
    const where = `instrument_id = $1 AND "timestamp" >= $2 AND "timestamp" < $3`;
    const params: unknown[] = [instrumentId, isoUs(range.fromUs), isoUs(range.toUs), limit];
    let keyset = '';
    if (after) {
      params.push(isoUs(after.timestampUs), after.key);
      keyset = `AND ("timestamp", source) > ($5::timestamptz, $6::text)`;
    }
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{
        points: string;
        more: boolean;
        last_ts: string | null;
        last_key: string | null;
        total: string | null;
      }>(
        `WITH page AS MATERIALIZED (
           SELECT "timestamp" AS ts, source AS k, ${selectList(fields, QUOTE_FIELD_SQL)}
             FROM market_quotes_ts m WHERE ${where} ${keyset}
            -- Qualified: the bare names would mean the output columns of the same name.
            ORDER BY m."timestamp", m.source LIMIT $4 + 1),
         shown AS (SELECT * FROM page ORDER BY ts, k LIMIT $4),
         last AS (SELECT ts, k FROM shown ORDER BY ts DESC, k DESC LIMIT 1)
         SELECT '[' || coalesce((SELECT string_agg(row_to_json(p)::text, ',') FROM (
                  SELECT ${quotedNames(fields)} FROM shown ORDER BY ts, k) p), '') || ']' AS points,
                (SELECT count(*) FROM page) > $4 AS more,
                (SELECT to_char(ts AT TIME ZONE 'UTC', ${ISO_US_SQL}) FROM last) AS last_ts,
                (SELECT k FROM last) AS last_key,
                ${withTotal ? `(SELECT count(*) FROM market_quotes_ts WHERE ${where})` : 'NULL'} AS total`,
        params,
      ),
    );
    return toTickPage(rows[0]);
  }

  /** The newest quote of the instrument as a JSON object, or null when it has none. */
  async findLatestQuote(
    instrumentId: string,
    fields: readonly QuoteField[],
  ): Promise<string | null> {
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<{ point: string }>(
        `SELECT row_to_json(p)::text AS point FROM (
           SELECT ${selectList(fields, QUOTE_FIELD_SQL)} FROM market_quotes_ts m
            WHERE instrument_id = $1 ORDER BY m."timestamp" DESC, m.source DESC LIMIT 1) p`,
        [instrumentId],
      ),
    );
    return rows[0]?.point ?? null;
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
