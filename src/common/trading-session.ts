/**
 * Trading sessions for session-aligned ONE_HOUR and ONE_DAY bars
 * (docs/research-reads.md "Session bars"): a zone, a local opening and
 * closing time, and the calendar it came from, if any.
 */
export interface TradingSession {
  /** An IANA zone, as Intl spells it (America/New_York). */
  readonly tz: string;
  /** Local opening time, minutes after midnight (0..1439). */
  readonly openMinutes: number;
  /** Local closing time, minutes after midnight (1..1440); at or before the opening: the next local day. */
  readonly closeMinutes: number;
  readonly calendar?: string;
}

const DAY_MINUTES = 1440;
const SESSION_PATTERN = /^([01]\d|2[0-3]):([0-5]\d)-(([01]\d|2[0-3]):[0-5]\d|24:00)$/;

/** "HH:MM-HH:MM" as minutes, or the reason it is not a session. */
export function parseSessionText(
  text: string,
): { openMinutes: number; closeMinutes: number } | string {
  const match = SESSION_PATTERN.exec(text.trim());
  if (!match) return 'must be HH:MM-HH:MM (local times, close up to 24:00), e.g. 09:30-16:00';
  const [, openHours, openMins, close = ''] = match;
  const openMinutes = Number(openHours) * 60 + Number(openMins);
  const closeMinutes = Number(close.slice(0, 2)) * 60 + Number(close.slice(3));
  if (closeMinutes === openMinutes) return 'opens and closes at the same time';
  return { openMinutes, closeMinutes };
}

/** The zone as Intl spells it, or undefined when Intl does not know it. */
export function canonicalZone(tz: string): string | undefined {
  if (!/^[A-Za-z0-9_+\-/]{1,64}$/.test(tz)) return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** Minutes from the opening to the closing (an overnight session wraps past midnight). */
export function sessionLengthMinutes(session: TradingSession): number {
  const length = session.closeMinutes - session.openMinutes;
  return length > 0 ? length : length + DAY_MINUTES;
}

function hhmm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

export function sessionOpenText(session: TradingSession): string {
  return hhmm(session.openMinutes);
}

export function sessionCloseText(session: TradingSession): string {
  return hhmm(session.closeMinutes);
}

/** What the cache key holds of a session: everything that changes the buckets. */
export function sessionKeyPart(session: TradingSession): string {
  return `${session.tz}@${session.openMinutes}-${session.closeMinutes}`;
}

/** The `session` object of a JSON answer. */
export function sessionJson(session: TradingSession): string {
  return JSON.stringify({
    tz: session.tz,
    open: sessionOpenText(session),
    close: sessionCloseText(session),
    ...(session.calendar ? { calendar: session.calendar } : {}),
  });
}

/** The x-session header of CSV and Arrow answers: `America/New_York 09:30-16:00 XNYS`. */
export function sessionHeader(session: TradingSession): string {
  const text = `${session.tz} ${sessionOpenText(session)}-${sessionCloseText(session)}`;
  return session.calendar ? `${text} ${session.calendar}` : text;
}

const calendar = (
  name: string,
  tz: string,
  openMinutes: number,
  closeMinutes: number,
): TradingSession => ({ tz, openMinutes, closeMinutes, calendar: name });

/** The calendars every deployment knows; SESSION_CALENDARS adds more (or replaces these). */
export const BUILT_IN_CALENDARS = {
  XNYS: calendar('XNYS', 'America/New_York', 570, 960),
  XNAS: calendar('XNAS', 'America/New_York', 570, 960),
  CME_EQUITY: calendar('CME_EQUITY', 'America/Chicago', 1020, 960),
  XLON: calendar('XLON', 'Europe/London', 480, 990),
  XETR: calendar('XETR', 'Europe/Berlin', 540, 1050),
} as const satisfies Record<string, TradingSession>;

export const CALENDAR_NAME = /^[A-Z][A-Z0-9_]{0,31}$/;

/**
 * `NAME=Zone/Name@HH:MM-HH:MM,...` (SESSION_CALENDARS) as calendars; throws
 * an Error whose message says which entry is wrong and why.
 */
export function parseSessionCalendars(raw: string): Record<string, TradingSession> {
  const calendars: Record<string, TradingSession> = {};
  const entries = raw.split(',').map((entry) => entry.trim());
  entries.forEach((entry, i) => {
    const where = `entry ${i + 1} ("${entry}")`;
    const match = /^([^=]+)=([^@]+)@(.+)$/.exec(entry);
    if (!match) throw new Error(`${where} is not NAME=Zone/Name@HH:MM-HH:MM`);
    const [, name = '', zone = '', times = ''] = match;
    if (!CALENDAR_NAME.test(name)) {
      throw new Error(`${where}: the name must be 1-32 of A-Z 0-9 _, starting with a letter`);
    }
    const tz = canonicalZone(zone);
    if (tz === undefined) throw new Error(`${where}: ${zone} is not an IANA time zone`);
    const parsed = parseSessionText(times);
    if (typeof parsed === 'string') throw new Error(`${where}: the session ${parsed}`);
    if (calendars[name]) throw new Error(`${where}: ${name} is given twice`);
    calendars[name] = { tz, ...parsed, calendar: name };
  });
  return calendars;
}

/** One formatter per zone: building one costs more than formatting with it. */
const wallClocks = new Map<string, Intl.DateTimeFormat>();

/** The local wall time of `ms` in `tz`, as if it were UTC (ms), to the minute. */
function wallTimeMs(ms: number, tz: string): number {
  let clock = wallClocks.get(tz);
  if (clock === undefined) {
    clock = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    wallClocks.set(tz, clock);
  }
  const parts = clock.formatToParts(new Date(ms));
  const value = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return Date.UTC(value('year'), value('month') - 1, value('day'), value('hour'), value('minute'));
}

/** `ms` is the instant a session of `session` opens (a daily bar may be stored there). */
export function isSessionOpening(ms: number, session: TradingSession): boolean {
  if (ms % 60_000 !== 0) return false;
  const wall = wallTimeMs(ms, session.tz);
  return (wall - session.openMinutes * 60_000) % 86_400_000 === 0;
}

/** A declared session as stored (a calendar name, or its own zone and times), made a session. */
export function sessionOfDeclared(
  declared: { readonly calendar: string } | TradingSession,
  calendars: Readonly<Record<string, TradingSession>>,
): TradingSession | undefined {
  return 'calendar' in declared && declared.calendar !== undefined
    ? calendars[declared.calendar]
    : (declared as TradingSession);
}
