import { csvRecords } from './csvRecords';
import { instantsAt, isValidLocalTime, timeZone, type LocalTime } from './zonedTime';

/** A sample read from a line of a backlog history file. */
export interface CsvSample {
  line: number;
  sampledAtMs: number;
  count: number;
}

export interface LineError {
  line: number;
  message: string;
}

export const TIMESTAMP_COLUMN = 'timestamp';
export const COUNT_COLUMN = 'backlog_incident_count';

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(?:(Z)|([+-])(\d{2}):?(\d{2})?)?$/i;
const COUNT = /^\+?(\d+)(?:\.0*)?$/;

/**
 * Reads a backlog history file (the seed's CSV: a header naming at least `timestamp` and
 * `backlog_incident_count`; other columns, such as a pandas index, are ignored).
 *
 * A timestamp with `Z` or an offset is absolute. A naive one is wall-clock time in `zone`: in a
 * fall-back overlap it is the earlier of the two instants (the first time the clock showed it);
 * a time the clock skipped on a spring-forward day is an error. Every problem is returned with
 * its line, so that a caller can refuse the whole file.
 */
export function parseBacklogCsv(text: string, zone: string): { samples: CsvSample[]; errors: LineError[] } {
  const tz = timeZone(zone, 'timezone');
  const { records, error } = csvRecords(text);
  const errors: LineError[] = error ? [error] : [];
  if (records.length === 0) {
    if (errors.length === 0) errors.push({ line: 1, message: `the file is empty; expected a header with ${TIMESTAMP_COLUMN} and ${COUNT_COLUMN}` });
    return { samples: [], errors };
  }
  const [header, ...rows] = records;
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const at = names.indexOf(TIMESTAMP_COLUMN);
  const countAt = names.indexOf(COUNT_COLUMN);
  for (const [column, index] of [[TIMESTAMP_COLUMN, at], [COUNT_COLUMN, countAt]] as const) {
    if (index < 0) errors.push({ line: header.line, message: `the header has no "${column}" column (it has: ${header.fields.join(', ')})` });
    else if (names.indexOf(column, index + 1) >= 0) errors.push({ line: header.line, message: `the header has the column "${column}" twice` });
  }
  if (errors.length > 0) return { samples: [], errors };

  const samples: CsvSample[] = [];
  for (const row of rows) {
    if (row.fields.length !== header.fields.length) {
      errors.push({ line: row.line, message: `${row.fields.length} fields, but the header has ${header.fields.length}` });
      continue;
    }
    const when = parseTimestamp(row.fields[at].trim(), tz, zone);
    const count = parseCount(row.fields[countAt].trim());
    if (typeof when === 'string') errors.push({ line: row.line, message: when });
    if (typeof count === 'string') errors.push({ line: row.line, message: count });
    if (typeof when === 'number' && typeof count === 'number') samples.push({ line: row.line, sampledAtMs: when, count });
  }
  return { samples, errors };
}

/** The instant, or an error message. */
function parseTimestamp(raw: string, tz: ReturnType<typeof timeZone>, zone: string): number | string {
  const m = TIMESTAMP.exec(raw);
  if (!m) return `${TIMESTAMP_COLUMN} ${JSON.stringify(raw)} is not a date and time such as 2021-08-03 19:00:02 or 2021-08-03T23:00:02Z`;
  const local: LocalTime = {
    year: Number(m[1]), month: Number(m[2]), day: Number(m[3]), hour: Number(m[4]), minute: Number(m[5]),
    second: m[6] === undefined ? 0 : Number(m[6]),
    millisecond: m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0')),
  };
  if (!isValidLocalTime(local)) return `${TIMESTAMP_COLUMN} ${JSON.stringify(raw)} is not a real date and time`;
  if (m[8] !== undefined || m[9] !== undefined) {
    const offsetMinutes = m[8] !== undefined ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11] ?? 0));
    if (Math.abs(offsetMinutes) > 18 * 60) return `${TIMESTAMP_COLUMN} ${JSON.stringify(raw)} has an offset beyond ±18:00`;
    const wall = new Date(0);
    wall.setUTCFullYear(local.year, local.month - 1, local.day);
    wall.setUTCHours(local.hour, local.minute, local.second, local.millisecond);
    return wall.getTime() - offsetMinutes * 60_000;
  }
  const instants = instantsAt(local, tz);
  if (instants.length === 0) return `${TIMESTAMP_COLUMN} ${JSON.stringify(raw)} does not exist in ${zone}: the clocks skipped that time when daylight saving time began`;
  return instants[0];
}

/** A whole number of incidents (pandas may have written 42.0), or an error message. */
function parseCount(raw: string): number | string {
  const m = COUNT.exec(raw);
  const n = m ? Number(m[1]) : NaN;
  if (raw === '') return `${COUNT_COLUMN} is empty`;
  if (!Number.isSafeInteger(n)) return `${COUNT_COLUMN} must be a whole number of incidents (0 or more), got ${JSON.stringify(raw)}`;
  return n;
}
