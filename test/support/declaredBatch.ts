/**
 * A declared projection computed the plain way, from DESIGN §7 alone, to check the fold against:
 * filter by `where`, group by the fields (null when a metric lacks one; PerfType and PerfName are
 * the key split at its first dot), window start = floor(t / size) * size; count, sum, min, max,
 * the exact quantiles (as bounds: the values at the ranks around q·(n−1)) and the distinct
 * (tenant, VM) pairs. Shares no code with projections/.
 */
import assert from 'node:assert/strict';
import type { Metric } from '../../src/core/metric';

export interface DefinitionLike {
  where?: Partial<Record<string, string[]>>;
  groupBy: readonly string[];
  window: string;
  aggregates: readonly string[];
}

export interface BatchWindow {
  windowStart: number;
  group: (string | null)[];
  values: number[];
  pairs: Set<string>;
}

const SIZES: Record<string, number> = { '1m': 60, '5m': 300, '15m': 900, '1h': 3600, '1d': 86400 };
const QUANTILES: Record<string, number> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

export function fieldOfMetric(m: Metric, field: string): string | null {
  const dot = m.key.indexOf('.');
  switch (field) {
    case 'key': return m.key;
    case 'PerfType': return dot < 0 ? m.key : m.key.slice(0, dot);
    case 'PerfName': return dot < 0 ? null : m.key.slice(dot + 1);
    case 'tenant': return m.tenant;
    case 'vm': return m.vm;
    case 'Region': return m.region ?? null;
    case 'MachineSize': return m.machineSize ?? null;
    case 'ResourcePoolName': return m.resourcePoolName ?? null;
    case 'SiteName': return m.siteName ?? null;
    default: throw new Error(`no field ${field}`);
  }
}

/** The windows of `metrics`, by `${windowStart}|${JSON.stringify(group)}`. */
export function batchWindows(definition: DefinitionLike, metrics: readonly Metric[]): Map<string, BatchWindow> {
  const size = SIZES[definition.window];
  const out = new Map<string, BatchWindow>();
  for (const m of metrics) {
    if (definition.where && !Object.entries(definition.where).every(([f, allowed]) => allowed!.includes(fieldOfMetric(m, f) as string))) continue;
    const windowStart = Math.floor(m.t / size) * size;
    const group = definition.groupBy.map((f) => fieldOfMetric(m, f));
    const id = `${windowStart}|${JSON.stringify(group)}`;
    const w = out.get(id) ?? { windowStart, group, values: [], pairs: new Set<string>() };
    w.values.push(m.value);
    w.pairs.add(JSON.stringify([m.tenant, m.vm]));
    out.set(id, w);
  }
  return out;
}

/** The values at the ranks around q·(n−1) of the sorted values: a quantile within 1% of one of them is right. */
export function quantileBounds(values: readonly number[], q: number): [number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = q * (sorted.length - 1);
  return [sorted[Math.floor(rank)], sorted[Math.ceil(rank)]];
}

/** Whether `v` is within 1% of [low, high] (relative to each bound's magnitude). */
export function withinOnePercent(v: number, [low, high]: [number, number]): boolean {
  return v >= low - Math.abs(low) * 0.01 - 1e-9 && v <= high + Math.abs(high) * 0.01 + 1e-9;
}

/**
 * Asserts that an answered point (`{windowStart, group:{…}, <aggregates>}`) is the batch window's:
 * count, min, max and vms exactly, sum and avg to the last few bits, quantiles within 1%.
 */
export function assertPoint(definition: DefinitionLike, point: Record<string, unknown>, w: BatchWindow, what: string): void {
  const sum = w.values.reduce((a, b) => a + b, 0);
  const close = (a: unknown, b: number) => typeof a === 'number' && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
  for (const a of definition.aggregates) {
    const v = point[a];
    const q = QUANTILES[a];
    if (q !== undefined) assert.ok(typeof v === 'number' && withinOnePercent(v, quantileBounds(w.values, q)), `${what} ${a}: ${v} not within 1% of ${quantileBounds(w.values, q)}`);
    else if (a === 'count') assert.equal(v, w.values.length, `${what} count`);
    else if (a === 'sum') assert.ok(close(v, sum), `${what} sum ${v} ≠ ${sum}`);
    else if (a === 'avg') assert.ok(close(v, sum / w.values.length), `${what} avg ${v} ≠ ${sum / w.values.length}`);
    else if (a === 'min') assert.equal(v, Math.min(...w.values), `${what} min`);
    else if (a === 'max') assert.equal(v, Math.max(...w.values), `${what} max`);
    else if (a === 'vms') assert.equal(v, w.pairs.size, `${what} vms`);
  }
}
