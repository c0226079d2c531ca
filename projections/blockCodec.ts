import type { DDSketch } from '@datadog/sketches-js';
import { sketchBytes } from './sketchCodec';

/**
 * How a minute block's windows are held in memory and written: FIELDS numbers per window, a row of
 * them per minute of the slot in memory (see minuteBlocks.ts), or per sub-key (encodeBlock's rows).
 * Cross-tenant windows have two more numbers than a VM's: their distinct VMs and expected VMs (see KeyPresence).
 */
export const MINUTES = 15;

/**
 * The numbers of a minute in a row, by offset (a const enum: the compiler writes the numbers in,
 * so the fold's row accesses are constant offsets).
 */
export const enum Field {
  COUNT = 0,
  SUM = 1,
  MIN = 2,
  MAX = 3,
  /** 0 while the window is open. */
  REVISION = 4,
  /** Last arrival in ms (open windows only, never stored). */
  LAST_ARRIVAL = 5,
  VMS = 6,
  EXPECTED = 7,
}

/** Numbers per minute: a VM's row, a cross-tenant row. */
export const enum Stride {
  VM = 6,
  CROSS = 8,
}

/** A window that has data and is closed (revision ≥ 1); open windows have revision 0. */
export const isClosed = (row: Float64Array, o: number): boolean => row[o] !== 0 && row[o + Field.REVISION] !== 0;

const isSingle = (row: Float64Array, o: number): boolean =>
  row[o] === 1 && row[o + Field.REVISION] === 1 && row[o + 1] === row[o + 2] && row[o + 1] === row[o + 3];

/** Sketches of a block's windows of three values or more, by sub-key, then by minute of the slot. */
export type BlockSketches = ReadonlyMap<string, readonly (DDSketch | undefined)[]>;

/** One minute of a stored block; `count` 0 for a minute that has only an expected count (see encodeBlock). */
export interface ParsedMinute {
  minute: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  revision: number;
  vms?: number;
  expected?: number;
  /** The sketch's bytes (sketchCodec.ts), for a window of three values or more. */
  sketch?: Uint8Array;
}

const PLAIN = 'b1:';
const FLEET = 'b2:';

/**
 * A block's data. `b1:` then base64 of: u16 number of sub-keys; per sub-key: u16 byte length and
 * the UTF-8 key, u16 mask of the minutes present, u16 mask of those that are a first revision of
 * a single metric (count 1, sum = min = max: per-VM windows nearly always), then per present
 * minute either its value (f64) or u32 count, f64 sum, min, max, u32 revision. About half the
 * size of the JSON form `{ sub: [[minute, count, sum, min, max, revision] or [minute, value]] }`,
 * which is still read.
 *
 * A block with more than that (cross-tenant windows' VM counts, sketches) is `b2:`: per sub-key
 * also a u16 mask of the present minutes with a sketch, one of those with u32 vms and u32
 * expected VMs after their aggregate, and one of the minutes that have no closed window but
 * VMs expected (an open window, or none yet: on Event Hubs the other partitions' readers add
 * this partition's expected VMs to their windows); a sketch follows its minute's numbers as u32
 * length and bytes, and the expected-only minutes' u32 counts end the sub-key.
 */
export function encodeBlock(series: ReadonlyMap<string, Float64Array>, fields: number, sketches?: BlockSketches): string {
  // Rows (a sub-key's minutes one after another) laid out as a block holds them: a row per minute.
  const columns = series.size;
  const minutes = Array.from({ length: MINUTES }, () => new Float64Array(columns * fields));
  let c = 0;
  for (const row of series.values()) {
    for (let i = 0; i < MINUTES; i++) minutes[i].set(row.subarray(i * fields, (i + 1) * fields), c * fields);
    c++;
  }
  return encodeColumns([...series.keys()], minutes, columns, fields, sketches);
}

/**
 * `encodeBlock` of a block as minuteBlocks.ts holds it, a row per minute: sub-key `subs[c]`'s window
 * of minute i starts at `c * fields` of `minutes[i]` (undefined: the minute has no window), for the
 * first `columns` sub-keys (later ones have no window in the block).
 */
export function encodeColumns(subs: readonly string[], minutes: readonly (Float64Array | undefined)[], columns: number, fields: number, sketches?: BlockSketches): string {
  const { size, extended } = encodeIntoScratch(subs, minutes, columns, fields, sketches);
  return (extended ? FLEET : PLAIN) + scratch.toString('base64', 0, size);
}

/** A block's data before it is text (see blockText): its bytes, and whether it is the extended form (`b2:`). */
export interface BlockBytes {
  readonly bytes: Buffer;
  readonly extended: boolean;
}

