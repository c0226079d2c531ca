import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MinuteBlocks, decodeBlock } from '../../projections/minuteBlocks';
import { MergedBlockTable, newerCatalogRow, UnionRowTable } from '../../projections/scopedTables';
import { readVmCatalog, vmCatalogRows } from '../../projections/vmCatalog';
import type { WindowEvent } from '../../src/core/windowMath';
import { MemoryBlockTable, MemoryRowTable } from '../support/memoryTableStore';

const SLOT = 1648638000;
const KEY = 'win_cpu.percent';

/** A cross-tenant window as one log partition folded it. */
const part = (windowStart: number, values: number[], revision = 1): WindowEvent => {
  const sum = values.reduce((a, b) => a + b, 0);
  return { key: KEY, windowStart, count: values.length, sum, min: Math.min(...values), max: Math.max(...values), avg: sum / values.length, revision };
};

async function scopeTable(windows: WindowEvent[]): Promise<MemoryBlockTable> {
  const blocks = new MinuteBlocks('minute', true);
  for (const w of windows) blocks.apply(w);
  const table = new MemoryBlockTable();
  await table.write(blocks.takeDirty(7));
  return table;
}

describe('reading the scopes of several log partitions as one', () => {
  it('merges partial cross-tenant windows: counts and sums add, min and max combine, revisions add', async () => {
    const p0 = await scopeTable([part(SLOT, [1, 9]), part(SLOT + 60, [4], 2)]);
    const p1 = await scopeTable([part(SLOT, [5, -3, 20]), part(SLOT + 120, [2.5])]);
    const merged = await new MergedBlockTable([p0, p1]).readRange([KEY], SLOT - 900, SLOT + 900);
    assert.equal(merged.length, 1);
    const windows = decodeBlock(merged[0]).get('')!;
    // Expected values from the raw metrics of both partitions, computed here.
    assert.deepEqual(windows, [
      { windowStart: SLOT, count: 5, sum: 1 + 9 + 5 - 3 + 20, min: -3, max: 20, revision: 2 },
      { windowStart: SLOT + 60, count: 1, sum: 4, min: 4, max: 4, revision: 2 },
      { windowStart: SLOT + 120, count: 1, sum: 2.5, min: 2.5, max: 2.5, revision: 1 },
    ]);
  });

  it('passes a single scope through unchanged', async () => {
    const p0 = await scopeTable([part(SLOT, [1, 9])]);
    assert.deepEqual(await new MergedBlockTable([p0]).read([KEY], SLOT), await p0.read([KEY], SLOT));
  });

  it('lists rows of all scopes in order, a catalog key seen by two scopes once with its newest window', async () => {
    const a = new MemoryRowTable();
    const b = new MemoryRowTable();
    await a.upsert([{ partition: ['key'], row: 'cpu', fields: { key: 'cpu', newest: 600 } }, ...vmCatalogRows('t1', [['vm1', new Map([['cpu', 600]])]])]);
    await b.upsert([{ partition: ['key'], row: 'cpu', fields: { key: 'cpu', newest: 900 } }, { partition: ['key'], row: 'mem', fields: { key: 'mem', newest: 60 } }]);
    const union = new UnionRowTable([a, b], newerCatalogRow);
    assert.deepEqual((await union.list({ partition: ['key'] })).map((r) => [r.row, r.fields.newest]), [['cpu', 900], ['mem', 60]]);
    assert.equal((await union.get(['key'], 'cpu'))?.fields.newest, 900);
    assert.equal((await union.list()).length, 3);
    assert.equal((await union.list({ limit: 1 })).length, 1);
    await assert.rejects(union.upsert(), /read-only/);
  });

  it('reads a tenant whose VMs two scopes have written with all of them, each key at its newest window', async () => {
    const a = new MemoryRowTable();
    const b = new MemoryRowTable();
    await a.upsert(vmCatalogRows('t1', [['vm1', new Map([['cpu', 600], ['mem', 900]])], ['vm2', new Map([['cpu', 60]])]]));
    await b.upsert(vmCatalogRows('t1', [['vm1', new Map([['cpu', 1200]])], ['vm3', new Map([['cpu', 300]])]]));
    const rows = await new UnionRowTable([a, b], newerCatalogRow).list({ partition: ['vms', 't1'] });
    const vms = readVmCatalog(rows).get('t1')!;
    assert.deepEqual(Object.fromEntries([...vms].map(([vm, keys]) => [vm, Object.fromEntries(keys)])), {
      vm1: { cpu: 1200, mem: 900 }, vm2: { cpu: 60 }, vm3: { cpu: 300 },
    });
  });
});
