import type { StoredBlock } from '../src/core/ports';
import type { WindowEvent } from '../src/core/windowMath';
import { feedEntry, IDS_PER_MS, type FeedEntry, type StreamedWindowEvent } from '../src/core/windowStream';

/**
 * Layout of the durable window-event history, owned by the 'windows' projection version.
 *
 * One block table per hour of ids, `{prefix}WindowEventsV{version}H{hour}` (hour = hours since
 * the epoch of the id's processing time), so pruning beyond the retention is one table drop and
 * needs no row-by-row deletes. Inside, one partition; a block is a chunk of consecutive events
 * (row = first id minus the hour's first id, data = the events packed (see encodeChunk),
 * appliedThrough = last id), and the head row holds the newest id written, which a restart
 * continues from.
 */

export const HISTORY_PARTITION: readonly string[] = ['events'];
export const IDS_PER_HOUR = 3600 * 1000 * IDS_PER_MS;
/** The head row, above every chunk row (3.6e9 ids an hour < 10^12 - 1, the largest block row). */
export const HEAD_ROW = 10 ** 12 - 1;
/** A chunk spans at most this many ids (10 s), so a resume reads from one span before its id. */
export const CHUNK_SPAN_IDS = 10 * 1000 * IDS_PER_MS;
export const CHUNK_MAX_EVENTS = 2000;

export function historyTablePrefix(tablePrefix: string, version: number): string {
  return `${tablePrefix}WindowEventsV${version}H`;
}

export function historyTable(tablePrefix: string, version: number, hour: number): string {
  return `${historyTablePrefix(tablePrefix, version)}${hour}`;
}

