import { InvalidInputError } from './errors';
import { addDays, compatibleInstant, localDate, parseLocalDate, timeZone } from './zonedTime';

/** A local time of day, `HH:mm`. */
export interface PollAt {
  hour: number;
  minute: number;
}

/** Parses `HH:mm` (00:00 to 23:59); the error names `what`. */
export function parsePollAt(text: string, what = 'BACKLOG_POLL_AT'): PollAt {
  const m = /^(\d{1,2}):(\d{2})$/.exec(typeof text === 'string' ? text.trim() : '');
  const hour = m ? Number(m[1]) : NaN;
  const minute = m ? Number(m[2]) : NaN;
  if (!(hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59)) {
    throw new InvalidInputError(`${what} must be a time of day HH:mm (00:00 to 23:59), got ${JSON.stringify(text)}`, { parameter: what });
  }
  return { hour, minute };
}

/** `HH:mm`. */
export function formatPollAt(at: PollAt): string {
  return `${String(at.hour).padStart(2, '0')}:${String(at.minute).padStart(2, '0')}`;
}

/**
 * The instant of the poll on local date `date` in `zone`. Every local date has exactly one, also
 * on 23- and 25-hour days: a poll time that falls in a fall-back overlap takes the earlier
 * instant, one that falls in a spring-forward gap is moved forward by the gap.
 */
export function pollInstantOn(date: string, at: PollAt, zone: string): number {
  const d = parseLocalDate(date);
  if (!d) throw new InvalidInputError(`not a date: ${JSON.stringify(date)}`);
  return compatibleInstant({ ...d, hour: at.hour, minute: at.minute, second: 0, millisecond: 0 }, timeZone(zone));
}

/**
 * The first poll instant strictly after `instantMs`.
 *
 * @example
 * nextPollAfter(Date.parse('2024-03-10T12:00:00Z'), { hour: 19, minute: 0 }, 'America/New_York');
 * // Date.parse('2024-03-10T23:00:00Z'): 19:00 EDT, on the day the clocks went forward
 */
export function nextPollAfter(instantMs: number, at: PollAt, zone: string): number {
  const today = localDate(instantMs, timeZone(zone));
  const todays = pollInstantOn(today, at, zone);
  return todays > instantMs ? todays : pollInstantOn(addDays(today, 1), at, zone);
}
