/**
 * Builders and an independent batch reference for the metric and window tests. The reference
 * follows DESIGN.md §2 literally (group by UTC minute, count/sum/min/max) and shares no code
 * with streams/ or projections/, so a test comparing against it can catch the folder's mistakes.
 */
import type { Metric } from '../../src/core/metric';
import type { LateMetric, WindowEvent } from '../../src/core/windowMath';
import type { WindowFolder } from '../../projections/WindowFolder';

/** Realistic ids: SPOC's masked ids are base64-like and contain `/`, `+` and `=`. */
export const TENANT_A = 'wYAVC3oWQU+ozhgAAg5f/w==637841132085596403';
export const TENANT_B = 'Zk9/q+Lm0w==637841132085596999';
export const VM_1 = 'Sharedfk6hZ4v5Xkmu0clBsg+aYw==63784';
export const VM_2 = 'Shared/ab+cd==99';

/** The gate's limits for a message arriving now, with the default WINDOW_MAX_FUTURE_SECONDS (300). */
export function arrivingNow(): { arrivalMs: number; maxFutureSeconds: number } {
  return { arrivalMs: Date.now(), maxFutureSeconds: 300 };
}

export function metric(fields: Partial<Metric> & { t: number }): Metric {
  return { tenant: TENANT_A, vm: VM_1, key: 'win_cpu.percent', value: 1, ...fields };
}

/** One SPOC metric as it arrives on the wire; `overrides` may set a field to `undefined` to drop it. */
export function spocMetric(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    timestamp: 1648637647,
    MaskedTenantId: TENANT_A,
    SiteName: null,
    MaskedVMName: VM_1,
    ResourcePoolName: 'Shared-ngXXH',
    Region: 'centralindia',
    MachineSize: 'Standard_D4s_v4',
    PerfName: 'WinDefend',
    PerfValue: 1,
    PerfType: 'win_service',
  };
  const out: Record<string, unknown> = { ...base, ...overrides };
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  return out;
}

/** A log record as the folder sees it: position, next, processing time, metrics. */
export interface TestRecord {
  position: number;
  next: number;
  appendedAtMs: number;
  metrics: Metric[];
}

/** Records at positions 0, 10, 20… (next = position + 10), one second of processing time apart by default. */
export function records(batches: Metric[][], appendedAtMs: (i: number) => number = (i) => 1_000_000 + i * 1000): TestRecord[] {
  return batches.map((metrics, i) => ({ position: i * 10, next: i * 10 + 10, appendedAtMs: appendedAtMs(i), metrics }));
}

export interface Folded {
  windows: WindowEvent[];
  late: LateMetric[];
}

/** Feeds records the way foldWindows does: an idle tick at the record's append time, then the record. */
export function feed(folder: WindowFolder, recs: readonly TestRecord[], into: Folded = { windows: [], late: [] }): Folded {
  for (const r of recs) {
    into.windows.push(...folder.tick(r.appendedAtMs));
    const step = folder.add(r.metrics, r.position, r.next, r.appendedAtMs);
    into.windows.push(...step.windows);
    into.late.push(...step.late);
  }
  return into;
}

export interface RefAggregate {
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** Identity of a window in either grouping, as text. */
export function windowId(w: { key: string; tenant?: string; vm?: string; windowStart: number }): string {
  return w.tenant === undefined ? `cross|${w.key}|${w.windowStart}` : `vm|${w.tenant}|${w.vm}|${w.key}|${w.windowStart}`;
}

/** Start of the UTC minute holding `t`, straight from DESIGN.md §2. */
function minuteOf(t: number): number {
  return Math.floor(t / 60) * 60;
}

/** The batch answer: every window of both groupings, keyed by `windowId`. */
export function batchWindows(metrics: readonly Metric[]): Map<string, RefAggregate> {
  const out = new Map<string, RefAggregate>();
  const add = (id: string, v: number) => {
    const a = out.get(id);
    if (!a) out.set(id, { count: 1, sum: v, min: v, max: v });
    else {
      a.count += 1;
      a.sum += v;
      a.min = Math.min(a.min, v);
      a.max = Math.max(a.max, v);
    }
  };
  for (const m of metrics) {
    const windowStart = minuteOf(m.t);
    add(windowId({ key: m.key, windowStart }), m.value);
    add(windowId({ key: m.key, tenant: m.tenant, vm: m.vm, windowStart }), m.value);
  }
  return out;
}

/** The latest revision of every emitted window, as `{count,sum,min,max}` keyed by `windowId`. */
export function latestAggregates(windows: readonly WindowEvent[]): Map<string, RefAggregate> {
  const latest = new Map<string, WindowEvent>();
  for (const w of windows) {
    const id = windowId(w);
    const seen = latest.get(id);
    if (!seen || w.revision > seen.revision) latest.set(id, w);
  }
  return new Map([...latest].map(([id, w]) => [id, { count: w.count, sum: w.sum, min: w.min, max: w.max }]));
}

/** Revisions emitted per window, in emission order. */
export function revisionsById(windows: readonly WindowEvent[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const w of windows) {
    const id = windowId(w);
    out.set(id, [...(out.get(id) ?? []), w.revision]);
  }
  return out;
}

/** Maps sorted by key, so that deepStrictEqual reports differences readably. */
export function sorted<V>(map: Map<string, V>): [string, V][] {
  return [...map].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** An independent batch computation of cross-tenant minute windows, keyed `key@windowStart`, for comparing with what was projected. */
export function crossTenantReference(sent: readonly { t: number; key: string; value: number }[]): Map<string, { count: number; sum: number; min: number; max: number }> {
  const out = new Map<string, { count: number; sum: number; min: number; max: number }>();
  for (const s of sent) {
    const id = `${s.key}@${Math.floor(s.t / 60) * 60}`;
    const w = out.get(id) ?? { count: 0, sum: 0, min: Infinity, max: -Infinity };
    w.count++;
    w.sum += s.value;
    w.min = Math.min(w.min, s.value);
    w.max = Math.max(w.max, s.value);
    out.set(id, w);
  }
  return out;
}
