/**
 * An independent reference for GET /v1/top (DESIGN §8), from the single values themselves; it shares
 * no code with projections/. A VM's values come minute by minute, each minute's in any order.
 */
export interface VmValues {
  tenant: string;
  vm: string;
  /** Each inner list one minute's values (a window); an empty one: no window that minute. */
  minutes: number[][];
}

export type ReferenceBy = 'avg' | 'max' | 'p95';

/**
 * The `n` VMs with the highest value: the metric-weighted mean (summed minute by minute, as the windows
 * are), the largest value, or the value at rank ⌊0.95·(n−1)⌋ of the values sorted ascending; highest
 * first, ties by tenant then VM; `count` the number of values.
 */
export function referenceTop(vms: readonly VmValues[], by: ReferenceBy, n: number): { tenant: string; vm: string; value: number; count: number }[] {
  const rows = vms.flatMap((v) => {
    const all = v.minutes.flat();
    if (all.length === 0) return [];
    let value: number;
    if (by === 'avg') {
      let total = 0;
      for (const values of v.minutes) total += values.reduce((a, b) => a + b, 0);
      value = total / all.length;
    } else if (by === 'max') value = Math.max(...all);
    else value = [...all].sort((a, b) => a - b)[Math.floor(0.95 * (all.length - 1))];
    return [{ tenant: v.tenant, vm: v.vm, value, count: all.length }];
  });
  rows.sort((a, b) => (b.value - a.value) || (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0) || (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0));
  return rows.slice(0, n);
}
