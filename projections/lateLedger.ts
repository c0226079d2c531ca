import { InvalidInputError } from '../src/core/errors';
import type { Row } from '../src/core/ports';
import type { LateMetric } from '../src/core/windowMath';
import { positionRow } from './projectionCatalog';

/**
 * The late-events ledger, packed. A row (a *page*) holds consecutive late metrics in fold order, up to
 * PAGE_MAX_METRICS or about PAGE_MAX_CHARS of JSON with a table of its strings, so a late metric costs
 * some 30 characters of a shared entity instead of an entity of its own (the embedded Azurite spends
 * far more per entity than per byte, and scans a partition on every upsert).
 *
 * Page boundaries are a pure function of the late metrics since the start of their *span* (`span`
 * consecutive log positions): a page ends when it is full or when the log moves into another span.
 * A fold that starts again inside a span (a restart) reads that span's pages back (`spanQuery`,
 * `resume`) and goes on from its last one; every later span is folded from its start, into the same
 * pages as before. So writing pages again (after a flush whose checkpoint was lost) never doubles a
 * metric, and a page is rewritten whole only while it is the one being filled.
 *
 * Rows: partition [group] (GROUP_DIGITS digits: SPANS_PER_PARTITION spans share a storage partition,
 * which stays bounded), row = positionRow of the page's first metric, so rows sort by log position
 * across partitions. Fields: `n` (metrics), `d0`, `d1`, … (the JSON, cut into FIELD_CHARS pieces):
 * `{"s":[strings],"r":[[position, watermark, index, key, tenant, vm, t, value, index, …], …]}`, one
 * array per log record, key/tenant/vm as indexes into `s`.
 */
export const PAGE_MAX_METRICS = 2000;
export const PAGE_MAX_CHARS = 60_000;
/** A string property holds at most 32K UTF-16 characters; stay below. */
const FIELD_CHARS = 30_000;
const SPANS_PER_PARTITION = 256;
const GROUP_DIGITS = 12;
const EMPTY_PAGE_CHARS = '{"s":[],"r":[]}'.length;

/** Span of the file log, whose positions are bytes: a span holds at most some 6,000 metrics. */
export const FILE_LOG_LATE_SPAN = 256 * 1024;
/** Span of an Event Hubs partition, whose positions are sequence numbers: one event (at most 1 MB). */
export const EVENT_HUBS_LATE_SPAN = 1;

/** A page being filled: the JSON's parts as numbers and strings, and its length as it will be written. */
interface Page {
  span: number;
  first: { position: number; index: number };
  strings: Map<string, number>;
  records: number[][];
  count: number;
  chars: number;
  /** Changed since it was last taken for writing. */
  dirty: boolean;
}

/** How many characters `JSON.stringify(n)` writes for a finite number (counted for the common small integers: positions, ids, times). */
function numberChars(n: number): number {
  if (!(Number.isInteger(n) && n >= 0 && n < 1e15)) return String(n).length;
  let digits = 1;
  for (let power = 10; n >= power; power *= 10) digits++;
  return digits;
}

/**
 * The writer's state of the ledger: late metrics go in with `add`, rows to upsert come out with
 * `take` (the pages closed since, and the open page when it changed). Holds one open page and the
 * closed pages not yet taken.
 *
 * @example
 * const ledger = new LateLedger(FILE_LOG_LATE_SPAN);
 * for (const m of step.late) ledger.add(m);
 * await lateTable.upsert(ledger.take());
 */
export class LateLedger {
  private page?: Page;
  private closed: Row[] = [];
  private closedChars = 0;
  /** After `resume`: metrics up to this one are already stored. */
  private storedThrough?: { position: number; index: number };

  constructor(private readonly span: number) {
    if (!Number.isSafeInteger(span) || span < 1) throw new InvalidInputError(`a late ledger span must be a whole number of log positions, 1 or more; got ${span}`);
  }

  /** Where the pages of the span holding `position` are: read them and hand them to `resume` before folding from `position`. */
  spanQuery(position: number): { partition: string[]; fromRow: string; toRow: string } {
    const span = Math.floor(position / this.span);
    const start = span * this.span;
    return { partition: [groupOf(span)], fromRow: positionRow(start, 0), toRow: positionRow(start + this.span - 1, 999_999) };
  }

  /**
   * Goes on from the stored pages of one span (the rows `spanQuery` names, in any order): the last
   * one is filled further, and the metrics it and the others hold are not added again.
   */
  resume(rows: readonly Row[]): void {
    if (rows.length === 0) return;
    const last = [...rows].sort((a, b) => (a.row < b.row ? -1 : a.row > b.row ? 1 : 0))[rows.length - 1];
    const metrics = decodeLatePage(last);
    if (metrics.length === 0) return;
    for (const m of metrics) this.append(m);
    this.page!.dirty = false;
    const end = metrics[metrics.length - 1];
    this.storedThrough = { position: end.position, index: end.index };
  }

