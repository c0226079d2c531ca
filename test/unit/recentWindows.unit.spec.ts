import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { windowEvent, type WindowEvent } from '../../src/core/windowMath';
import { MinuteBlocks } from '../../projections/minuteBlocks';
import { vmCatalogRows } from '../../projections/vmCatalog';
import { RecentWindows } from '../../projections/RecentWindows';
import { TableWindowReads } from '../../projections/TableWindowReads';
import { VmColumns } from '../../projections/VmColumns';
import { MemoryBlockTable, MemoryRowTable } from '../support/memoryTableStore';
import { eventually } from '../support/eventually';

const M0 = 1_699_999_200; // a multiple of 900: a block's first minute
const K = 'win_cpu.percent';
const T = 'T+/0==';

const cross = (minute: number, values: number[], revision = 1): WindowEvent => win(values, minute, revision);
const perVm = (vm: string, minute: number, values: number[], revision = 1): WindowEvent => win(values, minute, revision, T, vm);

function win(values: number[], minute: number, revision: number, tenant?: string, vm?: string): WindowEvent {
  const sum = values.reduce((a, b) => a + b, 0);
  return windowEvent({ count: values.length, sum, min: Math.min(...values), max: Math.max(...values) }, K, M0 + minute * 60, revision, tenant, vm);
}

/** One version's tables, holding `windows` as a flush would have written them, and the catalog that goes with them. */
async function tablesWith(windows: WindowEvent[]): Promise<TableWindowReads> {
  const minute = new MemoryBlockTable();
  const vmMinute = new MemoryBlockTable();
  const catalog = new MemoryRowTable();
  const blocks = { cross: new MinuteBlocks('minute', true), vm: new MinuteBlocks('vmMinute', true) };
  const newest = new Map<string, Map<string, number>>();
  for (const w of windows) {
    (w.tenant === undefined ? blocks.cross : blocks.vm).apply(w);
    if (w.vm !== undefined) newest.set(w.vm, new Map([[K, Math.max(w.windowStart, newest.get(w.vm)?.get(K) ?? -Infinity)]]));
  }
  await minute.write(blocks.cross.takeDirty(1));
  await vmMinute.write(blocks.vm.takeDirty(1));
  const crossStarts = windows.filter((w) => w.tenant === undefined).map((w) => w.windowStart);
  await catalog.upsert([
    ...(crossStarts.length > 0 ? [{ partition: ['key'], row: K, fields: { key: K, newest: Math.max(...crossStarts) } }] : []),
    ...vmCatalogRows(T, newest),
  ]);
  return new TableWindowReads({ minute: async () => minute, vmMinute: async () => vmMinute, catalog: async () => catalog });
}

const shape = (ws: { windowStart: number; count: number; sum: number; revision: number }[]) => ws.map((w) => [(w.windowStart - M0) / 60, w.count, w.sum, w.revision]);

