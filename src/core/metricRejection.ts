import type { Metric } from './metric';
import { MAX_TABLE_KEY_CHARS, tableKeyLength } from './tableKeyLength';

/** What the gate judges a metric against: when it arrived, and how far ahead of that its clock may be. */
export interface GateLimits {
  /** The metric's arrival (epoch ms): when it was received, or its log record's append time. */
  arrivalMs: number;
  /** WINDOW_MAX_FUTURE_SECONDS. */
  maxFutureSeconds: number;
}

/**
 * The version of these rules, kept in each record whose metrics they admitted: a projection
 * passes a record of an older version (or of none) through the gate again as it folds it, and
 * trusts one of this version. Raise it when a rule gets stricter.
 */
export const METRIC_GATE_VERSION = 1;

/** 2000-01-01T00:00:00Z: no SPOC counter is older, and a smaller number is not epoch seconds. */
export const EARLIEST_TIMESTAMP = 946_684_800;

/**
 * The largest |PerfValue|: a window's sum of up to 10^8 such values stays finite
 * (10^8 × 10^300 < 1.79 × 10^308, the largest double), so its average never reads back as null.
 */
export const MAX_ABS_PERF_VALUE = 1e300;

/** Every id and optional field is at most this long, as SPOC's contract says (DESIGN §1). */
export const MAX_ID_CHARS = 256;

/**
 * Table key budgets, in characters once encoded, from the longest keys the projections build:
 * - per-VM minute blocks: RowKey `tenant|vm|<12-digit row>~<3-digit page>`: tenant + vm + 18 ≤ 512;
 * - cross-tenant minute blocks: RowKey `key|<row>~<page>`: key + 17 ≤ 512; the late ledger's
 *   PartitionKey and the catalog's RowKey are the key alone; the VM catalog's RowKey is `tenant|0000`.
 * An optional field is in no key today; it gets what a tenant and VM get together, so that a
 * projection may group by it in their place.
 */
export const MAX_TENANT_VM_KEY_CHARS = MAX_TABLE_KEY_CHARS - 18;
export const MAX_COUNTER_KEY_CHARS = MAX_TABLE_KEY_CHARS - 17;
export const MAX_OPTIONAL_KEY_CHARS = MAX_TENANT_VM_KEY_CHARS;

const LONE_SURROGATE = /\p{Cs}/u;
/** Any surrogate, paired or not: a quick test before the slower search for a lone one. */
const ANY_SURROGATE = /[\ud800-\udfff]/;
const YEAR_SECONDS = 365 * 24 * 3600;
const ESCAPES_NOTE = "each / \\ # ? % | ' or control character takes 3 characters for each of its UTF-8 bytes";
const OPTIONAL_FIELDS = [
  ['siteName', 'SiteName'], ['resourcePoolName', 'ResourcePoolName'], ['region', 'Region'], ['machineSize', 'MachineSize'],
] as const;

/**
 * The gate every metric passes, at ingest (HTTP, `opsfold ingest`, Service Bus) and again when a
 * projection folds it from the log (a log written before the gate may hold what it refuses):
 * why `m` cannot be stored and folded by every projection, or undefined when it can. Reasons
 * name SPOC's fields. Pure: the arrival time comes in with the limits.
 *
 * @example
 * metricRejection({ t: 1790000100000, tenant: 't', vm: 'v', key: 'cpu.pct', value: 1 }, { arrivalMs: Date.now(), maxFutureSeconds: 300 });
 * // 'timestamp 1790000100000 looks like epoch milliseconds (2026-09-21T…Z): send epoch seconds'
 */
