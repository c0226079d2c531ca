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
 * One VM's figure over its minute windows of a range, fed in ascending window order (the table
 * path and the read cache both do, so their sums add up in the same order, bit for bit).
 * - avg: the sum of its windows' sums over the sum of their counts (a metric-weighted mean);
 * - max: the largest single value;
 * - p95: the value at rank ⌊0.95·(n−1)⌋ of its n single values sorted ascending (the rank DDSketch
 *   reads). A window holds count, sum, min and max, not its values: when it holds one value (what
 *   SPOC sends, one a VM, key and minute) or two (its min and max) they are exact; of a window with
 *   more, min and max are exact and the others are taken at their mean, (sum − min − max) / (count − 2).
 *
 * @example
 * const f = new VmFigure('t1', 'vm1', 'avg');
 * f.add(1, 40, 40, 40);
 * f.add(2, 100, 45, 55);
 * f.value; // 140 / 3
 */
export class VmFigure {
  count = 0;
  private sum = 0;
  private max = -Infinity;
  /** p95 only: (value, how many) pairs, flat. */
  private readonly values?: number[];

  constructor(readonly tenant: string, readonly vm: string, readonly by: TopBy) {
    if (by === 'p95') this.values = [];
  }

  add(count: number, sum: number, min: number, max: number): void {
    this.count += count;
    this.sum += sum;
    if (max > this.max) this.max = max;
    const values = this.values;
    if (!values) return;
    if (count === 1) values.push(sum, 1);
    else {
      values.push(min, 1, max, 1);
      if (count > 2) values.push((sum - min - max) / (count - 2), count - 2);
    }
  }

  get value(): number {
    if (this.by === 'avg') return this.sum / this.count;
    if (this.by === 'max') return this.max;
    return weightedQuantile(this.values!, P95);
  }
}

/** The value at rank ⌊q·(n−1)⌋ of the values of flat (value, weight) pairs, n the weights' sum. */
export function weightedQuantile(pairs: readonly number[], q: number): number {
  const order: number[] = [];
  let n = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    order.push(i);
    n += pairs[i + 1];
  }
  if (n === 0) return NaN;
  order.sort((a, b) => pairs[a] - pairs[b]);
  const rank = Math.floor(q * (n - 1));
  let seen = 0;
  for (const i of order) {
    seen += pairs[i + 1];
    if (seen > rank) return pairs[i];
  }
  return pairs[order[order.length - 1]];
}

/** Highest value first; ties by tenant, then VM (UTF-16 order), so that an answer never depends on how it was read. */
function before(a: TopVm, b: TopVm): boolean {
  if (a.value !== b.value) return a.value > b.value;
  if (a.tenant !== b.tenant) return a.tenant < b.tenant;
  return a.vm < b.vm;
}

/**
 * The `n` VMs with the highest figure, highest first. Kept as a sorted run of at most `n`, so a
 * fleet of thousands of VMs is not sorted whole for the ten asked for.
 */
export function topVms(figures: Iterable<VmFigure>, n: number): TopVm[] {
  const best: TopVm[] = [];
  for (const f of figures) {
    if (f.count === 0) continue;
    const candidate: TopVm = { tenant: f.tenant, vm: f.vm, value: f.value, count: f.count };
    if (best.length === n && !before(candidate, best[n - 1])) continue;
    let lo = 0;
    let hi = best.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(best[mid], candidate)) lo = mid + 1;
      else hi = mid;
    }
    best.splice(lo, 0, candidate);
    if (best.length > n) best.pop();
  }
  return best;
}
