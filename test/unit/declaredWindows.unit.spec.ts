import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DeclaredWindows, type DeclaredWindow, type DeclaredWindowOptions } from '../../projections/declaredWindows';
import { parseDefinition, type ProjectionDefinition } from '../../src/core/projectionDefinition';
import type { Metric } from '../../src/core/metric';
import { DDSketch } from '@datadog/sketches-js';
import { mergeShares, partitionOf, rangeOf, windowOfRow, windowRow } from '../../projections/declaredRows';

const T0 = 1_700_000_400; // a multiple of 3600: aligned to every window size below a day
const LOOSE: DeclaredWindowOptions = { outOfOrderSeconds: 60, idleCloseSeconds: 5, allowedLatenessSeconds: 1_000_000, maxFutureSeconds: Infinity };

/**
 * The batch computation DESIGN §7 describes, written here from the contract alone: filter by
 * `where`, group by the fields (null when absent; PerfType/PerfName split at the key's first dot),
 * window start = floor(t / size) * size; count, sum, min, max, the exact quantiles, distinct pairs.
 */
function batch(definition: ProjectionDefinition, metrics: readonly Metric[]): Map<string, { values: number[]; pairs: Set<string> }> {
  const size = { '1m': 60, '5m': 300, '15m': 900, '1h': 3600, '1d': 86400 }[definition.window];
  const field = (m: Metric, f: string): string | null => {
    const dot = m.key.indexOf('.');
    switch (f) {
      case 'key': return m.key;
      case 'PerfType': return dot < 0 ? m.key : m.key.slice(0, dot);
      case 'PerfName': return dot < 0 ? null : m.key.slice(dot + 1);
      case 'tenant': return m.tenant;
      case 'vm': return m.vm;
      case 'Region': return m.region ?? null;
      case 'MachineSize': return m.machineSize ?? null;
      case 'ResourcePoolName': return m.resourcePoolName ?? null;
      default: return m.siteName ?? null;
    }
  };
  const out = new Map<string, { values: number[]; pairs: Set<string> }>();
  for (const m of metrics) {
    if (definition.where && !Object.entries(definition.where).every(([f, allowed]) => allowed!.includes(field(m, f) as string))) continue;
    const id = `${Math.floor(m.t / size) * size}|${JSON.stringify(definition.groupBy.map((f) => field(m, f)))}`;
    const w = out.get(id) ?? { values: [], pairs: new Set<string>() };
    w.values.push(m.value);
    w.pairs.add(JSON.stringify([m.tenant, m.vm]));
    out.set(id, w);
  }
  return out;
}

/** The last revision of every window emitted. */
function latest(windows: readonly DeclaredWindow[]): Map<string, DeclaredWindow> {
  const out = new Map<string, DeclaredWindow>();
  for (const w of windows) {
    const id = `${w.windowStart}|${JSON.stringify(w.group)}`;
    const before = out.get(id);
    assert.ok(!before || before.revision < w.revision, `revisions of ${id} in order`);
    out.set(id, w);
  }
  return out;
}

/** Folds records (metrics, arrival ms) in order, ticking the idle clock at each arrival, then closes all. */
function fold(definition: ProjectionDefinition, records: { metrics: Metric[]; atMs: number }[], options = LOOSE): { windows: DeclaredWindow[]; late: number } {
  const f = new DeclaredWindows(definition, options);
  const windows: DeclaredWindow[] = [];
  let late = 0;
  records.forEach((r, i) => {
    windows.push(...f.tick(r.atMs));
    const step = f.add(r.metrics, i * 10, i * 10 + 10, r.atMs);
    windows.push(...step.windows);
    late += step.late.length;
  });
  windows.push(...f.closeAll());
  return { windows, late };
}

const exactQuantile = (values: number[], q: number): number[] => {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = q * (sorted.length - 1);
  return [sorted[Math.floor(rank)], sorted[Math.ceil(rank)]];
};

