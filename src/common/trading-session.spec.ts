import { loadSettings, InvalidSettingError } from '../settings/settings';
import {
  BUILT_IN_CALENDARS,
  canonicalZone,
  parseSessionCalendars,
  parseSessionText,
  sessionHeader,
  sessionJson,
  sessionLengthMinutes,
} from './trading-session';

describe('parseSessionText', () => {
  it.each([
    ['09:30-16:00', 570, 960],
    ['17:00-16:00', 1020, 960],
    ['00:00-24:00', 0, 1440],
    [' 08:00-16:30 ', 480, 990],
  ])('should read %s', (text, openMinutes, closeMinutes) => {
    expect(parseSessionText(text)).toEqual({ openMinutes, closeMinutes });
  });

  it.each([
    '9:30-16:00',
    '09:30',
    '24:00-10:00',
    '09:60-10:00',
    '10:00-10:00',
    '09:30-16:00:00',
    '',
  ])('should refuse %j with a reason', (text) => {
    expect(typeof parseSessionText(text)).toBe('string');
  });

  it('should measure an overnight session past midnight', () => {
    expect(sessionLengthMinutes(BUILT_IN_CALENDARS.CME_EQUITY)).toBe(23 * 60);
    expect(sessionLengthMinutes(BUILT_IN_CALENDARS.XNYS)).toBe(390);
    expect(sessionLengthMinutes({ tz: 'UTC', openMinutes: 0, closeMinutes: 1440 })).toBe(1440);
  });
});

describe('canonicalZone', () => {
  it('should spell a zone as Intl does and refuse unknown ones', () => {
    expect(canonicalZone('America/New_York')).toBe('America/New_York');
    expect(canonicalZone('america/new_york')).toBe('America/New_York');
    expect(canonicalZone('Mars/Olympus')).toBeUndefined();
    expect(canonicalZone("UTC'; select 1")).toBeUndefined();
  });
});

describe('session calendars', () => {
  it('should read NAME=Zone@HH:MM-HH:MM entries', () => {
    expect(
      parseSessionCalendars('XTKS=Asia/Tokyo@09:00-15:30, XHKG=Asia/Hong_Kong@09:30-16:00'),
    ).toEqual({
      XTKS: { tz: 'Asia/Tokyo', openMinutes: 540, closeMinutes: 930, calendar: 'XTKS' },
      XHKG: { tz: 'Asia/Hong_Kong', openMinutes: 570, closeMinutes: 960, calendar: 'XHKG' },
    });
  });

  it.each([
    ['XTKS', /entry 1 .* is not NAME=Zone\/Name@HH:MM-HH:MM/],
    ['xtks=Asia/Tokyo@09:00-15:30', /the name must be/],
    ['XTKS=Asia/Nowhere@09:00-15:30', /Asia\/Nowhere is not an IANA time zone/],
    ['XTKS=Asia/Tokyo@9-15', /the session must be HH:MM-HH:MM/],
    ['A=UTC@09:00-10:00,A=UTC@10:00-11:00', /entry 2 .* A is given twice/],
  ])('should refuse %j saying why', (raw, reason) => {
    expect(() => parseSessionCalendars(raw)).toThrow(reason);
  });

  it('should add SESSION_CALENDARS to the built-in calendars, and refuse a bad one at boot', () => {
    const { sessionCalendars } = loadSettings({ SESSION_CALENDARS: 'XTKS=Asia/Tokyo@09:00-15:30' });
    expect(Object.keys(sessionCalendars).sort()).toEqual(
      ['CME_EQUITY', 'XETR', 'XLON', 'XNAS', 'XNYS', 'XTKS'].sort(),
    );
    expect(loadSettings({}).sessionCalendars).toEqual(BUILT_IN_CALENDARS);
    expect(() => loadSettings({ SESSION_CALENDARS: 'XTKS=Asia/Tokyo' })).toThrow(
      InvalidSettingError,
    );
    expect(() => loadSettings({ SESSION_CALENDARS: 'XTKS=Asia/Tokyo' })).toThrow(
      /Invalid setting SESSION_CALENDARS: entry 1/,
    );
  });

  it('should name a session in JSON and in a header', () => {
    expect(JSON.parse(sessionJson(BUILT_IN_CALENDARS.CME_EQUITY))).toEqual({
      tz: 'America/Chicago',
      open: '17:00',
      close: '16:00',
      calendar: 'CME_EQUITY',
    });
    expect(sessionHeader({ tz: 'Europe/Paris', openMinutes: 0, closeMinutes: 1440 })).toBe(
      'Europe/Paris 00:00-24:00',
    );
  });
});
