import type { HistoryChunk } from '../src/core/ports';
import type { WindowEvent, WindowExtras } from '../src/core/windowMath';
import { feedEntry, IDS_PER_MS, type FeedEntry } from '../src/core/windowStream';

/**
 * The durable window-event history, owned by the 'windows' projection version: the events of
 * each hour of ids (hour = hours since the epoch of the id's processing time) as one
 * append-only run of chunks, so pruning beyond the retention drops whole hours. A chunk is a
 * run of consecutive events packed (see ChunkBuilder). Where the hours are kept is a
 * WindowHistoryStore's (src/adapters/windowHistory): files beside the file log, or one table
 * per hour on Event Hubs.
 */

export const IDS_PER_HOUR = 3600 * 1000 * IDS_PER_MS;
/** A chunk spans at most this many ids (10 s), so a table store can find a resume's chunk one span before its id. */
export const CHUNK_SPAN_IDS = 10 * 1000 * IDS_PER_MS;
export const CHUNK_MAX_EVENTS = 2000;

export const hourOfId = (id: number): number => Math.floor(id / IDS_PER_HOUR);
export const firstIdOfHour = (hour: number): number => hour * IDS_PER_HOUR;

/** An hour is due for dropping when every id it can hold is older than the cutoff. */
export function isExpired(hour: number, cutoffId: number): boolean {
  return firstIdOfHour(hour + 1) <= cutoffId;
}

/**
 * The history in Table Storage (src/adapters/windowHistory/TableWindowHistory): one block table
 * per hour of ids, `{prefix}WindowEventsV{version}H{hour}`, so pruning is one table drop; inside,
 * one partition; a block per chunk (row = first id minus the hour's first id, data = `h1:` and
 * the chunk's bytes in base64, appliedThrough = last id), and the head row holds the newest id.
 */
export const HISTORY_PARTITION: readonly string[] = ['events'];
/** The head row, above every chunk row (3.6e9 ids an hour < 10^12 - 1, the largest block row). */
export const HEAD_ROW = 10 ** 12 - 1;

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

/** The first chunk row a resume after `after` must read in the table of `hour`. */
export function resumeRow(hour: number, after: number): number {
  return hour === hourOfId(after) ? Math.max(0, after - firstIdOfHour(hour) - CHUNK_SPAN_IDS) : 0;
}

const NONE = 0xffff;
/** Set in an event's form byte when it is a final notice. */
const FINAL_FLAG = 0x80;
const U32 = 2 ** 32;
/** Set in the form byte: the aggregate is followed by u32 vms and u32 expected VMs (a cross-tenant window's). */
const FLEET = 0x10;
/** Bytes of one event at most: the fixed part, then form 2's five doubles and the VM counts. */
const MAX_EVENT_BYTES = 15 + 40 + 8;

/**
 * Packs events into chunks as they come, with no object kept per event. A chunk's bytes:
 * u16 number of strings and each (u16 byte length, UTF-8): the chunk's keys, tenants and VMs;
 * u16 number of events; f64 first id; f64 first window start; then per event u32 id − first id,
 * i32 window start − first window start, u16 key, tenant and VM string numbers (0xffff: none, a
 * cross-tenant window), u8 form (its high bit set on a final notice, see WindowEvent.final), and
 * then form 1: the value (count 1, revision 1, sum = min = max, as nearly every per-VM window);
 * form 0: u32 count, f64 sum, min, max, u32 revision; form 2: f64 count, sum, min, max, revision.
 * With 0x10 added to the form, u32 vms and u32 expected VMs follow (a cross-tenant window's).
 * About a sixth of the JSON; avg is sum / count again.
 *
 * @example
 * const builder = new ChunkBuilder();
 * if (!builder.fits(id, event.windowStart)) chunks.push(builder.seal());
 * builder.add(id, event);
 */
export class ChunkBuilder {
  private readonly events: Buffer;
  /** Over `events`: a rebuild packs a million events a minute of fleet, and Buffer's write methods cost it more than a DataView's. */
  private readonly view: DataView;
  private readonly strings = new Map<string, number>();
  /** The tenant and VM of the last event, and their string numbers: a VM's windows come one after another. */
  private lastTenant: string | undefined = undefined;
  private lastTenantRef = NONE;
  private lastVm: string | undefined = undefined;
  private lastVmRef = NONE;
  private at = 0;
  private n = 0;
  private firstId = 0;
  private lastId = 0;
  private firstStart = 0;

  /** `maxEvents` (at most CHUNK_MAX_EVENTS): where chunks are cut at the latest. */
  constructor(private readonly maxEvents = CHUNK_MAX_EVENTS) {
    this.events = Buffer.allocUnsafe(Math.min(maxEvents, CHUNK_MAX_EVENTS) * MAX_EVENT_BYTES);
    this.view = new DataView(this.events.buffer, this.events.byteOffset, this.events.length);
  }

  get count(): number {
    return this.n;
  }

