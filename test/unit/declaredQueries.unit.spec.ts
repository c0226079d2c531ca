import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeclaredWindows } from '../../projections/declaredWindows';
import { windowRow } from '../../projections/declaredRows';
import { NEWEST } from '../../projections/declaredProjection';
import { MAX_WINDOWS, readDeclared } from '../../projections/declaredQueries';
import { parseDefinition } from '../../src/core/projectionDefinition';
import type { Metric } from '../../src/core/metric';
import { MemoryRowTable } from '../support/memoryTableStore';

const T0 = 1_700_000_400; // a multiple of 300
const OPTIONS = { outOfOrderSeconds: 0, idleCloseSeconds: 3600, allowedLatenessSeconds: 3600, maxFutureSeconds: Infinity };
const definition = parseDefinition({ name: 'cpu', groupBy: ['Region', 'MachineSize'], window: '5m', aggregates: ['count', 'avg', 'max', 'p50', 'vms'] });

const m = (dt: number, value: number, region: string | null, tenant = 'T/1', vm = 'vm+1'): Metric => ({
  t: T0 + dt, key: 'win_cpu.percent', tenant, vm, value, machineSize: 'D4s', ...(region === null ? {} : { region }),
});

/** A table holding every window of the metrics, as a build writes them (with the newest-window row). */
async function stored(metrics: Metric[]): Promise<MemoryRowTable> {
  const fold = new DeclaredWindows(definition, OPTIONS);
  const { windows } = fold.add(metrics, 0, 1, 0);
  windows.push(...fold.closeAll());
  const table = new MemoryRowTable();
  await table.upsert([...windows.map((w) => windowRow('5m', w)), { ...NEWEST, fields: { windowStart: Math.max(...windows.map((w) => w.windowStart)) } }]);
  return table;
}

describe('reading a declared projection (readDeclared)', () => {
  it('answers the newest 60 windows by default; a range in window order, then group order (null first), with the asked aggregates', async () => {
    const table = await stored([m(0, 10, 'westeurope'), m(1, 30, 'westeurope', 'T/1', 'vm+2'), m(2, 5, null), m(300, 7, 'eastus'), m(300 * 70, 1, 'eastus')]);
    const newest = await readDeclared(definition, [table], {});
    assert.deepEqual(newest.data.map((p) => [p.windowStart - T0, p.group.Region]), [[300 * 70, 'eastus']], 'the first windows are 70 windows back');
    const all = await readDeclared(definition, [table], { from: T0, to: T0 + 300 * 70 + 299 });
    const p50 = all.data[1].p50 as number;
    assert.ok(p50 >= 10 && p50 <= 10.1, `p50 of 10 and 30 within 1% of 10: ${p50}`);
    assert.deepEqual(all.data.map((p) => ({ ...p, windowStart: p.windowStart - T0, ...(p === all.data[1] ? { p50: 10 } : {}) })), [
      { windowStart: 0, group: { Region: null, MachineSize: 'D4s' }, count: 1, avg: 5, max: 5, p50: 5, vms: 1, revision: 1 },
      { windowStart: 0, group: { Region: 'westeurope', MachineSize: 'D4s' }, count: 2, avg: 20, max: 30, p50: 10, vms: 2, revision: 1 },
      { windowStart: 300, group: { Region: 'eastus', MachineSize: 'D4s' }, count: 1, avg: 7, max: 7, p50: 7, vms: 1, revision: 1 },
      { windowStart: 300 * 70, group: { Region: 'eastus', MachineSize: 'D4s' }, count: 1, avg: 1, max: 1, p50: 1, vms: 1, revision: 1 },
    ]);
  });

  it('filters on grouped fields; from and to are floored to their windows', async () => {
    const table = await stored([m(0, 10, 'westeurope'), m(0, 7, 'eastus'), m(600, 3, 'eastus')]);
    const eastus = await readDeclared(definition, [table], { from: T0 + 299, to: T0 + 601, filters: new Map([['Region', 'eastus']]) });
    assert.deepEqual(eastus.data.map((p) => [p.windowStart - T0, p.group.Region, p.count]), [[0, 'eastus', 1], [600, 'eastus', 1]]);
  });

  it('Event Hubs partitions\' shares of a window read as one: counts add, VM counts add, the newest of the newest rows', async () => {
    const a = await stored([m(0, 10, 'westeurope', 'A', 'v1'), m(1, 20, 'westeurope', 'A', 'v2')]);
    const b = await stored([m(2, 60, 'westeurope', 'B', 'v1'), m(600, 1, 'westeurope', 'B', 'v1')]);
    const answer = await readDeclared(definition, [a, b], {});
    assert.deepEqual(answer.data.map((p) => [p.windowStart - T0, p.count, p.avg, p.max, p.vms]), [[0, 3, 30, 60, 3], [600, 1, 1, 1, 1]]);
  });

  it(`a range of more than ${MAX_WINDOWS} windows is refused naming from, before any read (from=0 would be 280,000 storage partitions)`, async () => {
    let reads = 0;
    const table = await stored([m(0, 1, 'eastus')]);
    const counting = { ...table, get: table.get.bind(table), list: async (o?: Parameters<MemoryRowTable['list']>[0]) => { reads++; return table.list(o); }, upsert: table.upsert.bind(table), delete: table.delete.bind(table) };
    await assert.rejects(readDeclared(definition, [counting], { from: 0, to: T0 }), (e: Error & { parameter?: string }) => e.parameter === 'from' && /spans \d+ windows of 5m; at most 10080/.test(e.message));
    await assert.rejects(readDeclared(definition, [counting], { from: T0 - 300 * MAX_WINDOWS }), (e: Error & { parameter?: string }) => e.parameter === 'from');
    assert.equal(reads, 0);
    const widest = await readDeclared(definition, [counting], { from: T0 - 300 * (MAX_WINDOWS - 1), to: T0 });
    assert.equal(widest.data.length, 1);
  });
});
