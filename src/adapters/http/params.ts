import { InvalidInputError } from '../../core/errors';
import { isoInstantMs } from '../../core/isoInstant';
import { AGGREGATIONS, type AggregationBy } from '../../../projections/minuteQueries';
import { TOP_BY, type TopBy } from '../../../projections/topVms';

/** The raw query string of a request (after `?`), undecoded. */
export function queryString(req: { originalUrl?: string; url: string }): string {
  const url = req.originalUrl ?? req.url;
  const i = url.indexOf('?');
  return i < 0 ? '' : url.slice(i + 1);
}

/** Parses a query string strictly: unknown names and repeated names are rejected; surrounding double quotes are stripped. */
export function parseQuery(search: string, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const params = new URLSearchParams(search);
  for (const [name, raw] of params) {
    if (!allowed.includes(name)) throw new InvalidInputError(`unknown parameter "${name}"; allowed: ${allowed.join(', ')}`, { parameter: name });
    if (out.has(name)) throw new InvalidInputError(`parameter "${name}" given more than once`, { parameter: name });
    out.set(name, unquote(raw));
  }
  return out;
}

export function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

export function requiredString(params: Map<string, string>, name: string): string {
  const v = params.get(name);
  if (v === undefined || v === '') throw new InvalidInputError(`parameter "${name}" is required`, { parameter: name });
  return v;
}

export function intParam(params: Map<string, string>, name: string, def: number, min: number, max: number): number {
  const v = params.get(name);
  if (v === undefined) return def;
  if (!/^[+-]?\d+$/.test(v.trim())) throw new InvalidInputError(`parameter "${name}" must be an integer, got "${v}"`, { parameter: name });
  const n = Number(v.trim());
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidInputError(`parameter "${name}" must be between ${min} and ${max}, got ${v}`, { parameter: name });
  return n;
}

export function aggregationByParam(params: Map<string, string>, name = 'aggregationBy'): AggregationBy {
  const v = params.get(name);
  if (v === undefined) return 'avg';
  const by = AGGREGATIONS.find((a) => a === v);
  if (by !== undefined) return by;
  throw new InvalidInputError(`parameter "${name}" must be one of ${AGGREGATIONS.join(', ')}, got "${v}"`, { parameter: name });
}

/** The latest instant `to` may name: 9999-12-31T23:59:59Z. A larger number is most likely epoch milliseconds. */
const LATEST_SECONDS = 253402300799;

/**
 * `to`: epoch seconds, or an ISO 8601 date or date-time (UTC unless it has an offset), floored to the
 * minute; undefined when absent. A date that does not exist (`2026-02-30`) is refused, not rolled over.
 */
export function toParam(params: Map<string, string>, name = 'to'): number | undefined {
  const v = params.get(name);
  if (v === undefined) return undefined;
  const s = v.trim();
  let seconds: number;
  if (/^\d+$/.test(s)) {
    seconds = Number(s);
    if (seconds > LATEST_SECONDS) throw new InvalidInputError(`parameter "${name}" is epoch seconds; ${s} is after the year 9999 (epoch milliseconds?)`, { parameter: name });
  } else if (/^\d{4}-\d{2}-\d{2}/.test(s)) {
    const ms = isoInstantMs(s);
    if (ms === undefined) throw new InvalidInputError(`parameter "${name}" is not a valid ISO 8601 date or time: "${v}" (a day, hour, minute or offset that does not exist?)`, { parameter: name });
    seconds = Math.floor(ms / 1000);
  } else {
    throw new InvalidInputError(`parameter "${name}" must be epoch seconds or ISO 8601, got "${v}"`, { parameter: name });
  }
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new InvalidInputError(`parameter "${name}" is out of range: "${v}"`, { parameter: name });
  return Math.floor(seconds / 60) * 60;
}

/** `by` of /v1/top: avg (default), max or p95. */
export function topByParam(params: Map<string, string>, name = 'by'): TopBy {
  const v = params.get(name);
  if (v === undefined) return 'avg';
  if ((TOP_BY as readonly string[]).includes(v)) return v as TopBy;
  throw new InvalidInputError(`parameter "${name}" must be one of ${TOP_BY.join(', ')}, got "${v}"`, { parameter: name });
}