export function metricRejection(m: Metric, limits: GateLimits): string | undefined {
  const latest = limits.arrivalMs / 1000 + limits.maxFutureSeconds;
  if (!(m.t >= EARLIEST_TIMESTAMP && m.t <= latest)) return timestampRejection(m.t, limits);
  if (!(m.value >= -MAX_ABS_PERF_VALUE && m.value <= MAX_ABS_PERF_VALUE)) return valueRejection(m.value);
  const problem = idProblem(0, 'MaskedTenantId', m.tenant) ?? idProblem(1, 'MaskedVMName', m.vm) ?? idProblem(2, 'PerfType.PerfName', m.key, 2 * MAX_ID_CHARS + 1);
  if (problem !== undefined) return problem;
  // An id takes at most 6 characters a code unit once escaped (U+0080–U+009F: %C2%XX): short ids need no count.
  if (6 * (m.tenant.length + m.vm.length) > MAX_TENANT_VM_KEY_CHARS) {
    const length = tableKeyLength(m.tenant) + tableKeyLength(m.vm);
    if (length > MAX_TENANT_VM_KEY_CHARS) {
      return `MaskedTenantId and MaskedVMName take ${length} characters of a table key once escaped; together they may take at most ${MAX_TENANT_VM_KEY_CHARS} (${ESCAPES_NOTE})`;
    }
  }
  if (6 * m.key.length > MAX_COUNTER_KEY_CHARS) {
    const length = tableKeyLength(m.key);
    if (length > MAX_COUNTER_KEY_CHARS) {
      return `PerfType and PerfName take ${length} characters of a table key once escaped (as PerfType.PerfName); together they may take at most ${MAX_COUNTER_KEY_CHARS} (${ESCAPES_NOTE})`;
    }
  }
  for (let i = 0; i < OPTIONAL_FIELDS.length; i++) {
    const field = OPTIONAL_FIELDS[i];
    const v = m[field[0]];
    if (v === undefined || v === null) continue;
    const optional = idProblem(3 + i, field[1], v);
    if (optional !== undefined) return optional;
    const length = 6 * v.length > MAX_OPTIONAL_KEY_CHARS ? tableKeyLength(v) : 0;
    if (length > MAX_OPTIONAL_KEY_CHARS) return `${field[1]} takes ${length} characters of a table key once escaped; at most ${MAX_OPTIONAL_KEY_CHARS} (${ESCAPES_NOTE})`;
  }
  return undefined;
}

/**
 * Why the string field `name` is not well-formed, or undefined when it is: a lone UTF-16
 * surrogate (what `encodeURIComponent`, UTF-8 and the table service all refuse).
 */
export function illFormedReason(name: string, value: string): string | undefined {
  if (!ANY_SURROGATE.test(value)) return undefined;
  const at = value.search(LONE_SURROGATE);
  if (at < 0) return undefined;
  return `${name} is not well-formed Unicode: a lone UTF-16 surrogate (\\u${value.charCodeAt(at).toString(16)}) at index ${at}`;
}

/**
 * The last well-formed id seen in each field: a record's or a message's metrics repeat their
 * tenant, VM and optional fields, and comparing with the last one is cheaper than looking at it
 * again. Only a cache: the answer is the same with or without it.
 */
const lastIds: unknown[] = new Array(3 + OPTIONAL_FIELDS.length).fill(Symbol('none'));

/** Why `value` is no id (missing, not a string, empty, too long, not well-formed), or undefined when it is one. */
function idProblem(slot: number, name: string, value: unknown, maxChars = MAX_ID_CHARS): string | undefined {
  if (value === lastIds[slot]) return undefined;
  if (typeof value !== 'string') return value === undefined || value === null ? `${name} is missing` : `${name} must be a string, got ${typeof value}`;
  if (value.length === 0) return `${name} must not be empty`;
  if (value.length > maxChars) return `${name} is longer than ${maxChars} characters`;
  const illFormed = illFormedReason(name, value);
  if (illFormed !== undefined) return illFormed;
  lastIds[slot] = value;
  return undefined;
}

function timestampRejection(t: number, { arrivalMs, maxFutureSeconds }: GateLimits): string {
  if (typeof t !== 'number') return `timestamp must be a number, got ${typeof t}`;
  if (!Number.isFinite(t)) return 'timestamp must be a finite number';
  // A sender's clock in milliseconds may be ahead too: the hint allows a year (no one means the year 58,000 in seconds).
  const plausible = arrivalMs / 1000 + maxFutureSeconds + YEAR_SECONDS;
  for (const [unit, perSecond] of [['milliseconds', 1e3], ['microseconds', 1e6], ['nanoseconds', 1e9]] as const) {
    const seconds = t / perSecond;
    if (seconds >= EARLIEST_TIMESTAMP && seconds <= plausible) return `timestamp ${t} looks like epoch ${unit} (${isoOf(seconds)}): send epoch seconds`;
  }
  if (t < EARLIEST_TIMESTAMP) return `timestamp ${t} is before 2000-01-01T00:00:00Z (${EARLIEST_TIMESTAMP}): send epoch seconds`;
  const when = Math.abs(t) <= 8.64e12 ? ` (${isoOf(t)})` : '';
  return `timestamp ${t}${when} is more than ${maxFutureSeconds} seconds after its arrival (${isoOf(arrivalMs / 1000)}), the most a sender's clock may be ahead (WINDOW_MAX_FUTURE_SECONDS)`;
}

function valueRejection(v: number): string {
  if (typeof v !== 'number') return `PerfValue must be a number, got ${typeof v}`;
  if (!Number.isFinite(v)) return 'PerfValue must be a finite number';
  return `PerfValue ${v} is beyond ±1e300, the largest magnitude whose window sums stay finite`;
}

function isoOf(seconds: number): string {
  return new Date(Math.floor(seconds) * 1000).toISOString().replace('.000Z', 'Z');
}