  /**
   * Whether the event can join this chunk: same hour of ids, within CHUNK_SPAN_IDS of the first
   * and the most events, its window start within an i32 of the first. Else seal first.
   */
  fits(id: number, windowStart: number): boolean {
    if (this.n === 0) return true;
    const startDelta = windowStart - this.firstStart;
    return this.n < this.maxEvents && this.n < CHUNK_MAX_EVENTS && hourOfId(id) === hourOfId(this.firstId) && id - this.firstId <= CHUNK_SPAN_IDS &&
      Number.isInteger(startDelta) && Math.abs(startDelta) < 2 ** 31 && this.strings.size + 3 < NONE;
  }

  /** Adds an event (its id above the last one, `fits` checked). */
  add(id: number, e: WindowEvent): void {
    this.addFields(id, e.key, e.tenant, e.vm, e.windowStart, e.count, e.sum, e.min, e.max, e.revision, e, e.final === true);
  }

  /** Adds an event given as its fields (see WindowRecorder); VM counts that fit a u32 are kept. */
  addFields(id: number, key: string, tenant: string | undefined, vm: string | undefined, windowStart: number,
    count: number, sum: number, min: number, max: number, revision: number, extras?: WindowExtras, final = false): void {
    if (this.n === 0) {
      this.firstId = id;
      this.firstStart = windowStart;
    }
    // Every number is in its field's range here: ids and starts by `fits`, u32s by isU32, string numbers below NONE.
    const v = this.view;
    let at = this.at;
    v.setUint32(at, id - this.firstId, true);
    v.setInt32(at + 4, windowStart - this.firstStart, true);
    v.setUint16(at + 8, this.ref(key), true);
    if (tenant !== this.lastTenant || this.lastTenantRef === NONE) {
      this.lastTenant = tenant;
      this.lastTenantRef = this.ref(tenant);
    }
    if (vm !== this.lastVm || this.lastVmRef === NONE) {
      this.lastVm = vm;
      this.lastVmRef = this.ref(vm);
    }
    v.setUint16(at + 10, this.lastTenantRef, true);
    v.setUint16(at + 12, this.lastVmRef, true);
    at += 14;
    const fleet = extras?.vms !== undefined && isU32(extras.vms) && isU32(extras.expectedVms ?? 0) ? FLEET : 0;
    const flags = fleet | (final ? FINAL_FLAG : 0);
    if (count === 1 && revision === 1 && Object.is(sum, min) && Object.is(sum, max)) {
      v.setUint8(at, 1 | flags);
      v.setFloat64(at + 1, sum, true);
      at += 9;
    } else if (isU32(count) && isU32(revision)) {
      v.setUint8(at, 0 | flags);
      v.setUint32(at + 1, count, true);
      v.setFloat64(at + 5, sum, true);
      v.setFloat64(at + 13, min, true);
      v.setFloat64(at + 21, max, true);
      v.setUint32(at + 29, revision, true);
      at += 33;
    } else {
      v.setUint8(at, 2 | flags);
      v.setFloat64(at + 1, count, true);
      v.setFloat64(at + 9, sum, true);
      v.setFloat64(at + 17, min, true);
      v.setFloat64(at + 25, max, true);
      v.setFloat64(at + 33, revision, true);
      at += 41;
    }
    if (fleet) {
      v.setUint32(at, extras!.vms!, true);
      v.setUint32(at + 4, extras!.expectedVms ?? 0, true);
      at += 8;
    }
    this.at = at;
    this.lastId = id;
    this.n++;
  }

  /** The chunk of the events added since the last seal (at least one), and a fresh start. */
  seal(): HistoryChunk {
    const chunk = this.peek();
    this.strings.clear();
    this.lastTenantRef = NONE;
    this.lastVmRef = NONE;
    this.at = 0;
    this.n = 0;
    return chunk;
  }

  /** The chunk of the events added since the last seal (at least one), as a copy: the builder goes on filling it. */
  peek(): HistoryChunk {
    const texts = [...this.strings.keys()].map((text) => Buffer.from(text, 'utf8'));
    let size = 2 + 2 + 16 + this.at;
    for (const t of texts) {
      if (t.length > 0xffff) throw new RangeError(`a window's key, tenant or VM of ${t.length} bytes is too long for the history (at most 65,535)`);
      size += 2 + t.length;
    }
    const out = Buffer.allocUnsafe(size);
    let at = out.writeUInt16LE(texts.length, 0);
    for (const t of texts) {
      at = out.writeUInt16LE(t.length, at);
      at += t.copy(out, at);
    }
    at = out.writeUInt16LE(this.n, at);
    at = out.writeDoubleLE(this.firstId, at);
    at = out.writeDoubleLE(this.firstStart, at);
    this.events.copy(out, at, 0, this.at);
    return { firstId: this.firstId, lastId: this.lastId, count: this.n, data: out };
  }

