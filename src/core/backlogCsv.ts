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

/** The time columns recognised without `--time-column`: today's export, then the seed job's. */
export const TIME_COLUMNS = ['timestamp', 'time'] as const;
/** The count columns recognised without `--count-column`: today's export, then the seed job's. */
export const COUNT_COLUMNS = ['backlog_incident_count', 'inc_count'] as const;
/** The seed job's count column: a file with it starts with the row the job wrote when it created the file. */
const SEED_COUNT_COLUMN = 'inc_count';

export interface BacklogCsvOptions {
  /** The header of the time column, when it is neither `timestamp` nor `time`. */
  timeColumn?: string;
  /** The header of the count column, when it is neither `backlog_incident_count` nor `inc_count`. */
  countColumn?: string;
  /** Read the seed job's creation row (see `ParsedBacklogCsv.creationRow`) as a sample too. */
  keepCreationRow?: boolean;
}

export interface ParsedBacklogCsv {
  samples: CsvSample[];
  errors: LineError[];
  /** The header names of the two columns read (absent when the header is wrong). */
  columns?: { time: string; count: string };
  /**
   * The seed job created each file with one row of count 0 stamped with the creation time: no
   * reading of ServiceNow, so it is left out of `samples` (unless `keepCreationRow`) and given here.
   */
  creationRow?: CsvSample;
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(?:(Z)|([+-])(\d{2}):?(\d{2})?)?$/i;
const COUNT = /^\+?(\d+)(?:\.0*)?$/;

/**
 * Reads a backlog history file: a header naming a time column and a count column (`timestamp`
 * and `backlog_incident_count`, or the seed job's `time` and `inc_count`, or those the options
 * name); other columns, such as a pandas index, are ignored.
 *
 * A timestamp with `Z` or an offset is absolute. A naive one (Python's `str(datetime.now())`,
 * `2021-08-03 19:00:02.345678`) is wall-clock time in `zone`: in a fall-back overlap it is the
 * earlier of the two instants (the first time the clock showed it); a time the clock skipped on
 * a spring-forward day is an error. Fractions beyond milliseconds are cut. Every problem is
 * returned with its line, so that a caller can refuse the whole file.
 */
export function parseBacklogCsv(text: string, zone: string, options: BacklogCsvOptions = {}): ParsedBacklogCsv {
  const tz = timeZone(zone, 'timezone');
  const { records, error } = csvRecords(text);
  const errors: LineError[] = error ? [error] : [];
  if (records.length === 0) {
    if (errors.length === 0) errors.push({ line: 1, message: `the file is empty; expected a header with a time column (${TIME_COLUMNS.join(' or ')}) and a count column (${COUNT_COLUMNS.join(' or ')})` });
    return { samples: [], errors };
  }
  const [header, ...rows] = records;
  const at = findColumn(header.fields, options.timeColumn, TIME_COLUMNS, '--time-column', 'time');
  const countAt = findColumn(header.fields, options.countColumn, COUNT_COLUMNS, '--count-column', 'count');
  for (const found of [at, countAt]) if (typeof found === 'string') errors.push({ line: header.line, message: found });
  if (typeof at === 'number' && at === countAt) errors.push({ line: header.line, message: `the time and the count cannot both be the column "${header.fields[at].trim()}"` });
  if (errors.length > 0 || typeof at !== 'number' || typeof countAt !== 'number') return { samples: [], errors };
  const columns = { time: header.fields[at].trim(), count: header.fields[countAt].trim() };

  const samples: CsvSample[] = [];
  for (const row of rows) {
    if (row.fields.length !== header.fields.length) {
      errors.push({ line: row.line, message: `${row.fields.length} fields, but the header has ${header.fields.length}` });
      continue;
    }
    const when = parseTimestamp(row.fields[at].trim(), tz, zone, columns.time);
    const count = parseCount(row.fields[countAt].trim(), columns.count);
    if (typeof when === 'string') errors.push({ line: row.line, message: when });
    if (typeof count === 'string') errors.push({ line: row.line, message: count });
    if (typeof when === 'number' && typeof count === 'number') samples.push({ line: row.line, sampledAtMs: when, count });
  }
  const first = samples[0];
  const isCreationRow = columns.count.toLowerCase() === SEED_COUNT_COLUMN && first !== undefined && first.line === rows[0].line && first.count === 0;
  if (!isCreationRow) return { samples, errors, columns };
  return { samples: options.keepCreationRow ? samples : samples.slice(1), errors, columns, creationRow: first };
}

/**
 * The index of the column `wanted` names, else of the one known name the header has (names
 * compared without case and surrounding spaces); or an error message.
 */
function findColumn(header: readonly string[], wanted: string | undefined, known: readonly string[], flag: string, what: string): number | string {
  const names = header.map((f) => f.trim().toLowerCase());
  const has = `(it has: ${header.join(', ')})`;
  const candidates = wanted === undefined ? known.filter((n) => names.includes(n)) : [wanted.trim().toLowerCase()];
  if (candidates.length === 0) return `the header has no ${what} column: ${known.map((n) => `"${n}"`).join(' or ')}, or name it with ${flag} ${has}`;
  if (candidates.length > 1) return `the header has both ${candidates.map((n) => `"${n}"`).join(' and ')}: say which one is the ${what} with ${flag}`;
  const index = names.indexOf(candidates[0]);
  if (index < 0) return `the header has no "${wanted}" column (${flag}) ${has}`;
  if (names.indexOf(candidates[0], index + 1) >= 0) return `the header has the column "${header[index].trim()}" twice`;
  return index;
}

/** The instant, or an error message. */
function parseTimestamp(raw: string, tz: ReturnType<typeof timeZone>, zone: string, column: string): number | string {
  const m = TIMESTAMP.exec(raw);
  if (!m) return `${column} ${JSON.stringify(raw)} is not a date and time such as 2021-08-03 19:00:02 or 2021-08-03T23:00:02Z`;
  const local: LocalTime = {
    year: Number(m[1]), month: Number(m[2]), day: Number(m[3]), hour: Number(m[4]), minute: Number(m[5]),
    second: m[6] === undefined ? 0 : Number(m[6]),
    millisecond: m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0')),
  };
  if (!isValidLocalTime(local)) return `${column} ${JSON.stringify(raw)} is not a real date and time`;
  if (m[8] !== undefined || m[9] !== undefined) {
    const offsetMinutes = m[8] !== undefined ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11] ?? 0));
    if (Math.abs(offsetMinutes) > 18 * 60) return `${column} ${JSON.stringify(raw)} has an offset beyond ±18:00`;
    const wall = new Date(0);
    wall.setUTCFullYear(local.year, local.month - 1, local.day);
    wall.setUTCHours(local.hour, local.minute, local.second, local.millisecond);
    return wall.getTime() - offsetMinutes * 60_000;
  }
  const instants = instantsAt(local, tz);
  if (instants.length === 0) return `${column} ${JSON.stringify(raw)} does not exist in ${zone}: the clocks skipped that time when daylight saving time began`;
  return instants[0];
}

/** A whole number of incidents (pandas may have written 42.0), or an error message. */
function parseCount(raw: string, column: string): number | string {
  const m = COUNT.exec(raw);
  const n = m ? Number(m[1]) : NaN;
  if (raw === '') return `${column} is empty`;
  if (!Number.isSafeInteger(n)) return `${column} must be a whole number of incidents (0 or more), got ${JSON.stringify(raw)}`;
  return n;
}