describe('RecentWindows: the read cache', () => {
  it('reads a key in from the tables once, keeps every revision emitted since over the tables\' copy, and answers recent ranges from memory', async () => {
    const tables = await tablesWith([cross(0, [1]), cross(1, [2]), cross(2, [3, 5])]);
    const recent = new RecentWindows({ tables, version: () => 1, crossMinutes: 30, vmMinutes: 10 });
    // Emitted since the cache began, not yet flushed: minute 2 revised, minute 3 new.
    recent.apply(cross(2, [3, 5, 10], 2));
    recent.apply(cross(3, [4]));
    assert.equal(await recent.newestOfKey(K), M0 + 180);
    assert.deepEqual(shape(await recent.crossTenant(K, M0 + 180, 4)), [[0, 1, 1, 1], [1, 1, 2, 1], [2, 3, 18, 2], [3, 1, 4, 1]]);
    assert.deepEqual(recent.stats, { memory: 1, tables: 0 });
    // What the tables say of the same range is older: the cache is ahead by a flush, never behind.
    assert.deepEqual(shape(await tables.crossTenant(K, M0 + 180, 4)), [[0, 1, 1, 1], [1, 1, 2, 1], [2, 2, 8, 1]]);
    recent.apply(cross(1, [2, 7], 2));
    assert.deepEqual(shape(await recent.crossTenant(K, M0 + 120, 2)), [[1, 2, 9, 2], [2, 3, 18, 2]]);
    assert.deepEqual(recent.stats, { memory: 2, tables: 0 });
  });

  it('reads a range that begins before its span from the tables', async () => {
    const tables = await tablesWith(Array.from({ length: 20 }, (_, m) => cross(m, [m])));
    const recent = new RecentWindows({ tables, version: () => 1, crossMinutes: 5, vmMinutes: 5 });
    assert.deepEqual(shape(await recent.crossTenant(K, M0 + 19 * 60, 5)).map(([m]) => m), [15, 16, 17, 18, 19]);
    assert.deepEqual(recent.stats, { memory: 1, tables: 0 });
    assert.deepEqual(shape(await recent.crossTenant(K, M0 + 19 * 60, 6)).map(([m]) => m), [14, 15, 16, 17, 18, 19]);
    assert.deepEqual(recent.stats, { memory: 1, tables: 1 });
    // The span moves with the newest window: minute 15 leaves it.
    recent.apply(cross(20, [20]));
    assert.deepEqual(shape(await recent.crossTenant(K, M0 + 19 * 60, 5)).map(([m]) => m), [15, 16, 17, 18, 19]);
    assert.deepEqual(recent.stats, { memory: 1, tables: 2 });
  });

  it('drops what it holds when the active version changes, and reads the new version\'s tables', async () => {
    let version = 1;
    const byVersion = new Map([[1, await tablesWith([cross(0, [1])])], [2, await tablesWith([cross(0, [100]), cross(1, [200])])]]);
    const tables = new TableWindowReads({
      minute: () => byVersion.get(version)!.tables.minute(), vmMinute: () => byVersion.get(version)!.tables.vmMinute(), catalog: () => byVersion.get(version)!.tables.catalog(),
    });
    const recent = new RecentWindows({ tables, version: () => version, crossMinutes: 30, vmMinutes: 10 });
    recent.apply(cross(5, [9]));
    assert.deepEqual(shape(await recent.crossTenant(K, M0 + 300, 6)), [[0, 1, 1, 1], [5, 1, 9, 1]]);
    version = 2;
    assert.equal(await recent.newestOfKey(K), M0 + 60);
    assert.deepEqual(shape(await recent.crossTenant(K, M0 + 300, 6)), [[0, 1, 100, 1], [1, 1, 200, 1]]);
  });

  it('stamps what it holds of a key\'s cross-tenant range: the same until a window of the key changes or the version does, none where the tables answer', async () => {
    let version = 1;
    const tables = await tablesWith(Array.from({ length: 10 }, (_, m) => cross(m, [m])));
    const recent = new RecentWindows({ tables, version: () => version, crossMinutes: 5, vmMinutes: 5 });
    assert.equal(recent.crossTenantStamp(K, M0 + 9 * 60, 5), undefined, 'not read in yet');
    await recent.crossTenant(K, M0 + 9 * 60, 5);
    const first = recent.crossTenantStamp(K, M0 + 9 * 60, 5);
    assert.equal(typeof first, 'number');
    assert.equal(recent.crossTenantStamp(K, M0 + 9 * 60, 5), first, 'nothing changed');
    assert.equal(recent.crossTenantStamp(K, M0 + 9 * 60, 6), undefined, 'a range that begins before the span is the tables\'');
    recent.apply(perVm('a', 9, [1]));
    assert.equal(recent.crossTenantStamp(K, M0 + 9 * 60, 5), first, 'a VM\'s window is not the cross-tenant answer');
    recent.apply(cross(8, [8, 9], 2));
    const revised = recent.crossTenantStamp(K, M0 + 9 * 60, 5);
    assert.notEqual(revised, first, 'a revision in the span');
    assert.deepEqual(shape(await recent.crossTenant(K, M0 + 9 * 60, 5)).at(-2), [8, 2, 17, 2]);
    version = 2;
    assert.equal(recent.crossTenantStamp(K, M0 + 9 * 60, 5), undefined, 'a new version is read in anew');
    await recent.crossTenant(K, M0 + 9 * 60, 5);
    const second = recent.crossTenantStamp(K, M0 + 9 * 60, 5);
    assert.ok(second !== undefined && second !== first && second !== revised, 'never a stamp given before');
  });

  it('per VM: the first read of a key goes to the tables while the fleet\'s windows are read in; then top and get-tenant-data come from memory', async () => {
    const tables = await tablesWith([cross(0, [1]), perVm('a', 0, [10]), perVm('b', 0, [20]), perVm('a', 1, [30]), cross(1, [2])]);
    const recent = new RecentWindows({ tables, version: () => 1, crossMinutes: 30, vmMinutes: 10 });
    recent.apply(perVm('c', 2, [5, 50]));
    recent.apply(perVm('b', 0, [20, 40], 2));
    recent.apply(cross(2, [3]));
    assert.deepEqual(shape(await recent.perVm(T, 'a', K, M0 + 120, 3)), [[0, 1, 10, 1], [1, 1, 30, 1]]);
    assert.deepEqual(recent.stats, { memory: 0, tables: 1 });
    await eventually('the per-VM windows read in', async () => {
      const before = recent.stats.memory;
      await recent.perVm(T, 'a', K, M0 + 120, 3);
      return recent.stats.memory > before;
    });
    const fromTables = recent.stats.tables;
    assert.deepEqual(shape(await recent.perVm(T, 'b', K, M0 + 120, 3)), [[0, 2, 60, 2]]);
    assert.equal(await recent.newestOfVm(T, 'c', K), M0 + 120);
    const top = await recent.top(K, M0 + 120, 3, 'max', 10);
    assert.deepEqual(top.map((r) => [r.vm, r.value, r.count]), [['c', 50, 2], ['b', 40, 2], ['a', 30, 2]]);
    // The same ranking again is the one computed; a revision of any VM's window makes it computed anew.
    assert.equal(await recent.top(K, M0 + 120, 3, 'max', 10), top);
    recent.apply(perVm('a', 1, [30, 99], 2));
    assert.deepEqual((await recent.top(K, M0 + 120, 3, 'max', 10)).map((r) => [r.vm, r.value, r.count]), [['a', 99, 3], ['c', 50, 2], ['b', 40, 2]]);
    assert.deepEqual((await recent.top(K, M0 + 120, 3, 'max', 1)).map((r) => r.vm), ['a']);
    assert.deepEqual(await recent.top('never.seen', M0 + 120, 3, 'avg', 10), []);
    assert.equal(recent.stats.tables, fromTables, 'all from memory once read in');
  });
});