const metricArb = fc.record({
  dt: fc.integer({ min: 0, max: 7200 }),
  key: fc.constantFrom('win_cpu.percent', 'win_mem.available', 'lnx_cpu.user'),
  tenant: fc.constantFrom('T/1+=', 'T#2'),
  vm: fc.constantFrom('vm/a', 'vm=b', 'vm+c'),
  region: fc.constantFrom('westeurope', 'eastus', null, undefined),
  machineSize: fc.constantFrom('D4s', 'E8s', undefined),
  value: fc.double({ min: 0.5, max: 1e6, noNaN: true }),
}).map(({ dt, key, tenant, vm, region, machineSize, value }): Metric => ({
  t: T0 + dt, key, tenant, vm, value, ...(region !== undefined ? { region } : {}), ...(machineSize !== undefined ? { machineSize } : {}),
}));

const definitionArb = fc.record({
  groupBy: fc.subarray(['key', 'PerfType', 'PerfName', 'tenant', 'vm', 'Region', 'MachineSize'], { maxLength: 4 }),
  window: fc.constantFrom('1m', '5m', '15m', '1h', '1d'),
  where: fc.option(fc.constantFrom({ PerfType: ['win_cpu', 'win_mem'] }, { Region: ['westeurope'] }, { tenant: ['T#2'] }), { nil: undefined }),
}).map(({ groupBy, window, where }) => parseDefinition({
  name: 'p', groupBy, window, aggregates: ['count', 'sum', 'avg', 'min', 'max', 'p50', 'p95', 'p99', 'vms'], ...(where ? { where } : {}),
}));

