import { Inject, Injectable } from '@nestjs/common';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { ISO_US_SQL } from './bulk-sql';
import { TickReader } from './tick.reader';

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

/** The reads of market_quotes_ts: pages by (timestamp, source) and the newest quote. */
@Injectable()
export class QuotesReader extends TickReader<QuoteField> {
  constructor(@Inject(DATABASE_CONNECTION) db: DatabaseConnection) {
    super(db, {
      table: 'market_quotes_ts',
      keyColumn: 'source',
      fieldSql: QUOTE_FIELD_SQL,
      joinFor: () => '',
    });
  }
}