describe('VmColumns: per-VM windows of one key', () => {
  it('gives up the ids of VMs that left the span, and answers the same for those that stay', () => {
    const columns = new VmColumns(10);
    for (let m = 0; m < 5; m++) for (let vm = 0; vm < 200; vm++) columns.set(T, `vm${vm}`, M0 + m * 60, 1, vm + m, vm + m, vm + m, 1);
    assert.equal(columns.size, 200);
    for (let m = 5; m < 40; m++) for (let vm = 0; vm < 3; vm++) columns.set(T, `vm${vm}`, M0 + m * 60, 2, 10 * m + vm, m, 9 * m + vm, 3);
    assert.equal(columns.size, 3);
    const seen: [string, number, number][] = [];
    columns.forEach(M0 + 38 * 60, M0 + 39 * 60, (id, ws, count, sum, min, max, revision) => {
      assert.deepEqual([count, min, revision], [2, (ws - M0) / 60, 3]);
      seen.push([columns.vmOf(id), (ws - M0) / 60, sum - max]);
    });
    assert.deepEqual(seen.sort(), [['vm0', 38, 38], ['vm0', 39, 39], ['vm1', 38, 38], ['vm1', 39, 39], ['vm2', 38, 38], ['vm2', 39, 39]]);
    assert.equal(columns.find(T, 'vm150'), undefined);
    assert.deepEqual(columns.windowsOf(columns.find(T, 'vm2')!, M0 + 30 * 60, M0 + 31 * 60).map((w) => w.sum), [302, 312]);
  });
});
