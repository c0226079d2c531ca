import { binsOf } from './BucketValues';
import { mergeSketchBytes, newSketch } from './sketchCodec';

/** What `GET /v1/top` ranks the VMs by. */
export type TopBy = 'avg' | 'max' | 'p95';
export const TOP_BY: readonly TopBy[] = ['avg', 'max', 'p95'];

/** One VM of the answer: its figure over the range and the number of metrics behind it. */
export interface TopVm {
  tenant: string;
  vm: string;
  value: number;
  count: number;
}

const P95 = 0.95;

/**
 * Every VM's figure over its minute windows of a range, VMs by a dense id (0, 1, 2, …), each VM's
 * windows fed in ascending order (the table path and the read cache both do, so their sums add up
 * in the same order, bit for bit; windows of different VMs may interleave).
 * - avg: the sum of its windows' sums over the sum of their counts (a metric-weighted mean);
 * - max: the largest single value;
 * - p95: the value at rank ⌊0.95·(n−1)⌋ of its n single values sorted ascending (the rank DDSketch
 *   reads), as get-tenant-data's p95 (BucketValues): a window of one value (what SPOC sends, one a
 *   VM, key and minute) or two holds them exactly (its min and max); one of more keeps a sketch,
 *   whose bins stand for its values (within 1%), the answer kept within the VM's min and max. Of a
 *   window of more without a sketch (folded before they were kept), min and max are exact and the
 *   others are taken at their mean, (sum − min − max) / (count − 2).
 * Figures live in typed arrays, so that ranking a fleet of thousands of VMs allocates next to nothing.
 *
 * @example
 * const f = new FleetFigures('avg');
 * f.add(0, 1, 40, 40, 40);
 * f.add(0, 2, 100, 45, 55);
 * f.value(0); // 140 / 3
 */
export class FleetFigures {
  private counts = new Float64Array(64);
  private sums = new Float64Array(64);
  private maxes = new Float64Array(64).fill(-Infinity);
  private mins = new Float64Array(64).fill(Infinity);
  /** p95: each VM's (value, how many) pairs, flat. */
  private values: number[][] = [];
  private size = 0;

  constructor(readonly by: TopBy) {}

  /** One window of a VM (`sketch`: its sketch's bytes, of a window of three values or more). */
  add(id: number, count: number, sum: number, min: number, max: number, sketch?: Uint8Array): void {
    if (id >= this.counts.length) this.grow(id);
    if (id >= this.size) this.size = id + 1;
    this.counts[id] += count;
    this.sums[id] += sum;
    if (max > this.maxes[id]) this.maxes[id] = max;
    if (min < this.mins[id]) this.mins[id] = min;
    if (this.by !== 'p95') return;
    const values = (this.values[id] ??= []);
    if (count === 1) values.push(sum, 1);
    else if (count === 2) values.push(min, 1, max, 1);
    else if (sketch) for (const v of binsOf(mergeSketchBytes(newSketch(), sketch))) values.push(v);
    else values.push(min, 1, max, 1, (sum - min - max) / (count - 2), count - 2);
  }

  /** Metrics of a VM (0 when none was added). */
  count(id: number): number {
    return id < this.size ? this.counts[id] : 0;
  }

  value(id: number): number {
    if (this.by === 'avg') return this.sums[id] / this.counts[id];
    if (this.by === 'max') return this.maxes[id];
    return Math.min(this.maxes[id], Math.max(this.mins[id], weightedQuantile(this.values[id] ?? [], P95)));
  }

  /**
   * The `n` VMs with the highest value, highest first; ties by tenant, then VM (UTF-16 order), so
   * that an answer never depends on how the VMs were numbered. Kept as a sorted run of at most `n`.
   */
  top(n: number, tenantOf: (id: number) => string, vmOf: (id: number) => string): TopVm[] {
    const best: TopVm[] = [];
    for (let id = 0; id < this.size; id++) {
      const count = this.counts[id];
      if (count === 0) continue;
      const value = this.value(id);
      if (best.length === n) {
        const last = best[n - 1];
        if (value < last.value) continue;
        if (value === last.value && !before(tenantOf(id), vmOf(id), last)) continue;
      }
      const candidate: TopVm = { tenant: tenantOf(id), vm: vmOf(id), value, count };
      let lo = 0;
      let hi = best.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const b = best[mid];
        if (b.value > value || (b.value === value && !before(candidate.tenant, candidate.vm, b))) lo = mid + 1;
        else hi = mid;
      }
      best.splice(lo, 0, candidate);
      if (best.length > n) best.pop();
    }
    return best;
  }

  private grow(id: number): void {
    const capacity = Math.max(id + 1, this.counts.length * 2);
    const widen = (a: Float64Array, fill: number) => {
      const b = new Float64Array(capacity).fill(fill);
      b.set(a);
      return b;
    };
    this.counts = widen(this.counts, 0);
    this.sums = widen(this.sums, 0);
    this.maxes = widen(this.maxes, -Infinity);
    this.mins = widen(this.mins, Infinity);
  }
}

/** Whether (tenant, vm) comes before `other` among VMs of the same value. */
function before(tenant: string, vm: string, other: TopVm): boolean {
  if (tenant !== other.tenant) return tenant < other.tenant;
  return vm < other.vm;
}

/** Room for the values of one VM being ranked (reused: a ranking is synchronous). */
let scratch = new Float64Array(256);

/** The value at rank ⌊q·(n−1)⌋ of the values of flat (value, weight) pairs, n the weights' sum. */
export function weightedQuantile(pairs: readonly number[], q: number): number {
  const k = pairs.length / 2;
  let n = 0;
  for (let i = 1; i < pairs.length; i += 2) n += pairs[i];
  if (n === 0) return NaN;
  const rank = Math.floor(q * (n - 1));
  if (n === k) {
    // One value a window (the common case): the values alone, sorted in place (insertion sort for the few dozen of a short range).
    if (k > scratch.length) scratch = new Float64Array(Math.max(k, scratch.length * 2));
    const values = scratch;
    if (k > 64) {
      for (let i = 0; i < k; i++) values[i] = pairs[2 * i];
      return values.subarray(0, k).sort()[rank];
    }
    for (let i = 0; i < k; i++) {
      const x = pairs[2 * i];
      let j = i - 1;
      while (j >= 0 && values[j] > x) {
        values[j + 1] = values[j];
        j--;
      }
      values[j + 1] = x;
    }
    return values[rank];
  }
  const order = Array.from({ length: k }, (_, i) => 2 * i).sort((a, b) => pairs[a] - pairs[b]);
  let seen = 0;
  for (const i of order) {
    seen += pairs[i + 1];
    if (seen > rank) return pairs[i];
  }
  return pairs[order[k - 1]];
}
