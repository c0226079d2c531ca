import { IANAZone } from 'luxon';
import { InvalidInputError } from './errors';

/**
 * Wall-clock time in an IANA time zone, done explicitly: which instants show a given local time
 * (none in a spring-forward gap, two in a fall-back overlap), and which local date an instant
 * falls on. Never the machine's zone.
 */

const DAY_MS = 86_400_000;

/** A local (wall-clock) date and time, month 1..12. */
export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

/** The zone, or an InvalidInputError naming `what` (a setting or option). */
export function timeZone(name: string, what = 'time zone'): IANAZone {
  if (typeof name !== 'string' || name.trim() === '' || !IANAZone.isValidZone(name)) {
    throw new InvalidInputError(`${what} must be an IANA time zone such as America/New_York, got ${JSON.stringify(name)}`, { parameter: what });
  }
  return IANAZone.create(name);
}

export function isTimeZone(name: string): boolean {
  return typeof name === 'string' && name.trim() !== '' && IANAZone.isValidZone(name);
}

function asUtcMs(t: LocalTime): number {
  const d = new Date(0);
  d.setUTCFullYear(t.year, t.month - 1, t.day); // Date.UTC maps years 0..99 to 1900..1999
  d.setUTCHours(t.hour, t.minute, t.second, t.millisecond);
  return d.getTime();
}

/** True when the fields name a real calendar date and time (Feb 30 and 24:00 do not). */
export function isValidLocalTime(t: LocalTime): boolean {
  const d = new Date(asUtcMs(t));
  return d.getUTCFullYear() === t.year && d.getUTCMonth() === t.month - 1 && d.getUTCDate() === t.day
    && d.getUTCHours() === t.hour && d.getUTCMinutes() === t.minute && d.getUTCSeconds() === t.second;
}

/**
 * Every instant at which the clocks of `zone` show `t`, ascending: one on an ordinary day, none
 * in a spring-forward gap, two in a fall-back overlap.
 */
export function instantsAt(t: LocalTime, zone: IANAZone): number[] {
  const wall = asUtcMs(t);
  const candidates = new Set([zone.offset(wall - DAY_MS), zone.offset(wall), zone.offset(wall + DAY_MS)]);
  const out = new Set<number>();
  for (const offsetMinutes of candidates) {
    const instant = wall - offsetMinutes * 60_000;
    if (zone.offset(instant) === offsetMinutes) out.add(instant);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * The instant of a local time with the "compatible" rule (as RFC 5545 and Temporal): in an
 * overlap the earlier instant; in a gap the time is moved forward by the gap's length
 * (02:30 on a day that skips 02:00–03:00 becomes 03:30).
 */
export function compatibleInstant(t: LocalTime, zone: IANAZone): number {
  const instants = instantsAt(t, zone);
  if (instants.length > 0) return instants[0];
  return asUtcMs(t) - zone.offset(asUtcMs(t) - DAY_MS) * 60_000;
}

/** The local date (`YYYY-MM-DD`) of an instant in `zone`. */
export function localDate(instantMs: number, zone: IANAZone): string {
  return new Date(instantMs + zone.offset(instantMs) * 60_000).toISOString().slice(0, 10);
}

/** The local time of an instant as `YYYY-MM-DDTHH:mm:ss[.SSS]±HH:MM`. */
export function localIso(instantMs: number, zone: IANAZone): string {
  const offset = zone.offset(instantMs);
  const wall = new Date(instantMs + offset * 60_000).toISOString();
  const body = wall.endsWith('.000Z') ? wall.slice(0, 19) : wall.slice(0, 23);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${body}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The fields of a `YYYY-MM-DD` date, or undefined when it is not a real date. */
export function parseLocalDate(date: string): { year: number; month: number; day: number } | undefined {
  const m = DATE.exec(date);
  if (!m) return undefined;
  const t = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]), hour: 0, minute: 0, second: 0, millisecond: 0 };
  return isValidLocalTime(t) ? { year: t.year, month: t.month, day: t.day } : undefined;
}

function dateOrThrow(date: string): number {
  const d = parseLocalDate(date);
  if (!d) throw new InvalidInputError(`not a date: ${JSON.stringify(date)}`);
  return asUtcMs({ ...d, hour: 0, minute: 0, second: 0, millisecond: 0 });
}

/** The calendar date `days` after `date` (negative: before). */
export function addDays(date: string, days: number): string {
  return new Date(dateOrThrow(date) + days * DAY_MS).toISOString().slice(0, 10);
}

/** Calendar days from `from` to `to` (positive when `to` is later). */
export function daysBetween(from: string, to: string): number {
  return Math.round((dateOrThrow(to) - dateOrThrow(from)) / DAY_MS);
}
