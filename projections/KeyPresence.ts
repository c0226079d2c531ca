/** How far back a VM's report of a key makes it expected: the windows of the hour after it. */
export const EXPECTED_SECONDS = 3600;

/**
 * Which VMs reported one counter key in which minutes (a fold's recent ones): per VM (by a dense
 * id), its minutes as ascending runs of consecutive minutes (window starts, both ends included).
 * A SPOC VM reports every minute, so it has one run, extended in place: the last run of every VM
 * lives in two typed arrays (a metric's lookup touches no object of its own), earlier runs (after
 * a gap) in a flat `[start, end, …]` list.
 *
 * A window W of the key has `vms` = the VMs with W among their minutes and `expectedVms` = the
 * VMs with a minute in [W − 3600, W): a VM is expected in the windows after each of its minutes,
 * up to an hour after. `add` says what a new minute changes: its own window gains a VM, and the
 * windows (coveredFrom, coveredTo] gain an expected one (those no other minute of the VM already
 * covered). The caller keeps the counts; `recount` makes them again from the runs alone.
 *
 * @example
 * const p = new KeyPresence();
 * p.add(7, 600);    // VM 7: true, [coveredFrom, coveredTo] = [600, 4200]: windows 660…4200 expect it
 * p.add(7, 660);    // true: only window 4260 is new to it
 * p.add(7, 660);    // false: known
 */
export class KeyPresence {
  /** By VM id: its last run (NaN: the VM has no minute held). */
  private starts = new Float64Array(0);
  private ends = new Float64Array(0);
  /** By VM id: its runs before the last one, flat, ascending. */
  private readonly earlier: (number[] | undefined)[] = [];
  private count = 0;
  /** After `add` returned true: the windows after this start, up to and including coveredTo, newly expect the VM. */
  coveredFrom = 0;
  coveredTo = 0;

  /** VMs with a minute held. */
  get size(): number {
    return this.count;
  }

  /** Notes that VM `vm` (its dense id) reported in the minute starting at `windowStart`; false when that was known. */
  add(vm: number, windowStart: number): boolean {
    if (vm >= this.ends.length) this.grow(vm);
    const end = this.ends[vm];
    // The common case: the minute after the VM's last one.
    if (windowStart === end + 60) {
      this.ends[vm] = windowStart;
      return this.covered(end, windowStart, Infinity);
    }
    if (Number.isNaN(end)) {
      this.starts[vm] = windowStart;
      this.ends[vm] = windowStart;
      this.count++;
      return this.covered(-Infinity, windowStart, Infinity);
    }
    if (windowStart > end) {
      (this.earlier[vm] ??= []).push(this.starts[vm], end);
      this.starts[vm] = windowStart;
      this.ends[vm] = windowStart;
      return this.covered(end, windowStart, Infinity);
    }
    if (windowStart >= this.starts[vm]) return false;
    return this.insert(vm, windowStart);
  }

  /** A minute before the VM's last run: into a run, or a run of its own, joining neighbours. */
  private insert(vm: number, m: number): boolean {
    const runs = [...(this.earlier[vm] ?? []), this.starts[vm], this.ends[vm]];
    let i = runs.length - 2;
    while (i >= 0 && runs[i] > m) i -= 2;
    // runs[i] ≤ m < runs[i + 2] (i = -2: before every run).
    if (i >= 0 && m <= runs[i + 1]) return false;
    const previous = i >= 0 ? runs[i + 1] : -Infinity;
    const next = runs[i + 2];
    const joinsPrevious = m === previous + 60;
    const joinsNext = m === next - 60;
    if (joinsPrevious && joinsNext) runs.splice(i + 1, 2);
    else if (joinsPrevious) runs[i + 1] = m;
    else if (joinsNext) runs[i + 2] = m;
    else runs.splice(i + 2, 0, m, m);
    this.ends[vm] = runs.pop()!;
    this.starts[vm] = runs.pop()!;
    this.earlier[vm] = runs.length > 0 ? runs : undefined;
    return this.covered(previous, m, next);
  }

  /** A new minute m between the VM's minutes `previous` and `next`: (max(m, previous + 3600), min(m + 3600, next)]. */
  private covered(previous: number, m: number, next: number): true {
    this.coveredFrom = Math.max(m, previous + EXPECTED_SECONDS);
    this.coveredTo = Math.min(m + EXPECTED_SECONDS, next);
    return true;
  }

  private grow(vm: number): void {
    const capacity = Math.max(vm + 1, this.ends.length * 2, 64);
    const widen = (a: Float64Array) => {
      const b = new Float64Array(capacity).fill(NaN);
      b.set(a);
      return b;
    };
    this.starts = widen(this.starts);
    this.ends = widen(this.ends);
  }

  /** Forgets the minutes before `before` (no window that can still change needs them), and VMs left with none. */
  prune(before: number): void {
    for (let vm = 0; vm < this.ends.length; vm++) {
      if (Number.isNaN(this.ends[vm])) continue;
      if (this.ends[vm] < before) {
        this.starts[vm] = NaN;
        this.ends[vm] = NaN;
        this.earlier[vm] = undefined;
        this.count--;
        continue;
      }
      const runs = this.earlier[vm];
      if (runs === undefined) continue;
      let drop = 0;
      while (drop < runs.length && runs[drop + 1] < before) drop += 2;
      if (drop === runs.length) this.earlier[vm] = undefined;
      else if (drop > 0) runs.splice(0, drop);
    }
  }

  /**
   * The VM counts of every window from `from` on, made from the runs alone: `visit(windowStart,
   * vms, expected)` for each window with either above 0, ascending.
   */
  recount(from: number, visit: (windowStart: number, vms: number, expected: number) => void): void {
    // +1 where a count starts, -1 after it ends, by window start.
    const vms = new Map<number, number>();
    const expected = new Map<number, number>();
    const add = (deltas: Map<number, number>, first: number, last: number): void => {
      if (last < from) return;
      const start = Math.max(first, from);
      deltas.set(start, (deltas.get(start) ?? 0) + 1);
      deltas.set(last + 60, (deltas.get(last + 60) ?? 0) - 1);
    };
    for (let vm = 0; vm < this.ends.length; vm++) {
      if (Number.isNaN(this.ends[vm])) continue;
      const runs = [...(this.earlier[vm] ?? []), this.starts[vm], this.ends[vm]];
      let coverFrom = NaN;
      let coverTo = NaN;
      for (let i = 0; i < runs.length; i += 2) {
        add(vms, runs[i], runs[i + 1]);
        // Expected in (start, end + 3600]; a run's cover joins the previous one's when they meet.
        const first = runs[i] + 60;
        const last = runs[i + 1] + EXPECTED_SECONDS;
        if (first <= coverTo + 60) coverTo = Math.max(coverTo, last);
        else {
          if (!Number.isNaN(coverFrom)) add(expected, coverFrom, coverTo);
          coverFrom = first;
          coverTo = last;
        }
      }
      if (!Number.isNaN(coverFrom)) add(expected, coverFrom, coverTo);
    }
    const starts = [...new Set([...vms.keys(), ...expected.keys()])].sort((a, b) => a - b);
    let v = 0;
    let e = 0;
    for (let k = 0; k < starts.length; k++) {
      const w = starts[k];
      v += vms.get(w) ?? 0;
      e += expected.get(w) ?? 0;
      const until = k + 1 < starts.length ? starts[k + 1] : w;
      if (v > 0 || e > 0) for (let x = w; x < until; x += 60) visit(x, v, e);
    }
  }
}