describe('DeclaredWindows (the fold of a declared projection)', () => {
  it('property: for any arrival order within the lateness and any definition, the last revisions equal the batch computation; quantiles within 1%', () => {
    fc.assert(fc.property(definitionArb, fc.array(fc.array(metricArb, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 25 }), fc.integer({ min: 0, max: 20_000 }), (definition, batches, gapMs) => {
      const records = batches.map((metrics, i) => ({ metrics, atMs: 1_000_000 + i * gapMs }));
      const { windows, late } = fold(definition, records);
      assert.equal(late, 0);
      const expected = batch(definition, batches.flat());
      const got = latest(windows);
      assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort());
      for (const [id, e] of expected) {
        const w = got.get(id)!;
        assert.equal(w.count, e.values.length, id);
        assert.ok(Math.abs(w.sum - e.values.reduce((a, b) => a + b, 0)) <= 1e-9 * Math.abs(w.sum) + 1e-9, id);
        assert.equal(w.min, Math.min(...e.values), id);
        assert.equal(w.max, Math.max(...e.values), id);
        assert.equal(w.vms!.size, e.pairs.size, id);
        for (const q of [0.5, 0.95, 0.99]) {
          const estimate = w.sketch!.getValueAtQuantile(q);
          const [low, high] = exactQuantile(e.values, q);
          assert.ok(estimate >= low * 0.99 - 1e-9 && estimate <= high * 1.01 + 1e-9, `${id} q${q}: ${estimate} not within 1% of [${low}, ${high}]`);
        }
      }
    }), { numRuns: 150 });
  });

  it('property: merging the shares of disjoint tenants (Event Hubs partitions) equals folding all at once', () => {
    fc.assert(fc.property(definitionArb, fc.array(metricArb, { minLength: 1, maxLength: 80 }), (definition, metrics) => {
      const records = (ms: Metric[]) => ms.map((m, i) => ({ metrics: [m], atMs: 1_000_000 + i }));
      const all = latest(fold(definition, records(metrics)).windows);
      const shares = ['T/1+=', 'T#2'].map((tenant) => latest(fold(definition, records(metrics.filter((m) => m.tenant === tenant))).windows));
      for (const [id, w] of all) {
        const parts = shares.map((s) => s.get(id)).filter((p) => p !== undefined);
        assert.equal(parts.reduce((n, p) => n + p.count, 0), w.count);
        assert.equal(Math.min(...parts.map((p) => p.min)), w.min);
        assert.equal(Math.max(...parts.map((p) => p.max)), w.max);
        assert.equal(parts.reduce((n, p) => n + p.vms!.size, 0), w.vms!.size, 'VM sets of different tenants are disjoint: sizes add');
        const merged = parts[0].sketch!;
        for (const p of parts.slice(1)) merged.merge(p.sketch!);
        for (const q of [0.5, 0.99]) assert.equal(merged.getValueAtQuantile(q), w.sketch!.getValueAtQuantile(q));
      }
    }), { numRuns: 100 });
  });

  it('a window closes when the watermark passes its end, is revised by a later metric within the lateness, and a metric beyond it is late', () => {
    const definition = parseDefinition({ name: 'cpu', groupBy: ['Region'], window: '5m', aggregates: ['count', 'avg', 'vms'] });
    const f = new DeclaredWindows(definition, { outOfOrderSeconds: 60, idleCloseSeconds: 3600, allowedLatenessSeconds: 600, maxFutureSeconds: Infinity });
    const m = (t: number, value: number, vm = 'vm1'): Metric => ({ t: T0 + t, key: 'win_cpu.percent', tenant: 'T', vm, value, region: 'westeurope' });
    assert.deepEqual(f.add([m(10, 10), m(20, 20, 'vm2')], 0, 1, 1000).windows, []);
    // The watermark (max t - 60) passes 300 once a metric at t ≥ 360 arrives: the first window closes, revision 1
    const closed = f.add([m(400, 1)], 1, 2, 2000).windows;
    assert.deepEqual(closed.map((w) => [w.windowStart - T0, w.count, w.sum, w.vms!.size, w.revision]), [[0, 2, 30, 2, 1]]);
    // A metric for it within the allowed lateness: revision 2, merged
    const revised = f.add([m(30, 30, 'vm3')], 2, 3, 3000).windows;
    assert.deepEqual(revised.map((w) => [w.windowStart - T0, w.count, w.sum, w.vms!.size, w.revision]), [[0, 3, 60, 3, 2]]);
    // The watermark moves to 1400 - 60: the window [0, 300) is beyond 600 s of lateness; a metric for it is late
    f.add([m(1400, 1)], 3, 4, 4000);
    const late = f.add([m(40, 40)], 4, 5, 5000);
    assert.deepEqual(late.windows, []);
    assert.equal(late.late.length, 1);
  });

  it('a restart from the resume point, with the stored windows restored, counts nothing twice', () => {
    const definition = parseDefinition({ name: 'cpu', groupBy: [], window: '1m', aggregates: ['count', 'sum', 'vms'] });
    const options = { outOfOrderSeconds: 0, idleCloseSeconds: 3600, allowedLatenessSeconds: 3600, maxFutureSeconds: Infinity };
    const m = (t: number, value: number, vm = 'vm1'): Metric => ({ t: T0 + t, key: 'k.x', tenant: 'T', vm, value });
    const records = [[m(0, 1)], [m(70, 2)], [m(10, 3, 'vm2')], [m(130, 4)], [m(75, 5, 'vm3')]];
    // Uninterrupted
    const whole = latest(fold(definition, records.map((metrics, i) => ({ metrics, atMs: i })), options).windows);
    // Interrupted after record 3 (position 30): the windows stored so far, and the resume point
    const first = new DeclaredWindows(definition, options);
    const stored = new Map<string, DeclaredWindow>();
    records.slice(0, 3).forEach((metrics, i) => {
      for (const w of first.add(metrics, i * 10, i * 10 + 10, i).windows) stored.set(`${w.windowStart}|${JSON.stringify(w.group)}`, w);
    });
    const resume = first.resumePoint(30);
    const again = new DeclaredWindows(definition, options, { maxEventTime: resume.maxEventTime });
    const emitted: DeclaredWindow[] = [...stored.values()];
    records.forEach((metrics, i) => {
      if (i * 10 < resume.resumeFrom) return;
      for (const w of again.lookups(metrics)) {
        const s = stored.get(`${w.windowStart}|${JSON.stringify(w.group)}`);
        again.restore(w.id, s ? { ...s, vms: new Set(s.vms) } : null);
      }
      emitted.push(...again.add(metrics, i * 10, i * 10 + 10, i).windows);
    });
    emitted.push(...again.closeAll());
    const resumed = latest(emitted);
    assert.deepEqual([...resumed].map(([id, w]) => [id, w.count, w.sum, w.vms!.size]), [...whole].map(([id, w]) => [id, w.count, w.sum, w.vms!.size]));
  });
});

