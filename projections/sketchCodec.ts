import { LogCollapsingLowestDenseDDSketch, type DDSketch } from '@datadog/sketches-js';

/** The sketches' relative accuracy: a quantile is within 1% of a value of the window (DESIGN §7). */
export const SKETCH_ACCURACY = 0.01;

/** The store of one sign of a DDSketch, as far as the codec needs it (public fields of @datadog/sketches-js). */
type Store = DDSketch['store'];

const FORMAT = 1;

/**
 * A DDSketch as a table field, compactly: DDSketch's own `toProto` writes its dense bins whole, in
 * chunks of 128 doubles (1 KB for a single value, 2 KB for a hundred), so the non-empty bins are
 * written instead, as base64 of varints: the format, the zero count, then per sign the number of
 * bins and each bin's key (zigzag delta from the previous) and count. A window of a hundred CPU
 * percentages takes some 300 characters. Counts are whole (every value is accepted with weight 1).
 */
export function encodeSketch(sketch: DDSketch): string {
  return sketchBytes(sketch).toString('base64');
}

/** The bytes `encodeSketch` writes in base64 (a minute block keeps them as they are). */
export function sketchBytes(sketch: DDSketch): Buffer {
  const out: number[] = [FORMAT];
  writeVarint(out, sketch.zeroCount);
  writeStore(out, sketch.store);
  writeStore(out, sketch.negativeStore);
  return Buffer.from(out);
}

/**
 * Bins a sketch keeps per sign: at 1% they span 17.8 decades (γ^2048 ≈ 6·10^17) below the largest
 * magnitude, where the quantiles stay within 1%; smaller magnitudes are counted in the lowest bin
 * (they then read as that bin's magnitude: the high quantiles, which ops people ask for, stay right).
 * A plain DDSketch keeps every bin between a window's smallest and largest value: a sender's 1e-300
 * beside 1e300 made it 69,000 bins (550 KB) while the window was held.
 */
export const SKETCH_BINS = 2048;

/** An empty sketch with SKETCH_ACCURACY and at most SKETCH_BINS bins a sign, so that it merges with every other one. */
export function newSketch(): DDSketch {
  return new LogCollapsingLowestDenseDDSketch({ relativeAccuracy: SKETCH_ACCURACY, binLimit: SKETCH_BINS });
}

/**
 * The sketch `encodeSketch` wrote, made with SKETCH_ACCURACY so that it merges with every other
 * one. Its `min`, `max` and `sum` are not kept (the window's row has them): give them when wanted.
 */
export function decodeSketch(text: string, summary?: { min: number; max: number; sum: number }): DDSketch {
  const sketch = mergeSketchBytes(newSketch(), Buffer.from(text, 'base64'));
  if (summary) Object.assign(sketch, summary);
  return sketch;
}

/**
 * Adds the sketch that `sketchBytes` wrote into `into` (which it returns), bin by bin: merging
 * many stored sketches makes no sketch of each. Its `min`, `max` and `sum` are left as they were.
 */
export function mergeSketchBytes(into: DDSketch, bytes: Uint8Array): DDSketch {
  const at = { i: 0 };
  if (bytes[at.i++] !== FORMAT) throw new Error(`a sketch of an unknown format (${bytes[0]})`);
  into.zeroCount += readVarint(bytes, at);
  readStore(bytes, at, into.store);
  readStore(bytes, at, into.negativeStore);
  into.count = into.zeroCount + into.store.count + into.negativeStore.count;
  return into;
}

/** A copy that merges like the original (a sketch handed on must not change with the window). */
export function copySketch(sketch: DDSketch): DDSketch {
  const copy = newSketch();
  copy.merge(sketch);
  return copy;
}

/** The non-empty bins, counted first and then written, with no pair made per bin (a seal writes hundreds of sketches). */
function writeStore(out: number[], store: Store): void {
  const { bins, offset } = store;
  let n = 0;
  for (let i = 0; i < bins.length; i++) if (bins[i] > 0) n++;
  writeVarint(out, n);
  let previous = 0;
  for (let i = 0; i < bins.length; i++) {
    const count = bins[i];
    if (!(count > 0)) continue;
    const key = i + offset;
    writeVarint(out, zigzag(key - previous));
    writeVarint(out, count);
    previous = key;
  }
}

function readStore(bytes: Uint8Array, at: { i: number }, store: Store): void {
  const n = readVarint(bytes, at);
  let key = 0;
  for (let j = 0; j < n; j++) {
    key += unzigzag(readVarint(bytes, at));
    store.add(key, readVarint(bytes, at));
  }
}

const zigzag = (n: number): number => (n < 0 ? -2 * n - 1 : 2 * n);
const unzigzag = (n: number): number => (n % 2 === 1 ? -(n + 1) / 2 : n / 2);

/** Unsigned LEB128 of a whole number up to 2^53, by arithmetic (bit operators stop at 2^31). */
function writeVarint(out: number[], n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`a sketch count or key out of range: ${n}`);
  while (n >= 0x80) {
    out.push((n % 0x80) + 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

function readVarint(bytes: Uint8Array, at: { i: number }): number {
  let n = 0;
  let scale = 1;
  for (;;) {
    if (at.i >= bytes.length) throw new Error('a sketch cut short');
    const b = bytes[at.i++];
    n += (b & 0x7f) * scale;
    if (b < 0x80) return n;
    scale *= 0x80;
  }
}
