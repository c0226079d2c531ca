// Minute windows grouped the way the read API groups them (DESIGN §5, §8), so live windows can be
// merged in the page between reads: epoch-aligned buckets of `interval` minutes; a bucket's
// value is the avg, min or max of its windows' averages; count sums metrics; low/high are the
// extreme single values; vms, expectedVms and final as combineCompleteness says.

import { combineCompleteness, mergeCompleteness } from './completeness.js';

/**
 * windows: [{ windowStart, avg, count, min, max, vms?, expectedVms?, final? }] →
 * [{ timestamp, value, count, windows, low, high, vms?, expectedVms?, final? }] ascending.
 */
export function bucketize(windows, interval, by) {
  const width = interval * 60;
  const buckets = new Map();
  for (const w of windows) {
    const timestamp = Math.floor(w.windowStart / width) * width;
    let b = buckets.get(timestamp);
    if (!b) buckets.set(timestamp, (b = { avgs: [], count: 0, low: Infinity, high: -Infinity, windows: [] }));
    b.avgs.push(w.avg);
    b.count += w.count;
    b.low = Math.min(b.low, w.min);
    b.high = Math.max(b.high, w.max);
    b.windows.push(w);
  }
  return [...buckets.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([timestamp, b]) => ({ timestamp, value: combine(b.avgs, by), count: b.count, windows: b.avgs.length, low: b.low, high: b.high, ...combineCompleteness(b.windows) }));
}

function combine(values, by) {
  if (by === 'min') return Math.min(...values);
  if (by === 'max') return Math.max(...values);
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** A minute series keyed by window start; a revision replaces what it revises. */
export class MinuteSeries {
  constructor() {
    this.byStart = new Map();
  }

  /** From a read answer at aggregationInterval=1: each bucket is one window. */
  static fromBuckets(data) {
    const s = new MinuteSeries();
    for (const b of data) {
      s.byStart.set(b.timestamp, { windowStart: b.timestamp, avg: b.value, count: b.count, min: b.low, max: b.high, revision: 0, ...mergeCompleteness(undefined, b) });
    }
    return s;
  }

  /**
   * Merges a window event; returns false when its values are older than what is held. Its
   * completeness counts either way (it only grows, whichever sighting came first).
   */
  merge(w) {
    const held = this.byStart.get(w.windowStart);
    const completeness = mergeCompleteness(held, w);
    if (held && held.revision > w.revision) {
      this.byStart.set(w.windowStart, { ...held, ...completeness });
      return false;
    }
    this.byStart.set(w.windowStart, { windowStart: w.windowStart, avg: w.avg, count: w.count, min: w.min, max: w.max, revision: w.revision, ...completeness });
    return true;
  }

  newest() {
    let newest = -Infinity;
    for (const t of this.byStart.keys()) if (t > newest) newest = t;
    return Number.isFinite(newest) ? newest : undefined;
  }

  /** Windows whose start lies in [end - (minutes-1)*60, end], ascending. */
  range(end, minutes) {
    const from = end - (minutes - 1) * 60;
    return [...this.byStart.values()].filter((w) => w.windowStart >= from && w.windowStart <= end).sort((a, b) => a.windowStart - b.windowStart);
  }
}
