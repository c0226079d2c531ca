const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * Epoch milliseconds of an ISO 8601 date or date-time (`2026-02-28`, `2026-02-28T13:05`,
 * `2026-02-28T13:05:09.5Z`, `2026-02-28T13:05+01:00`), or undefined when it is not one or names no
 * real instant (`2026-02-30`, `24:00`, a second 60, an offset past 23:59). Without an offset it is UTC,
 * never the machine's zone. The fields are checked by a round trip, since `Date` quietly rolls an
 * impossible date over (February 30 → March 2).
 */
export function isoInstantMs(text: string): number | undefined {
  const m = ISO.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => (m[i] === undefined ? 0 : Number(m[i])));
  const millis = m[7] === undefined ? 0 : Math.floor(Number(m[7]) * 1000);
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // Date.UTC would map years 0..99 to 1900..1999
  d.setUTCHours(hour, minute, second, millis);
  const roundTrips = d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day
    && d.getUTCHours() === hour && d.getUTCMinutes() === minute && d.getUTCSeconds() === second;
  if (!roundTrips) return undefined;
  const offset = offsetMinutes(m[8]);
  return offset === undefined ? undefined : d.getTime() - offset * 60_000;
}

/** Minutes east of UTC of `Z`, `+01:00`, `-0530`; undefined for an impossible one. */
function offsetMinutes(text: string | undefined): number | undefined {
  if (text === undefined || text.toUpperCase() === 'Z') return 0;
  const digits = text.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2));
  if (hours > 23 || minutes > 59) return undefined;
  return (text[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
}