  private ref(text: string | undefined): number {
    if (text === undefined) return NONE;
    let i = this.strings.get(text);
    if (i === undefined) this.strings.set(text, (i = this.strings.size));
    return i;
  }
}

const isU32 = (v: number): boolean => Number.isInteger(v) && v >= 0 && v < U32;

/** Entries (ids increasing) packed into chunks, cut where `ChunkBuilder.fits` says. */
export function encodeChunks(entries: readonly FeedEntry[]): HistoryChunk[] {
  const builder = new ChunkBuilder();
  const chunks: HistoryChunk[] = [];
  for (const { id, event } of entries) {
    if (!builder.fits(id, event.windowStart)) chunks.push(builder.seal());
    builder.add(id, event);
  }
  if (builder.count > 0) chunks.push(builder.seal());
  return chunks;
}

/** How many events a chunk's bytes hold. */
export function countOf(b: Buffer): number {
  let at = 2;
  for (let i = b.readUInt16LE(0); i > 0; i--) at += 2 + b.readUInt16LE(at);
  return b.readUInt16LE(at);
}

/** The entries of a chunk's bytes (see ChunkBuilder). */
export function decodeChunk(b: Buffer): FeedEntry[] {
  const reader = new ChunkReader(b);
  const entries: FeedEntry[] = [];
  for (let e = reader.next(); e !== undefined; e = reader.next()) entries.push(e);
  return entries;
}

/**
 * Reads a chunk's events one at a time (see ChunkBuilder for the bytes): a resume holds the
 * chunk's bytes and the events it is about to send, never an object per event of the chunk.
 *
 * @example
 * const reader = new ChunkReader(chunk.data);
 * reader.skipThrough(lastSentId);
 * for (let e = reader.next(); e; e = reader.next()) send(e);
 */
export class ChunkReader {
  private readonly texts: string[] = [];
  private readonly count: number;
  private readonly firstId: number;
  private readonly firstStart: number;
  private at: number;
  private n = 0;

  constructor(private readonly b: Buffer) {
    let at = 2;
    for (let i = b.readUInt16LE(0); i > 0; i--) {
      const length = b.readUInt16LE(at);
      this.texts.push(b.toString('utf8', at + 2, at + 2 + length));
      at += 2 + length;
    }
    this.count = b.readUInt16LE(at);
    this.firstId = b.readDoubleLE(at + 2);
    this.firstStart = b.readDoubleLE(at + 10);
    this.at = at + 18;
  }

  /** The id of the next event, or undefined after the last. */
  peekId(): number | undefined {
    return this.n < this.count ? this.firstId + this.b.readUInt32LE(this.at) : undefined;
  }

  /** Passes over the events with an id up to `id`, without decoding them. */
  skipThrough(id: number): void {
    for (let next = this.peekId(); next !== undefined && next <= id; next = this.peekId()) {
      const form = this.b[this.at + 14];
      const base = form & ~(FLEET | FINAL_FLAG);
      this.at += 15 + (base === 1 ? 8 : base === 0 ? 32 : 40) + (form & FLEET ? 8 : 0);
      this.n++;
    }
  }

  /** The next event, or undefined after the last. */
  next(): FeedEntry | undefined {
    if (this.n >= this.count) return undefined;
    const b = this.b;
    const texts = this.texts;
    let at = this.at;
    const id = this.firstId + b.readUInt32LE(at);
    const windowStart = this.firstStart + b.readInt32LE(at + 4);
    const key = texts[b.readUInt16LE(at + 8)];
    const tenant = b.readUInt16LE(at + 10);
    const vm = b.readUInt16LE(at + 12);
    const flags = b[at + 14];
    const form = flags & ~(FLEET | FINAL_FLAG);
    at += 15;
    let e: WindowEvent;
    if (form === 1) {
      const v = b.readDoubleLE(at);
      at += 8;
      e = { key, windowStart, count: 1, sum: v, min: v, max: v, avg: v, revision: 1 };
    } else if (form === 0) {
      const c = b.readUInt32LE(at);
      const sum = b.readDoubleLE(at + 4);
      e = { key, windowStart, count: c, sum, min: b.readDoubleLE(at + 12), max: b.readDoubleLE(at + 20), avg: sum / c, revision: b.readUInt32LE(at + 28) };
      at += 32;
    } else {
      const [c, sum, min, max, revision] = [0, 8, 16, 24, 32].map((o) => b.readDoubleLE(at + o));
      e = { key, windowStart, count: c, sum, min, max, avg: sum / c, revision };
      at += 40;
    }
    if (flags & FLEET) {
      e.vms = b.readUInt32LE(at);
      e.expectedVms = b.readUInt32LE(at + 4);
      at += 8;
    }
    if (tenant !== NONE) e.tenant = texts[tenant];
    if (vm !== NONE) e.vm = texts[vm];
    if (flags & FINAL_FLAG) e.final = true;
    this.at = at;
    this.n++;
    return feedEntry(id, e);
  }
}
