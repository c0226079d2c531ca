import type { BlockTable } from '../src/core/ports';
import type { Aggregate } from '../src/core/windowMath';
import { emptyAggregate, mergeAggregate } from '../src/core/mergeAggregate';
import { decodeBlock, slotStartOf, type MinuteWindow } from './minuteBlocks';

export type AggregationBy = 'avg' | 'min' | 'max';

export interface RangeQuery {
  /** Start of the newest window to include (epoch seconds, a minute boundary). */
  end: number;
  minutes: number;
  aggregationInterval: number;
  aggregationBy: AggregationBy;
}

export interface Bucket {
  timestamp: number;
  value: number;
  count: number;
  windows: number;
  low: number;
  high: number;
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
 * is the avg, min or max of its windows' averages; count sums metrics; low/high are the
 * extreme single values.
 */
export function bucketWindows(windows: readonly MinuteWindow[], aggregationInterval: number, aggregationBy: AggregationBy): Bucket[] {
  const width = aggregationInterval * 60;
  const buckets = new Map<number, { avgs: number[]; all: Aggregate }>();
  for (const w of windows) {
    const timestamp = Math.floor(w.windowStart / width) * width;
    let b = buckets.get(timestamp);
    if (!b) {
      b = { avgs: [], all: emptyAggregate() };
      buckets.set(timestamp, b);
    }
    b.avgs.push(w.sum / w.count);
    mergeAggregate(b.all, w);
  }
  return [...buckets.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([timestamp, { avgs, all }]) => ({ timestamp, value: combine(avgs, aggregationBy), count: all.count, windows: avgs.length, low: all.min, high: all.max }));
}

function combine(values: readonly number[], by: AggregationBy): number {
  if (by === 'min') return Math.min(...values);
  if (by === 'max') return Math.max(...values);
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}