describe('parseDefinition', () => {
  it('accepts the contract\'s example and refuses each wrong field, naming it', () => {
    const ok = { name: 'cpu_by_region', where: { key: ['win_cpu.percent_processor_time'] }, groupBy: ['Region'], window: '5m', aggregates: ['count', 'avg', 'min', 'max', 'p95', 'vms'] };
    assert.deepEqual(parseDefinition(ok), ok);
    const refused: [unknown, RegExp][] = [
      [{ ...ok, name: 'CPU' }, /^name: "CPU" must be a lower-case letter/],
      [{ ...ok, name: 'windows' }, /^name: "windows" is a built-in projection's name/],
      [{ ...ok, groupBy: ['Region', 'key', 'Zone'] }, /^groupBy\[2\]: "Zone" is not a field; one of key, PerfType, PerfName, tenant, vm, Region, MachineSize, ResourcePoolName, SiteName$/],
      [{ ...ok, groupBy: ['key', 'vm', 'tenant', 'Region', 'SiteName'] }, /^groupBy: has 5 fields; at most 4$/],
      [{ ...ok, window: '2m' }, /^window: "2m" is not a window; one of 1m, 5m, 15m, 1h, 1d$/],
      [{ ...ok, aggregates: ['avg', 'p42'] }, /^aggregates\[1\]: "p42" is not an aggregate/],
      [{ ...ok, aggregates: [] }, /^aggregates: is missing or empty/],
      [{ ...ok, where: { Zone: ['a'] } }, /^where\.Zone: is not a field/],
      [{ ...ok, where: { key: [] } }, /^where\.key: must be a non-empty list/],
      [{ ...ok, where: { key: [3] } }, /^where\.key\[0\]: 3 must be a string/],
      [{ ...ok, windowSize: '5m' }, /^windowSize: is not a field of a projection definition/],
      [[], /^definition: must be a JSON object/],
    ];
    for (const [input, message] of refused) assert.throws(() => parseDefinition(input), (e: Error & { parameter?: string }) => message.test(e.message) && e.parameter !== undefined, JSON.stringify(input));
  });
});

describe('declared projection rows', () => {
  it('a window survives the row codec: aggregates, group with nulls, the sketch, and a VM set split over several fields', () => {
    const sketch = new DDSketch({ relativeAccuracy: 0.01 });
    for (let i = 1; i <= 5000; i++) sketch.accept(i);
    const vms = new Set(Array.from({ length: 6000 }, (_, i) => i.toString(16).padStart(16, '0')));
    const w = { windowStart: T0, group: ['westeurope', null], count: 5000, sum: 12502500, min: 1, max: 5000, sketch, vms, revision: 3, appliedThrough: 77 };
    const row = windowRow('5m', w);
    assert.ok(Object.values(row.fields).every((v) => typeof v !== 'string' || v.length <= 30_000), 'every string field fits a Table Storage property');
    assert.ok('vms2' in row.fields, '6,000 pair hashes need three fields');
    const back = windowOfRow(row);
    assert.deepEqual({ ...back, sketch: undefined, vms: undefined }, { ...w, sketch: undefined, vms: undefined });
    assert.deepEqual([...back.vms!].sort(), [...vms].sort());
    for (const q of [0.5, 0.95, 0.99]) assert.equal(back.sketch!.getValueAtQuantile(q), sketch.getValueAtQuantile(q));
    // Two partitions' shares of the window: counts and sums add, VM set sizes add, sketches merge
    const merged = mergeShares([back, windowOfRow(row)]);
    assert.deepEqual([merged.count, merged.sum, merged.min, merged.max, merged.vmCount], [10000, 25005000, 1, 5000, 12000]);
    assert.equal(merged.sketch!.getValueAtQuantile(0.5), sketch.getValueAtQuantile(0.5));
  });

  it('windows of a range are found in the partitions the range names, in window order', () => {
    const r = rangeOf('5m', T0 - 300 * 150, T0);
    assert.deepEqual(r.partitions, [partitionOf('5m', T0 - 300 * 150), partitionOf('5m', T0 - 300 * 50), partitionOf('5m', T0)].filter((p, i, a) => a.indexOf(p) === i));
    assert.ok(windowRow('5m', { windowStart: T0, group: [], count: 1, sum: 1, min: 1, max: 1, revision: 1, appliedThrough: 1 }).row <= r.toRow);
    assert.ok(windowRow('5m', { windowStart: T0 - 300 * 150, group: [], count: 1, sum: 1, min: 1, max: 1, revision: 1, appliedThrough: 1 }).row >= r.fromRow);
  });
});
