import { Inject, Injectable } from '@nestjs/common';
import { DatabaseConnection } from '../database/database-connection';
import { DATABASE_CONNECTION } from '../database/database.tokens';
import { translatePgErrors } from '../database/pg-errors';

/** A declared session as stored: a calendar name, or a zone with its local times. */
export type DeclaredSession =
  | { readonly calendar: string }
  | { readonly tz: string; readonly openMinutes: number; readonly closeMinutes: number };

interface SessionRow {
  tz: string | null;
  open_minutes: number | null;
  close_minutes: number | null;
  calendar: string | null;
}

/** PostgreSQL's invalid_parameter_value: what AT TIME ZONE raises for a zone it does not know. */
const INVALID_PARAMETER_VALUE = '22023';

/**
 * instrument_sessions (the session an instrument declares), and whether
 * PostgreSQL knows a zone. On the primary: a PUT is read back at once.
 */
@Injectable()
export class InstrumentSessionsRepository {
  constructor(@Inject(DATABASE_CONNECTION) private readonly db: DatabaseConnection) {}

  async findDeclaredSession(instrumentId: string): Promise<DeclaredSession | undefined> {
    const { rows } = await translatePgErrors(() =>
      this.db.pool.query<SessionRow>(
        `SELECT tz, open_minutes, close_minutes, calendar FROM instrument_sessions WHERE instrument_id = $1`,
        [instrumentId],
      ),
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    if (row.calendar !== null) return { calendar: row.calendar };
    return {
      tz: row.tz ?? 'UTC',
      openMinutes: row.open_minutes ?? 0,
      closeMinutes: row.close_minutes ?? 1440,
    };
  }

  async saveDeclaredSession(instrumentId: string, session: DeclaredSession): Promise<void> {
    const values =
      'calendar' in session
        ? [null, null, null, session.calendar]
        : [session.tz, session.openMinutes, session.closeMinutes, null];
    await translatePgErrors(() =>
      this.db.pool.query(
        `INSERT INTO instrument_sessions (instrument_id, tz, open_minutes, close_minutes, calendar)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (instrument_id) DO UPDATE
           SET tz = EXCLUDED.tz, open_minutes = EXCLUDED.open_minutes,
               close_minutes = EXCLUDED.close_minutes, calendar = EXCLUDED.calendar, updated_at = now()`,
        [instrumentId, ...values],
      ),
    );
  }

  /** True when there was a declared session to delete. */
  async deleteDeclaredSession(instrumentId: string): Promise<boolean> {
    const { rowCount } = await translatePgErrors(() =>
      this.db.pool.query(`DELETE FROM instrument_sessions WHERE instrument_id = $1`, [
        instrumentId,
      ]),
    );
    return (rowCount ?? 0) > 0;
  }

  /** Whether PostgreSQL's zone database has `tz` (it may lag behind the one Intl has). */
  async isKnownTimeZone(tz: string): Promise<boolean> {
    return translatePgErrors(async () => {
      try {
        await this.db.pool.query(`SELECT now() AT TIME ZONE $1`, [tz]);
        return true;
      } catch (error) {
        if ((error as { code?: string }).code === INVALID_PARAMETER_VALUE) return false;
        throw error;
      }
    });
  }
}
