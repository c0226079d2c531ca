/** How far back a VM's report of a key makes it expected: the windows of the hour after it. */
export const EXPECTED_SECONDS = 3600;

/**
 * Which VMs reported one counter key in which minutes (a fold's recent ones): per VM, its minutes
 * as ascending runs of consecutive minutes, flat `[start, end, start, end, …]` (window starts,
 * both ends included). A SPOC VM reports every minute, so it holds one run, extended in place.
 *
 * A window W of the key has `vms` = the VMs with W among their minutes and `expectedVms` = the
 * VMs with a minute in [W − 3600, W): a VM is expected in the windows after each of its minutes,
 * up to an hour after. `add` says what a new minute changes: its own window gains a VM, and the
 * windows (coveredFrom, coveredTo] gain an expected one (those no other minute of the VM already
 * covered). The caller keeps the counts; `recount` makes them again from the runs alone.
 *
 * @example
 * const p = new KeyPresence();
 * p.add(vm, 600);    // true: [coveredFrom, coveredTo] = [600, 4200]: windows 660…4200 expect it
 * p.add(vm, 660);    // true: only window 4260 is new to it
 * p.add(vm, 660);    // false: known
 */
export class KeyPresence<Vm = object> {
  private readonly runs = new Map<Vm, number[]>();
  /** After `add` returned true: the windows after this start, up to and including coveredTo, newly expect the VM. */
  coveredFrom = 0;
  coveredTo = 0;

  get size(): number {
    return this.runs.size;
  }

  /** Notes that `vm` reported in the minute starting at `windowStart`; false when that was known. */
  add(vm: Vm, windowStart: number): boolean {
    let runs = this.runs.get(vm);
    if (runs === undefined) {
      this.runs.set(vm, [windowStart, windowStart]);
      return this.covered(-Infinity, windowStart, Infinity);
    }
    const last = runs.length - 1;
    const end = runs[last];
    // The common case: the minute after the VM's last one.
    if (windowStart === end + 60) {
      runs[last] = windowStart;
      return this.covered(end, windowStart, Infinity);
    }
    if (windowStart > end) {
      runs.push(windowStart, windowStart);
      return this.covered(end, windowStart, Infinity);
    }
    return this.insert(runs, windowStart);
  }

  /** A minute before the VM's last one: into its run, or a run of its own, joining neighbours. */
  private insert(runs: number[], m: number): boolean {
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
    return this.covered(previous, m, next);
  }

  /** A new minute m between the VM's minutes `previous` and `next`: (max(m, previous + 3600), min(m + 3600, next)]. */
  private covered(previous: number, m: number, next: number): true {
    this.coveredFrom = Math.max(m, previous + EXPECTED_SECONDS);
    this.coveredTo = Math.min(m + EXPECTED_SECONDS, next);
    return true;
  }

  /** Forgets the minutes before `before` (no window that can change needs them), and VMs left with none. */
  prune(before: number): void {
    for (const [vm, runs] of this.runs) {
      let drop = 0;
      while (drop < runs.length && runs[drop + 1] < before) drop += 2;
      if (drop === runs.length) this.runs.delete(vm);
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
    for (const runs of this.runs.values()) {
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