/** `encodeColumns` as bytes, outside V8's heap: text made from them later, a part at a time, dies young (see writeInOrder in WindowsFold.ts). */
export function encodeColumnsBytes(subs: readonly string[], minutes: readonly (Float64Array | undefined)[], columns: number, fields: number, sketches?: BlockSketches): BlockBytes {
  const { size, extended } = encodeIntoScratch(subs, minutes, columns, fields, sketches);
  return { bytes: Buffer.from(scratch.subarray(0, size)), extended };
}

/** The stored text of a block's bytes: what `encodeColumns` returns for the same block. */
export function blockText({ bytes, extended }: BlockBytes): string {
  return (extended ? FLEET : PLAIN) + bytes.toString('base64');
}

/** Encodes a block into `scratch` (see encodeBlock for the format): its first `size` bytes. */
function encodeIntoScratch(
  subs: readonly string[], minutes: readonly (Float64Array | undefined)[], columns: number, fields: number, sketches?: BlockSketches,
): { size: number; extended: boolean } {
  // Closed windows only, besides expected counts: open ones (revision 0) are rebuilt from the log after a restart.
  const rows: { key: Buffer; base: number; present: number; single: number; sketched: number; fleet: number; expectedOnly: number; bytes?: Buffer[] }[] = [];
  let size = 2;
  let extended = false;
  for (let j = 0; j < Math.min(subs.length, columns); j++) {
    const sub = subs[j];
    const base = j * fields;
    let present = 0, single = 0, sketched = 0, fleet = 0, expectedOnly = 0, bytes = 0;
    const sketchesOf = sketches?.get(sub);
    let encoded: Buffer[] | undefined;
    for (let i = 0; i < MINUTES; i++) {
      const data = minutes[i];
      if (data === undefined) continue;
      if (!isClosed(data, base)) {
        if (fields === Stride.CROSS && data[base + Field.EXPECTED] > 0) {
          expectedOnly |= 1 << i;
          bytes += 4;
        }
        continue;
      }
      present |= 1 << i;
      if (isSingle(data, base)) {
        single |= 1 << i;
        bytes += 8;
      } else bytes += 32;
      // A VM count of 0 is none known (a window folded before they were counted has at least one VM).
      if (fields === Stride.CROSS && data[base + Field.VMS] > 0) {
        fleet |= 1 << i;
        bytes += 8;
      }
      const sketch = data[base] >= 3 ? sketchesOf?.[i] : undefined;
      if (sketch) {
        sketched |= 1 << i;
        const b = sketchBytes(sketch);
        (encoded ??= []).push(b);
        bytes += 4 + b.length;
      }
    }
    if (present === 0 && expectedOnly === 0) continue;
    const key = keyBytes(sub);
    rows.push({ key, base, present, single, sketched, fleet, expectedOnly, bytes: encoded });
    size += 6 + key.length + bytes;
    if (sketched | fleet | expectedOnly) extended = true;
  }
  if (extended) size += 6 * rows.length;
  // Written into one buffer kept for every block (a rebuild encodes thousands a second), through a DataView.
  if (scratch.length < size) {
    scratch = Buffer.allocUnsafeSlow(Math.max(size, 2 * scratch.length));
    view = new DataView(scratch.buffer, scratch.byteOffset, scratch.length);
  }
  const out = scratch;
  const v = view;
  v.setUint16(0, short(rows.length), true);
  let at = 2;
  for (const { key, base, present, single, sketched, fleet, expectedOnly, bytes } of rows) {
    v.setUint16(at, short(key.length), true);
    out.set(key, at + 2);
    at += 2 + key.length;
    v.setUint16(at, present, true);
    v.setUint16(at + 2, single, true);
    at += 4;
    if (extended) {
      v.setUint16(at, sketched, true);
      v.setUint16(at + 2, fleet, true);
      v.setUint16(at + 4, expectedOnly, true);
      at += 6;
    }
    let nextSketch = 0;
    for (let i = 0; i < MINUTES; i++) {
      if (!(present & (1 << i))) continue;
      const data = minutes[i]!;
      if (single & (1 << i)) {
        v.setFloat64(at, data[base + 1], true);
        at += 8;
      } else {
        v.setUint32(at, whole(data[base]), true);
        v.setFloat64(at + 4, data[base + 1], true);
        v.setFloat64(at + 12, data[base + 2], true);
        v.setFloat64(at + 20, data[base + 3], true);
        v.setUint32(at + 28, whole(data[base + Field.REVISION]), true);
        at += 32;
      }
      if (fleet & (1 << i)) {
        v.setUint32(at, whole(data[base + Field.VMS]), true);
        v.setUint32(at + 4, whole(data[base + Field.EXPECTED]), true);
        at += 8;
      }
      if (sketched & (1 << i)) {
        const b = bytes![nextSketch++];
        v.setUint32(at, b.length, true);
        out.set(b, at + 4);
        at += 4 + b.length;
      }
    }
    for (let i = 0; i < MINUTES; i++) {
      if (!(expectedOnly & (1 << i))) continue;
      v.setUint32(at, whole(minutes[i]![base + Field.EXPECTED]), true);
      at += 4;
    }
  }
  return { size, extended };
}

