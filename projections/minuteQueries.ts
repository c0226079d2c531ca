import type { BlockTable } from '../src/core/ports';
import type { Aggregate } from '../src/core/windowMath';
import { emptyAggregate, mergeAggregate } from '../src/core/mergeAggregate';
import { decodeBlock, slotStartOf, type MinuteWindow } from './minuteBlocks';
import { BucketValues } from './BucketValues';

/** How a bucket's `value` is made: from its windows' averages (avg, min, max) or a quantile of its single values. */
export type AggregationBy = 'avg' | 'min' | 'max' | 'p50' | 'p90' | 'p95' | 'p99';
export const AGGREGATIONS: readonly AggregationBy[] = ['avg', 'min', 'max', 'p50', 'p90', 'p95', 'p99'];
const QUANTILE: Partial<Record<AggregationBy, number>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

export interface RangeQuery {
  /** Start of the newest window to include (epoch seconds, a minute boundary). */
  end: number;
  minutes: number;
  aggregationInterval: number;
  aggregationBy: AggregationBy;
}

export interface Bucket {
  timestamp: number;
  /** Null for a quantile of windows whose values are not known (folded before sketches were kept). */
  value: number | null;
  count: number;
  windows: number;
  low: number;
  high: number;
  /** With `fleet`: the largest `vms` and `expectedVms` of the bucket's windows (null when none of them has one). */
  vms?: number | null;
  expectedVms?: number | null;
}

/** The windows of one series (sub-key of a partition) whose start lies in [end - (minutes-1)*60, end]. */
export async function readWindows(table: BlockTable, partition: readonly string[], sub: string, end: number, minutes: number): Promise<MinuteWindow[]> {
  return readWindowsBetween(table, partition, sub, end - (minutes - 1) * 60, end);
}

/** The windows of one series whose start lies in [from, to] (`to` may be Infinity: all from `from` on), ascending. */
export async function readWindowsBetween(table: BlockTable, partition: readonly string[], sub: string, from: number, to: number): Promise<MinuteWindow[]> {
  const blocks = await table.readRange(partition, slotStartOf(from), Number.isFinite(to) ? slotStartOf(to) : Number.MAX_SAFE_INTEGER);
  const out: MinuteWindow[] = [];
  for (const block of blocks) {
    for (const w of decodeBlock(block).get(sub) ?? []) if (w.windowStart >= from && w.windowStart <= to) out.push(w);
  }
  return out.sort((a, b) => a.windowStart - b.windowStart);
}

/**
 * Groups windows into epoch-aligned buckets of `aggregationInterval` minutes. A bucket's value
 * is the avg, min or max of its windows' averages, or the p50…p99 of its single values (see
 * BucketValues); count sums metrics; low/high are the extreme single values. With `fleet`
 * (cross-tenant windows), each bucket also has the largest vms and expectedVms of its windows.
 */
export function bucketWindows(windows: readonly MinuteWindow[], aggregationInterval: number, aggregationBy: AggregationBy, { fleet = false } = {}): Bucket[] {
  const width = aggregationInterval * 60;
  const q = QUANTILE[aggregationBy];
  const buckets = new Map<number, { avgs: number[]; all: Aggregate; values?: BucketValues; vms: number | null; expectedVms: number | null }>();
  for (const w of windows) {
    const timestamp = Math.floor(w.windowStart / width) * width;
    let b = buckets.get(timestamp);
    if (!b) {
      b = { avgs: [], all: emptyAggregate(), values: q === undefined ? undefined : new BucketValues(), vms: null, expectedVms: null };
      buckets.set(timestamp, b);
    }
    b.avgs.push(w.sum / w.count);
    mergeAggregate(b.all, w);
    b.values?.add(w);
    if (w.vms !== undefined && (b.vms === null || w.vms > b.vms)) b.vms = w.vms;
    if (w.expectedVms !== undefined && (b.expectedVms === null || w.expectedVms > b.expectedVms)) b.expectedVms = w.expectedVms;
  }
  return [...buckets.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([timestamp, { avgs, all, values, vms, expectedVms }]) => {
      const bucket: Bucket = {
        timestamp, value: values ? values.quantile(q!) : combine(avgs, aggregationBy), count: all.count, windows: avgs.length, low: all.min, high: all.max,
      };
      if (fleet) Object.assign(bucket, { vms, expectedVms });
      return bucket;
    });
}

function combine(values: readonly number[], by: AggregationBy): number {
  if (by === 'min') return Math.min(...values);
  if (by === 'max') return Math.max(...values);
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}
