// What the fleet chart draws, worked out from its buckets (no DOM): one x per bucket of any line,
// each line's values, which points are provisional, and the data uPlot gets, where a provisional
// point is a gap (provisionalMarks.js draws it hollow, with dashed segments).

import { isProvisional, statusText } from './completeness.js';

/** The lines of the fleet chart, in uPlot's series order after x. */
export const FLEET_LINES = ['cross', 'vm', 'p95'];

/**
 * `buckets`: `{ cross, vm, p95 }`, each [{ timestamp, value, vms?, expectedVms?, final? }] ascending
 * (p95 null when it is not drawn). Returns `{ xs, values, provisional, texts, drawn, extent, at }`:
 * per line the value, provisional flag and completeness text at each x; `drawn` the uPlot data
 * `[xs, …one array per line]` with nulls at provisional points; `extent` the provisional values
 * (the y axis must reach them too); `at` per line a Map x → bucket.
 */
export function fleetView(buckets) {
  const xs = [...new Set(FLEET_LINES.flatMap((name) => (buckets[name] ?? []).map((b) => b.timestamp)))].sort((a, b) => a - b);
  const view = { xs, values: {}, provisional: {}, texts: {}, at: {}, drawn: [xs], extent: [] };
  for (const name of FLEET_LINES) {
    const at = new Map((buckets[name] ?? []).map((b) => [b.timestamp, b]));
    const values = xs.map((x) => at.get(x)?.value ?? null);
    const provisional = xs.map((x) => isProvisional(at.get(x)));
    view.at[name] = at;
    view.values[name] = values;
    view.provisional[name] = provisional;
    view.texts[name] = xs.map((x) => (at.has(x) ? statusText(at.get(x)) : ''));
    view.drawn.push(values.map((v, i) => (provisional[i] ? null : v)));
    view.extent.push(...values.filter((v, i) => provisional[i] && v !== null));
  }
  return view;
}

/**
 * What the completeness strip and its label say: how many buckets know their completeness, how
 * many of them are provisional, and the newest provisional one.
 */
export function stripSummary(cross) {
  const known = cross.filter((b) => typeof b.vms === 'number' || typeof b.final === 'boolean');
  const provisional = known.filter(isProvisional);
  return { known: known.length, provisional: provisional.length, newest: provisional.at(-1) };
}