let scratch = Buffer.allocUnsafeSlow(64 * 1024);
let view = new DataView(scratch.buffer, scratch.byteOffset, scratch.length);

/** A u32 field's number, refused out of range as Buffer's writeUInt32LE refused it (a DataView would wrap it). */
function whole(n: number): number {
  if (n > 0xffffffff || n < 0) throw new RangeError(`a block count out of range: ${n}`);
  return n;
}

/** A u16 length, refused beyond 65,535 as Buffer's writeUInt16LE refused it. */
function short(n: number): number {
  if (n > 0xffff) throw new RangeError(`a block length out of range: ${n}`);
  return n;
}

/** Sub-keys' UTF-8 bytes, kept: a VM block writes the same few counter keys again and again. */
const keyCache = new Map<string, Buffer>();
function keyBytes(sub: string): Buffer {
  let key = keyCache.get(sub);
  if (key === undefined) {
    // Counter keys are few; anything else (ids in sub-keys of another layout) must not grow it without bound.
    if (keyCache.size >= 4096) keyCache.clear();
    keyCache.set(sub, (key = Buffer.from(sub, 'utf8')));
  }
  return key;
}

/** Each sub-key's minutes, from any form (expected-only minutes have count 0). */
export function parseBlockData(data: string): Map<string, ParsedMinute[]> {
  const out = new Map<string, ParsedMinute[]>();
  if (!data.startsWith(PLAIN) && !data.startsWith(FLEET)) {
    for (const [sub, windows] of Object.entries(JSON.parse(data) as Record<string, number[][]>)) {
      out.set(sub, windows.map((w) => (w.length === 2
        ? { minute: w[0], count: 1, sum: w[1], min: w[1], max: w[1], revision: 1 }
        : { minute: w[0], count: w[1], sum: w[2], min: w[3], max: w[4], revision: w[5] })));
    }
    return out;
  }
  const extended = data.startsWith(FLEET);
  const b = Buffer.from(data.slice(PLAIN.length), 'base64');
  let at = 0;
  const subs = b.readUInt16LE(at);
  at += 2;
  for (let n = 0; n < subs; n++) {
    const length = b.readUInt16LE(at);
    const sub = b.toString('utf8', at + 2, at + 2 + length);
    at += 2 + length;
    const present = b.readUInt16LE(at);
    const single = b.readUInt16LE(at + 2);
    at += 4;
    let sketched = 0, fleet = 0, expectedOnly = 0;
    if (extended) {
      sketched = b.readUInt16LE(at);
      fleet = b.readUInt16LE(at + 2);
      expectedOnly = b.readUInt16LE(at + 4);
      at += 6;
    }
    const minutes: ParsedMinute[] = [];
    for (let i = 0; i < MINUTES; i++) {
      if (!(present & (1 << i))) continue;
      let m: ParsedMinute;
      if (single & (1 << i)) {
        const v = b.readDoubleLE(at);
        at += 8;
        m = { minute: i, count: 1, sum: v, min: v, max: v, revision: 1 };
      } else {
        m = { minute: i, count: b.readUInt32LE(at), sum: b.readDoubleLE(at + 4), min: b.readDoubleLE(at + 12), max: b.readDoubleLE(at + 20), revision: b.readUInt32LE(at + 28) };
        at += 32;
      }
      if (fleet & (1 << i)) {
        m.vms = b.readUInt32LE(at);
        m.expected = b.readUInt32LE(at + 4);
        at += 8;
      }
      if (sketched & (1 << i)) {
        const bytes = b.readUInt32LE(at);
        m.sketch = b.subarray(at + 4, at + 4 + bytes);
        at += 4 + bytes;
      }
      minutes.push(m);
    }
    for (let i = 0; i < MINUTES; i++) {
      if (!(expectedOnly & (1 << i))) continue;
      minutes.push({ minute: i, count: 0, sum: 0, min: 0, max: 0, revision: 0, expected: b.readUInt32LE(at) });
      at += 4;
    }
    out.set(sub, minutes.sort((x, y) => x.minute - y.minute));
  }
  return out;
}
