import type { DDSketch } from '@datadog/sketches-js';
import { mergeSketchBytes, newSketch } from './sketchCodec';

/** A window as a quantile needs it: its values are its min and max when it holds two or fewer, else its sketch's. */
export interface WindowValues {
  count: number;
  sum: number;
  min: number;
  max: number;
  /** The sketch's bytes (sketchCodec.ts) of a window of three values or more. */
  sketch?: Uint8Array;
}

/**
 * The single values of a bucket's windows, for its quantiles: exact values of the windows that
 * hold one or two (a VM's, nearly always), merged with the DDSketches of the larger ones
 * (cross-tenant windows, or shares of several partitions). A quantile q is the value at rank
 * ⌊q·(n−1)⌋ of the n values sorted ascending (the rank DDSketch reads), where a value from a
 * sketch stands for its bin: within 1% of it (DDSketch's relative accuracy), kept within the
 * bucket's smallest and largest value. Exact when no window needed a sketch.
 *
 * @example
 * const b = new BucketValues();
 * b.add({ count: 1, sum: 40, min: 40, max: 40 });
 * b.add({ count: 2, sum: 150, min: 50, max: 100 });
 * b.quantile(0.5); // 50, the value at rank ⌊0.5·2⌋ = 1 of 40, 50, 100
 */
export class BucketValues {
  count = 0;
  min = Infinity;
  max = -Infinity;
  private readonly values: number[] = [];
  private sketch?: DDSketch;
  /** A window of three values or more without a sketch (folded before they were kept): no quantile. */
  private unknown = false;

  add(w: WindowValues): void {
    this.count += w.count;
    if (w.min < this.min) this.min = w.min;
    if (w.max > this.max) this.max = w.max;
    if (w.count === 1) this.values.push(w.sum);
    else if (w.count === 2) this.values.push(w.min, w.max);
    else if (w.sketch) mergeSketchBytes((this.sketch ??= newSketch()), w.sketch);
    else this.unknown = true;
  }

  /** The value at rank ⌊q·(n−1)⌋ (see above); null for no values, or when a window's are not known. */
  quantile(q: number): number | null {
    if (this.count === 0 || this.unknown) return null;
    const rank = Math.floor(q * (this.count - 1));
    const exact = Float64Array.from(this.values).sort();
    if (!this.sketch) return exact[rank];
    const bins = binsOf(this.sketch);
    // Walk both ascending, the exact values and the bins (value, weight), to the rank.
    let found = this.max;
    for (let e = 0, b = 0, seen = 0; e < exact.length || b < bins.length;) {
      if (e < exact.length && (b >= bins.length || exact[e] <= bins[b])) {
        if (seen++ === rank) {
          found = exact[e];
          break;
        }
        e++;
      } else {
        seen += bins[b + 1];
        if (seen > rank) {
          found = bins[b];
          break;
        }
        b += 2;
      }
    }
    return Math.min(this.max, Math.max(this.min, found));
  }
}

/** A sketch's non-empty bins as flat (value, weight) pairs, ascending: negative ones from the largest key down, zeros, positive ones up. */
export function binsOf(sketch: DDSketch): number[] {
  const out: number[] = [];
  const { negativeStore: negative, store: positive, mapping } = sketch;
  for (let b = negative.bins.length - 1; b >= 0; b--) if (negative.bins[b] > 0) out.push(-mapping.value(b + negative.offset), negative.bins[b]);
  if (sketch.zeroCount > 0) out.push(0, sketch.zeroCount);
  for (let b = 0; b < positive.bins.length; b++) if (positive.bins[b] > 0) out.push(mapping.value(b + positive.offset), positive.bins[b]);
  return out;
}
