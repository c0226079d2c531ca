import { createHash } from 'node:crypto';
import type { Row } from '../src/core/ports';
import { mergeAggregate } from '../src/core/mergeAggregate';
import { WINDOW_SECONDS, type WindowName } from '../src/core/projectionDefinition';
import type { WindowState } from './declaredWindows';
import { copySketch, decodeSketch, encodeSketch } from './sketchCodec';

/**
 * How a declared projection's windows are stored: one row per window and group. Rows of 100
 * consecutive windows share a storage partition (Azurite scans a partition on every upsert, so
 * partitions stay small), and sort by window start, then by a digest of the group (a group of
 * long ids would not fit a row key). The VM set is kept as 64-bit pair hashes, so that a revision
 * after a restart still counts distinct pairs exactly; the sketch compactly (sketchCodec.ts).
 */
const WINDOWS_PER_PARTITION = 100;
/** A string property holds at most 32K UTF-16 characters: longer VM sets are split over vms, vms1, vms2… */
const MAX_FIELD_CHARS = 30_000;

const pad = (windowStart: number): string => String(windowStart).padStart(12, '0');

export function partitionOf(window: WindowName, windowStart: number): string {
  return String(Math.floor(windowStart / (WINDOW_SECONDS[window] * WINDOWS_PER_PARTITION)));
}

/** A group's part of a row key: a digest of its values (stable across versions and processes). */
export function groupDigest(group: readonly (string | null)[]): string {
  return createHash('sha256').update(JSON.stringify(group)).digest('hex').slice(0, 24);
}

/** The storage partitions and row range holding windows that start in [from, to]. */
export function rangeOf(window: WindowName, from: number, to: number): { partitions: string[]; fromRow: string; toRow: string } {
  const first = Number(partitionOf(window, from));
  const last = Number(partitionOf(window, to));
  const partitions: string[] = [];
  for (let p = first; p <= last; p++) partitions.push(String(p));
  return { partitions, fromRow: `${pad(from)}|`, toRow: `${pad(to)}|~` };
}

export function windowRow(window: WindowName, w: WindowState): Row {
  const fields: Record<string, string | number> = {
    windowStart: w.windowStart, group: JSON.stringify(w.group), count: w.count, sum: w.sum,
    min: w.min, max: w.max, revision: w.revision, appliedThrough: w.appliedThrough,
  };
  if (w.sketch) fields.sketch = encodeSketch(w.sketch);
  if (w.vms) {
    fields.vmCount = w.vms.size;
    const packed = Buffer.from([...w.vms].join(''), 'hex').toString('base64');
    for (let i = 0, part = 0; i < packed.length || part === 0; i += MAX_FIELD_CHARS, part++) {
      fields[part === 0 ? 'vms' : `vms${part}`] = packed.slice(i, i + MAX_FIELD_CHARS);
    }
  }
  return { partition: [partitionOf(window, w.windowStart)], row: `${pad(w.windowStart)}|${groupDigest(w.group)}`, fields };
}

export function windowOfRow(row: Row): WindowState {
  const f = row.fields;
  const w: WindowState = {
    windowStart: Number(f.windowStart), group: JSON.parse(String(f.group)) as (string | null)[],
    count: Number(f.count), sum: Number(f.sum), min: Number(f.min), max: Number(f.max),
    revision: Number(f.revision), appliedThrough: Number(f.appliedThrough),
  };
  if (typeof f.sketch === 'string') w.sketch = decodeSketch(f.sketch, w);
  if (typeof f.vms === 'string') {
    let packed = f.vms;
    for (let part = 1; typeof f[`vms${part}`] === 'string'; part++) packed += f[`vms${part}`] as string;
    const hex = Buffer.from(packed, 'base64').toString('hex');
    w.vms = new Set(hex.match(/.{16}/g) ?? []);
  }
  return w;
}

/**
 * One window's shares from several log partitions (Event Hubs scopes) merged: counts and sums
 * add, min and max combine, sketches merge, and VM sets are disjoint (a tenant lives in one
 * partition), so their sizes add.
 */
export function mergeShares(shares: readonly WindowState[]): WindowState & { vmCount?: number } {
  if (shares.length === 1) return shares[0];
  const [first, ...rest] = shares;
  const merged: WindowState & { vmCount?: number } = { ...first, sketch: first.sketch && copySketch(first.sketch), vmCount: first.vms?.size };
  for (const s of rest) {
    mergeAggregate(merged, s);
    merged.revision = Math.max(merged.revision, s.revision);
    if (merged.sketch && s.sketch) merged.sketch.merge(s.sketch);
    if (merged.vmCount !== undefined && s.vms) merged.vmCount += s.vms.size;
  }
  return merged;
}
