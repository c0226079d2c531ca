import { reasonOf } from './recordFault';

/**
 * A record a projection could not apply. It is kept in the quarantine ledger (listed by
 * `opsfold quarantine` and `GET /v1/quarantine`) and the fold goes on past it.
 */
export interface QuarantineEntry {
  /** The projection that refused it: windows, rejects, backlog, or a declared one. */
  projection: string;
  /** The log position of the record (on Event Hubs, of the record within its partition's scope). */
  position: number;
  /** The metric's index within the record, when one metric (not the whole record) was refused. */
  index?: number;
  reason: string;
  /** What was refused, as text (truncated), to look at. */
  raw?: string;
}

/**
 * Where a projector hands what it cannot apply. An implementation keeps the entry durably with
 * the projector's next checkpoint, so a restart neither loses nor repeats it.
 */
export type QuarantineSink = (entry: QuarantineEntry) => void;

/** What an entry keeps of the refused record or metric, and of the reason: enough to look at, small enough for any row. */
export const MAX_RAW_CHARS = 4096;
export const MAX_REASON_CHARS = 1024;

/**
 * Text that any store can hold: lone UTF-16 surrogates (an id that came from `encodeURIComponent`
 * of half a character) become U+FFFD, and it is cut at `max` characters with a mark.
 */
export function storableText(text: string, max: number): string {
  const cut = text.length <= max ? text : `${text.slice(0, max - 1)}…`;
  return cut.replace(LONE_SURROGATE, '\uFFFD');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A log record's payload as an entry's `raw`: the JSON of what it decodes to, or `base64:` and its
 * bytes when it does not decode at all.
 */
export function rawOfPayload(payload: Buffer, decoded?: unknown): string {
  if (decoded !== undefined) return storableText(JSON.stringify(decoded), MAX_RAW_CHARS);
  return storableText(`base64:${payload.subarray(0, (MAX_RAW_CHARS * 3) / 4 - 6).toString('base64')}`, MAX_RAW_CHARS);
}

/** The entry of a record whose payload does not decode: the projection passes over it. */
export function undecodable(projection: string, record: { position: number; payload: Buffer }, error: unknown): QuarantineEntry {
  return { projection, position: record.position, reason: `the record does not decode: ${reasonOf(error)}`, raw: rawOfPayload(record.payload) };
}
