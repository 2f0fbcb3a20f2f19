import { Inject, Injectable } from '@nestjs/common';
import { InvalidRequestError, NotFoundError } from '../common/errors';
import { DataType, isTickDataType, TimeFrame } from '../common/market-data.types';
import {
  canonicalZone,
  parseSessionText,
  sessionCloseText,
  sessionOpenText,
  TradingSession,
} from '../common/trading-session';
import {
  DeclaredSession,
  InstrumentSessionsRepository,
} from '../repositories/instrument-sessions.repository';
import { SETTINGS } from '../settings/settings';
import type { Settings } from '../settings/settings';

/** What names a session: query parameters of /query, or the body of PUT .../session. */
export interface SessionParams {
  readonly tz?: string;
  readonly session?: string;
  readonly calendar?: string;
}

/** What /query needs to know of a request to find its session. */
export interface SessionRead extends SessionParams {
  readonly data_type?: DataType;
  readonly timeframe?: TimeFrame;
  readonly bar?: string;
  readonly fill?: string;
}

export type SessionTimeframe = TimeFrame.ONE_HOUR | TimeFrame.ONE_DAY;

const SESSION_PARAMS = ['tz', 'session', 'calendar'] as const;

/** The answer of GET and PUT .../session. */
export interface DeclaredSessionAnswer {
  readonly instrument_id: string;
  readonly tz: string;
  readonly open: string;
  readonly close: string;
  readonly calendar?: string;
}

export function isSessionTimeframe(
  timeframe: TimeFrame | undefined,
): timeframe is SessionTimeframe {
  return timeframe === TimeFrame.ONE_HOUR || timeframe === TimeFrame.ONE_DAY;
}

/**
 * Sessions of reads and of instruments: the session a /query request names
 * (tz, session, calendar) or its instrument declares, checked against Intl
 * and PostgreSQL's zone data, and the declared sessions themselves.
 */
@Injectable()
export class TradingSessionsService {
  /** Zones already asked of PostgreSQL: a few hundred at most. */
  private readonly zonesKnown = new Map<string, boolean>();

  constructor(
    private readonly sessions: InstrumentSessionsRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /**
   * The session a bars read is aligned to: the one the request names, else
   * the instrument's declared one for ONE_HOUR and ONE_DAY; undefined for
   * UTC-aligned bars. Parameters where they do not apply are a 400.
   */
  async sessionOfRead(
    request: SessionRead,
    instrumentId: string,
  ): Promise<TradingSession | undefined> {
    const named = SESSION_PARAMS.find((name) => request[name] !== undefined);
    const applies =
      !isTickDataType(request.data_type) &&
      request.bar === undefined &&
      isSessionTimeframe(request.timeframe);
    if (named !== undefined && !applies) {
      throw new InvalidRequestError(
        named,
        'applies to OHLCV bars of timeframe ONE_HOUR or ONE_DAY',
      );
    }
    if (!applies) return undefined;
    const session =
      named !== undefined ? await this.resolve(request) : await this.declaredSession(instrumentId);
    if (session !== undefined && request.fill !== undefined && request.fill !== 'none') {
      throw new InvalidRequestError(
        'fill',
        `is not available with a session yet (${named ? 'tz, session or calendar' : `the session ${instrumentId} declares`}): leave fill out`,
      );
    }
    return session;
  }

  async getDeclared(instrumentId: string): Promise<DeclaredSessionAnswer> {
    const session = await this.declaredSession(instrumentId);
    if (session === undefined) throw new NotFoundError(`${instrumentId} declares no session`);
    return answerOf(instrumentId, session);
  }

  async putDeclared(instrumentId: string, params: SessionParams): Promise<DeclaredSessionAnswer> {
    if (SESSION_PARAMS.every((name) => params[name] === undefined)) {
      throw new InvalidRequestError('calendar', 'or tz (with session) is required');
    }
    const session = await this.resolve(params);
    const stored: DeclaredSession = session.calendar ? { calendar: session.calendar } : session;
    await this.sessions.saveDeclaredSession(instrumentId, stored);
    return answerOf(instrumentId, session);
  }

  async deleteDeclared(instrumentId: string): Promise<DeclaredSessionAnswer> {
    const answer = await this.getDeclared(instrumentId);
    await this.sessions.deleteDeclaredSession(instrumentId);
    return answer;
  }

  /** The session the instrument declares, its calendar resolved now (SESSION_CALENDARS may have changed). */
  private async declaredSession(instrumentId: string): Promise<TradingSession | undefined> {
    const declared = await this.sessions.findDeclaredSession(instrumentId);
    if (declared === undefined) return undefined;
    if (!('calendar' in declared)) return declared;
    const session = this.settings.sessionCalendars[declared.calendar];
    if (session === undefined) {
      throw new InvalidRequestError(
        'calendar',
        `${declared.calendar}, which ${instrumentId} declares, is not configured (SESSION_CALENDARS): declare its session again`,
      );
    }
    return session;
  }

  /** tz with an optional session (the full local day without), or a calendar; each checked. */
  private async resolve(params: SessionParams): Promise<TradingSession> {
    if (params.calendar !== undefined) {
      if (params.tz !== undefined || params.session !== undefined) {
        throw new InvalidRequestError(
          'calendar',
          'names its own zone and session: give calendar, or tz (with session), not both',
        );
      }
      const session = this.settings.sessionCalendars[params.calendar.toUpperCase()];
      if (session === undefined) {
        const names = Object.keys(this.settings.sessionCalendars).sort().join(', ');
        throw new InvalidRequestError('calendar', `must be one of ${names}`);
      }
      return session;
    }
    if (params.tz === undefined) {
      throw new InvalidRequestError('tz', 'is required with session: the zone of its local times');
    }
    const tz = canonicalZone(params.tz);
    if (tz === undefined) {
      throw new InvalidRequestError('tz', 'must be an IANA time zone, e.g. America/New_York');
    }
    if (!(await this.isKnownToDatabase(tz))) {
      throw new InvalidRequestError('tz', `${tz} is not in the database's time zone data`);
    }
    if (params.session === undefined) return { tz, openMinutes: 0, closeMinutes: 1440 };
    const parsed = parseSessionText(params.session);
    if (typeof parsed === 'string') throw new InvalidRequestError('session', parsed);
    return { tz, ...parsed };
  }

  private async isKnownToDatabase(tz: string): Promise<boolean> {
    const known = this.zonesKnown.get(tz) ?? (await this.sessions.isKnownTimeZone(tz));
    this.zonesKnown.set(tz, known);
    return known;
  }
}

function answerOf(instrumentId: string, session: TradingSession): DeclaredSessionAnswer {
  return {
    instrument_id: instrumentId,
    tz: session.tz,
    open: sessionOpenText(session),
    close: sessionCloseText(session),
    ...(session.calendar ? { calendar: session.calendar } : {}),
  };
}