  /** Adds a late metric (in log order); false when a page read back by `resume` already holds it. */
  add(m: LateMetric): boolean {
    const stored = this.storedThrough;
    if (stored) {
      if (m.position < stored.position || (m.position === stored.position && m.index <= stored.index)) return false;
      this.storedThrough = undefined;
    }
    this.append(m);
    return true;
  }

  /** Characters of JSON waiting to be written: a caller writes before this grows past its bound. */
  get pendingChars(): number {
    return this.closedChars + (this.page?.dirty ? this.page.chars : 0);
  }

  /** The rows to upsert now, in log order: pages closed since the last call, then the open page if it changed. */
  take(): Row[] {
    const rows = this.closed;
    this.closed = [];
    this.closedChars = 0;
    if (this.page?.dirty) {
      rows.push(encodePage(this.page));
      this.page.dirty = false;
    }
    return rows;
  }

  private append(m: LateMetric): void {
    const span = Math.floor(m.position / this.span);
    let page = this.page;
    let cost = page === undefined || page.span !== span || page.count >= PAGE_MAX_METRICS ? Infinity : costOf(page, m);
    if (page !== undefined && page.chars + cost > PAGE_MAX_CHARS) {
      this.close(page);
      page = undefined;
    }
    if (page === undefined) {
      page = { span, first: { position: m.position, index: m.index }, strings: new Map(), records: [], count: 0, chars: EMPTY_PAGE_CHARS, dirty: false };
      this.page = page;
      cost = costOf(page, m);
    }
    page.chars += cost;
    let record = page.records[page.records.length - 1];
    if (record === undefined || record[0] !== m.position || record[1] !== m.watermark) page.records.push((record = [m.position, m.watermark]));
    record.push(m.index, idOf(page, m.key), idOf(page, m.tenant), idOf(page, m.vm), m.t, m.value);
    page.count++;
    page.dirty = true;
  }

  private close(page: Page): void {
    if (page.dirty) {
      this.closed.push(encodePage(page));
      this.closedChars += page.chars;
    }
    this.page = undefined;
  }
}

const groupOf = (span: number): string => String(Math.floor(span / SPANS_PER_PARTITION)).padStart(GROUP_DIGITS, '0');

function idOf(page: Page, s: string): number {
  let id = page.strings.get(s);
  if (id === undefined) page.strings.set(s, (id = page.strings.size));
  return id;
}

/** The characters `m` adds to the page's JSON (its new strings and record included); the page's size is their sum. */
function costOf(page: Page, m: LateMetric): number {
  let chars = numberChars(m.index) + numberChars(m.t) + numberChars(m.value) + 6;
  // Strings new to the page get the next ids in the order append gives them: key, tenant, VM (one id for a string met twice).
  const size = page.strings.size;
  const keyNew = !page.strings.has(m.key);
  const tenantNew = m.tenant !== m.key && !page.strings.has(m.tenant);
  const vmNew = m.vm !== m.key && m.vm !== m.tenant && !page.strings.has(m.vm);
  if (keyNew) chars += JSON.stringify(m.key).length + 1;
  if (tenantNew) chars += JSON.stringify(m.tenant).length + 1;
  if (vmNew) chars += JSON.stringify(m.vm).length + 1;
  const keyId = keyNew ? size : page.strings.get(m.key)!;
  const tenantId = tenantNew ? size + (keyNew ? 1 : 0) : m.tenant === m.key ? keyId : page.strings.get(m.tenant)!;
  const vmId = vmNew ? size + (keyNew ? 1 : 0) + (tenantNew ? 1 : 0) : m.vm === m.key ? keyId : m.vm === m.tenant ? tenantId : page.strings.get(m.vm)!;
  chars += numberChars(keyId) + numberChars(tenantId) + numberChars(vmId);
  const record = page.records[page.records.length - 1];
  if (record === undefined || record[0] !== m.position || record[1] !== m.watermark) chars += numberChars(m.position) + numberChars(m.watermark) + 4;
  return chars;
}

function encodePage(page: Page): Row {
  const json = JSON.stringify({ s: [...page.strings.keys()], r: page.records });
  const fields: Record<string, number | string> = { n: page.count };
  for (let i = 0, at = 0; at < json.length; i++, at += FIELD_CHARS) fields[`d${i}`] = json.slice(at, at + FIELD_CHARS);
  return { partition: [groupOf(page.span)], row: positionRow(page.first.position, page.first.index), fields };
}

/** The late metrics of one ledger row, in log order; none for a row that is no page (of an earlier layout). */
export function decodeLatePage(row: Row): LateMetric[] {
  const f = row.fields;
  if (typeof f.d0 !== 'string') return [];
  let json = '';
  for (let i = 0; typeof f[`d${i}`] === 'string'; i++) json += f[`d${i}`] as string;
  const { s, r } = JSON.parse(json) as { s: string[]; r: number[][] };
  const out: LateMetric[] = [];
  for (const record of r) {
    const [position, watermark] = record;
    for (let i = 2; i + 5 < record.length; i += 6) {
      out.push({ position, index: record[i], key: s[record[i + 1]], tenant: s[record[i + 2]], vm: s[record[i + 3]], t: record[i + 4], value: record[i + 5], watermark });
    }
  }
  return out;
}
