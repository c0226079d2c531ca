import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readVmCatalog, vmCatalogRows } from '../../projections/vmCatalog';

const T = 1_700_000_040;
const newest = (entries: Record<string, number>): Map<string, number> => new Map(Object.entries(entries));
/** The catalog as plain objects, for comparing. */
const plain = (catalog: ReturnType<typeof readVmCatalog>) =>
  Object.fromEntries([...catalog].map(([tenant, vms]) => [tenant, Object.fromEntries([...vms].map(([vm, keys]) => [vm, Object.fromEntries(keys)]))]));

describe('the catalog of VMs: one tenant\'s VMs share its rows', () => {
  it('writes a tenant\'s VMs into one row and reads each VM\'s newest window per key back, ids with / # ? | \' intact', () => {
    const rows = vmCatalogRows('t/1#?', [
      ['vm|2', newest({ 'win_cpu.percent': T, 'win_mem.used': T - 60 })],
      ["vm'1/", newest({ 'win_cpu.percent': T - 120 })],
    ]);
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0].partition, ['vms', 't/1#?']);
    assert.deepEqual(plain(readVmCatalog(rows)), {
      't/1#?': { 'vm|2': { 'win_cpu.percent': T, 'win_mem.used': T - 60 }, "vm'1/": { 'win_cpu.percent': T - 120 } },
    });
  });

  it('leaves out VMs with no closed window yet, and writes no row for a tenant with none', () => {
    assert.deepEqual(vmCatalogRows('t1', [['open', new Map()]]), []);
    assert.deepEqual([...readVmCatalog(vmCatalogRows('t1', [['open', new Map()], ['vm1', newest({ cpu: T })]])).get('t1')!.keys()], ['vm1']);
  });

  it('spreads a large tenant over several rows, each within a property\'s 32K characters, and loses no VM', () => {
    const keys = Object.fromEntries(Array.from({ length: 40 }, (_, k) => [`linux_disk.counter_number_${k}`, T - k * 60]));
    const vms = Array.from({ length: 300 }, (_, i) => [`Shared-vm-${String(i).padStart(4, '0')}+aYw==63784`, newest(keys)] as const);
    const rows = vmCatalogRows('big', vms);
    assert.ok(rows.length > 1, `${rows.length} rows`);
    assert.deepEqual(rows.map((r) => r.row), rows.map((_, i) => String(i).padStart(4, '0')));
    for (const row of rows) assert.ok(String(row.fields.vms).length <= 32 * 1024, `row ${row.row}: ${String(row.fields.vms).length} characters`);
    const read = readVmCatalog(rows).get('big')!;
    assert.equal(read.size, 300);
    for (const [vm] of vms) assert.deepEqual(Object.fromEntries(read.get(vm)!), keys);
  });

  it('spreads one VM with many long counter keys over several rows, each within 32K characters, and loses no key', () => {
    // 100 keys of 495 characters (the longest the gate accepts): about 50,000 characters for one VM.
    const keys = Object.fromEntries(Array.from({ length: 100 }, (_, k) => [`${'k'.repeat(490)}.${String(k).padStart(4, '0')}`, T - k * 60]));
    const rows = vmCatalogRows('t1', [['vm/1', newest(keys)], ['vm/0', newest({ cpu: T })]]);
    assert.ok(rows.length >= 2, `${rows.length} rows`);
    for (const row of rows) assert.ok(String(row.fields.vms).length <= 32 * 1024, `row ${row.row}: ${String(row.fields.vms).length} characters`);
    assert.deepEqual(plain(readVmCatalog(rows)), { t1: { 'vm/1': keys, 'vm/0': { cpu: T } } });
  });

  it('writes the same rows for the same VMs whatever order they come in (a replay rewrites what it wrote)', () => {
    const vms = [['b', newest({ cpu: T })], ['a', newest({ cpu: T - 60, mem: T })]] as const;
    assert.deepEqual(vmCatalogRows('t', vms), vmCatalogRows('t', [...vms].reverse()));
  });

  it('reads a VM found in several rows with each key\'s newest window, and skips rows it cannot read', () => {
    const older = vmCatalogRows('t1', [['vm1', newest({ cpu: T, mem: T })], ['vm2', newest({ cpu: T })]]);
    const newer = vmCatalogRows('t1', [['vm1', newest({ cpu: T + 60, disk: T })]]).map((r) => ({ ...r, row: '0001' }));
    const broken = { partition: ['vms', 't1'], row: '0002', fields: { vms: '{not json' } };
    const keyRow = { partition: ['key'], row: 'cpu', fields: { key: 'cpu', newest: T } };
    assert.deepEqual(plain(readVmCatalog([...newer, broken, keyRow, ...older])), {
      t1: { vm1: { cpu: T + 60, mem: T, disk: T }, vm2: { cpu: T } },
    });
  });
});
