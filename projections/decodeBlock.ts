import type { DDSketch } from '@datadog/sketches-js';
import type { StoredBlock } from '../src/core/ports';
import { Field, MINUTES, Stride, encodeBlock, parseBlockData, type ParsedMinute } from './blockCodec';
import { mergeSketchBytes, newSketch } from './sketchCodec';

/** One window as the read side sees it. */
export interface MinuteWindow {
  windowStart: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  revision: number;
  /** Cross-tenant windows: distinct VMs in the window, and VMs expected in it (absent when not known: folded before they were counted). */
  vms?: number;
  expectedVms?: number;
  /** Of a window of three values or more: its sketch's bytes (sketchCodec.ts); absent from one of two or fewer (its min and max are its values). */
  sketch?: Uint8Array;
}

/**
 * Decodes a stored block into its windows per sub-key (the key on per-VM blocks, '' on
 * cross-tenant ones), ascending. With `expectedOnly`, also the minutes that have no window but
 * VMs expected (count 0, `expectedVms` only): what merging the shares of several scopes needs.
 */
export function decodeBlock(stored: StoredBlock, { expectedOnly = false } = {}): Map<string, MinuteWindow[]> {
  const out = new Map<string, MinuteWindow[]>();
  for (const [sub, minutes] of parseBlockData(stored.data)) {
    const windows: MinuteWindow[] = [];
    for (const m of minutes) if (m.count > 0 || expectedOnly) windows.push(windowOf(stored.row, m));
    if (windows.length > 0) out.set(sub, windows);
  }
  return out;
}

function windowOf(slot: number, m: ParsedMinute): MinuteWindow {
  const w: MinuteWindow = { windowStart: slot + m.minute * 60, count: m.count, sum: m.sum, min: m.min, max: m.max, revision: m.revision };
  if (m.vms !== undefined) w.vms = m.vms;
  if (m.expected !== undefined) w.expectedVms = m.expected;
  if (m.sketch !== undefined) w.sketch = m.sketch;
  return w;
}

/** One window being merged from the shares of several scopes. */
interface Whole {
  count: number;
  sum: number;
  min: number;
  max: number;
  revision: number;
  /** Undefined once a share with data has none. */
  vms: number | undefined;
  expected: number;
  /** Values of shares of one or two values, and the merged sketch of larger ones (null once one has none). */
  values: number[];
  sketch: DDSketch | null | undefined;
}

/**
 * One block from the partial blocks of several scopes (the log partitions that each folded a
 * share of the same windows): counts and sums add up, min and max combine, the revision is the
 * sum of the partial revisions (so it grows whenever any part is revised), VM counts add (a
 * tenant lives in one partition, so the shares' VMs are disjoint; a partition's expected VMs
 * count even where it has no window yet) and sketches merge.
 */
export function mergeBlocks(parts: readonly StoredBlock[]): StoredBlock {
  if (parts.length === 1) return parts[0];
  const merged = new Map<string, Map<number, Whole>>();
  for (const part of parts) {
    for (const [sub, minutes] of parseBlockData(part.data)) {
      let wholes = merged.get(sub);
      if (!wholes) merged.set(sub, (wholes = new Map()));
      for (const m of minutes) {
        let whole = wholes.get(m.minute);
        if (!whole) {
          wholes.set(m.minute, (whole = { count: 0, sum: 0, min: Infinity, max: -Infinity, revision: 0, vms: 0, expected: 0, values: [], sketch: undefined }));
        }
        addShare(whole, m);
      }
    }
  }
  const series = new Map<string, Float64Array>();
  const sketches = new Map<string, (DDSketch | undefined)[]>();
  for (const [sub, wholes] of merged) {
    const row = new Float64Array(MINUTES * Stride.CROSS);
    const sketched: (DDSketch | undefined)[] = [];
    for (const [minute, w] of wholes) {
      const o = minute * Stride.CROSS;
      row[o + Field.EXPECTED] = w.expected;
      if (w.count === 0) continue;
      row[o] = w.count;
      row[o + Field.SUM] = w.sum;
      row[o + Field.MIN] = w.min;
      row[o + Field.MAX] = w.max;
      row[o + Field.REVISION] = w.revision;
      row[o + Field.VMS] = w.vms ?? 0;
      if (w.count >= 3 && w.sketch !== null) {
        const sketch = w.sketch ?? newSketch();
        for (const v of w.values) sketch.accept(v);
        sketched[minute] = sketch;
      }
    }
    series.set(sub, row);
    sketches.set(sub, sketched);
  }
  return { partition: parts[0].partition, row: parts[0].row, data: encodeBlock(series, Stride.CROSS, sketches), appliedThrough: Math.min(...parts.map((p) => p.appliedThrough)) };
}

function addShare(whole: Whole, m: ParsedMinute): void {
  whole.expected += m.expected ?? 0;
  if (m.count === 0) return; // expected VMs only
  whole.count += m.count;
  whole.sum += m.sum;
  if (m.min < whole.min) whole.min = m.min;
  if (m.max > whole.max) whole.max = m.max;
  whole.revision += m.revision;
  whole.vms = whole.vms === undefined || m.vms === undefined ? undefined : whole.vms + m.vms;
  if (m.count === 1) whole.values.push(m.sum);
  else if (m.count === 2) whole.values.push(m.min, m.max);
  else if (m.sketch === undefined) whole.sketch = null;
  else if (whole.sketch !== null) whole.sketch = mergeSketchBytes(whole.sketch ?? newSketch(), m.sketch);
}