/** The hour of a history table's name, or undefined when the name is not one. */
export function hourOfTable(tablePrefix: string, version: number, name: string): number | undefined {
  const prefix = historyTablePrefix(tablePrefix, version);
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

export const hourOfId = (id: number): number => Math.floor(id / IDS_PER_HOUR);
export const firstIdOfHour = (hour: number): number => hour * IDS_PER_HOUR;

/** The first row a resume after `after` must read in the table of `hour`. */
export function resumeRow(hour: number, after: number): number {
  return hour === hourOfId(after) ? Math.max(0, after - firstIdOfHour(hour) - CHUNK_SPAN_IDS) : 0;
}

/** A table drop is due when every id it can hold is older than the cutoff. */
export function isExpired(hour: number, cutoffId: number): boolean {
  return firstIdOfHour(hour + 1) <= cutoffId;
}

/**
 * Cuts entries (ids increasing) into chunk blocks: a new chunk at an hour boundary, after
 * CHUNK_MAX_EVENTS events, or when its span would pass CHUNK_SPAN_IDS. Returns blocks per hour.
 */
export function toChunks(entries: readonly FeedEntry[]): Map<number, StoredBlock[]> {
  const byHour = new Map<number, StoredBlock[]>();
  let chunk: FeedEntry[] = [];
  let first = 0;
  let last = 0;
  const close = () => {
    if (chunk.length === 0) return;
    const hour = hourOfId(first);
    let blocks = byHour.get(hour);
    if (!blocks) byHour.set(hour, (blocks = []));
    blocks.push({ partition: HISTORY_PARTITION, row: first - firstIdOfHour(hour), data: encodeChunk(chunk), appliedThrough: last });
    chunk = [];
  };
  for (const entry of entries) {
    const id = entry.id;
    if (chunk.length > 0 && (hourOfId(id) !== hourOfId(first) || chunk.length >= CHUNK_MAX_EVENTS || id - first > CHUNK_SPAN_IDS)) close();
    if (chunk.length === 0) first = id;
    chunk.push(entry);
    last = id;
  }
  close();
  return byHour;
}

export function headBlock(lastId: number): StoredBlock {
  return { partition: HISTORY_PARTITION, row: HEAD_ROW, data: '', appliedThrough: lastId };
}

/** The entries of a chunk block, as written (packed, or the earlier form: one JSON event a line). */
export function fromChunk(block: StoredBlock): FeedEntry[] {
  if (block.data === '') return [];
  if (block.data.startsWith(PACKED_PREFIX)) return decodeChunk(block.data);
  return block.data.split('\n').map((json) => {
    const { id, ...event } = JSON.parse(json) as StreamedWindowEvent;
    return feedEntry(id, event);
  });
}

const PACKED_PREFIX = 'h1:';
const NONE = 0xffff;
const U32 = 2 ** 32;

/**
 * A chunk's events packed, `h1:` then base64 of: u16 number of strings and each (u16 byte length,
 * UTF-8) — the chunk's keys, tenants and VMs; u16 number of events; f64 first id; f64 first window
 * start; then per event u32 id − first id, i32 window start − first window start, u16 key,
 * tenant and VM string numbers (0xffff: a cross-tenant window), u8 form, and either the value
 * (form 1: count 1, revision 1, sum = min = max, as nearly every per-VM window) or u32 count, f64
 * sum, min, max and u32 revision. About a sixth of the JSON form; avg is sum / count again.
 * Events that do not fit (which the windows never produce) are kept as JSON lines instead.
 */
export function encodeChunk(entries: readonly FeedEntry[]): string {
  const strings = new Map<string, number>();
  const indexOf = (text: string | undefined): number => {
    if (text === undefined) return NONE;
    let i = strings.get(text);
    if (i === undefined) strings.set(text, (i = strings.size));
    return i;
  };
  const events = entries.map((entry) => entry.event);
  const asJsonLines = () => entries.map((entry) => entry.json).join('\n');
  const firstId = entries[0].id;
  const firstStart = events[0].windowStart;
  let size = 2 + 2 + 16;
  const refs: number[] = [];
  for (const [n, e] of events.entries()) {
    const idDelta = entries[n].id - firstId;
    const startDelta = e.windowStart - firstStart;
    const fits = Number.isInteger(idDelta) && idDelta >= 0 && idDelta < U32 && Number.isInteger(startDelta) && Math.abs(startDelta) < 2 ** 31 &&
      Number.isInteger(e.count) && e.count >= 0 && e.count < U32 && Number.isInteger(e.revision) && e.revision >= 0 && e.revision < U32 &&
      (e.tenant === undefined) === (e.vm === undefined);
    if (!fits) return asJsonLines();
    refs.push(indexOf(e.key), indexOf(e.tenant), indexOf(e.vm));
    size += 15 + (isSingle(e) ? 8 : 32);
  }
  if (strings.size >= NONE) return asJsonLines();
  const texts = [...strings.keys()].map((text) => Buffer.from(text, 'utf8'));
  for (const t of texts) size += 2 + t.length;
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt16LE(texts.length, 0);
  for (const t of texts) {
    at = out.writeUInt16LE(t.length, at);
    at += t.copy(out, at);
  }
  at = out.writeUInt16LE(events.length, at);
  at = out.writeDoubleLE(firstId, at);
  at = out.writeDoubleLE(firstStart, at);
  events.forEach((e, n) => {
    at = out.writeUInt32LE(entries[n].id - firstId, at);
    at = out.writeInt32LE(e.windowStart - firstStart, at);
    at = out.writeUInt16LE(refs[3 * n], at);
    at = out.writeUInt16LE(refs[3 * n + 1], at);
    at = out.writeUInt16LE(refs[3 * n + 2], at);
    if (isSingle(e)) {
      at = out.writeUInt8(1, at);
      at = out.writeDoubleLE(e.sum, at);
      return;
    }
    at = out.writeUInt8(0, at);
    at = out.writeUInt32LE(e.count, at);
    at = out.writeDoubleLE(e.sum, at);
    at = out.writeDoubleLE(e.min, at);
    at = out.writeDoubleLE(e.max, at);
    at = out.writeUInt32LE(e.revision, at);
  });
  return PACKED_PREFIX + out.toString('base64');
}

const isSingle = (e: WindowEvent): boolean => e.count === 1 && e.revision === 1 && Object.is(e.sum, e.min) && Object.is(e.sum, e.max);

function decodeChunk(data: string): FeedEntry[] {
  const b = Buffer.from(data.slice(PACKED_PREFIX.length), 'base64');
  const texts: string[] = [];
  const strings = b.readUInt16LE(0);
  let at = 2;
  for (let i = 0; i < strings; i++) {
    const length = b.readUInt16LE(at);
    texts.push(b.toString('utf8', at + 2, at + 2 + length));
    at += 2 + length;
  }
  const count = b.readUInt16LE(at);
  const firstId = b.readDoubleLE(at + 2);
  const firstStart = b.readDoubleLE(at + 10);
  at += 18;
  const entries: FeedEntry[] = [];
  for (let n = 0; n < count; n++) {
    const id = firstId + b.readUInt32LE(at);
    const windowStart = firstStart + b.readInt32LE(at + 4);
    const key = texts[b.readUInt16LE(at + 8)];
    const tenant = b.readUInt16LE(at + 10);
    const vm = b.readUInt16LE(at + 12);
    const single = b.readUInt8(at + 14) === 1;
    at += 15;
    let e: WindowEvent;
    if (single) {
      const v = b.readDoubleLE(at);
      at += 8;
      e = { key, windowStart, count: 1, sum: v, min: v, max: v, avg: v, revision: 1 };
    } else {
      const c = b.readUInt32LE(at);
      const sum = b.readDoubleLE(at + 4);
      e = { key, windowStart, count: c, sum, min: b.readDoubleLE(at + 12), max: b.readDoubleLE(at + 20), avg: sum / c, revision: b.readUInt32LE(at + 28) };
      at += 32;
    }
    if (tenant !== NONE) {
      e.tenant = texts[tenant];
      e.vm = texts[vm];
    }
    entries.push(feedEntry(id, e));
  }
  return entries;
}
