import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LateMetric } from '../../src/core/windowMath';
import { LateLedger } from '../../projections/lateLedger';
import { readLate } from '../../projections/lateQueries';
import { MemoryRowTable } from '../support/memoryTableStore';
import { TENANT_A, TENANT_B, VM_1, VM_2 } from '../support/metricBuilders';

/** A ledger table holding `metrics`, one page per record (span 1). */
async function ledgerOf(metrics: readonly LateMetric[]): Promise<MemoryRowTable> {
  const table = new MemoryRowTable();
  const ledger = new LateLedger(1);
  for (const m of metrics) ledger.add(m);
  await table.upsert(ledger.take());
  return table;
}

const WATERMARK = 1_700_009_940;

describe('listing the late-events ledger (readLate)', () => {
  it('lists the first `limit` late metrics in log order, of one key or one tenant when asked, over many pages', async () => {
    // Given 30 records (30 pages), each with a metric of tenant A (key cpu) and one of tenant B (key mem).
    const metrics: LateMetric[] = [];
    for (let r = 0; r < 30; r++) {
      metrics.push({ position: 100 * r, index: 0, key: 'win_cpu.percent', tenant: TENANT_A, vm: VM_1, t: 1_700_000_000 + r, value: r, watermark: WATERMARK });
      metrics.push({ position: 100 * r, index: 1, key: 'win_mem.used', tenant: TENANT_B, vm: VM_2, t: 1_700_000_000 + r, value: 1000 + r, watermark: WATERMARK });
    }
    const table = await ledgerOf(metrics);
    const ledgers = [{ scope: '', table }];

    // Then the first three are the first three written, with every field.
    assert.deepEqual(await readLate(ledgers, { limit: 3 }), [
      { key: 'win_cpu.percent', tenant: TENANT_A, vm: VM_1, t: 1_700_000_000, value: 0, watermark: WATERMARK, position: 0, index: 0 },
      { key: 'win_mem.used', tenant: TENANT_B, vm: VM_2, t: 1_700_000_000, value: 1000, watermark: WATERMARK, position: 0, index: 1 },
      { key: 'win_cpu.percent', tenant: TENANT_A, vm: VM_1, t: 1_700_000_001, value: 1, watermark: WATERMARK, position: 100, index: 0 },
    ]);
    // All 60 when asked for more, each once, in order (read on across pages).
    assert.deepEqual((await readLate(ledgers, { limit: 1000 })).map((e) => `${e.position}:${e.index}`), metrics.map((m) => `${m.position}:${m.index}`));
    // Filtered by key: tenant B's 30 metrics, in order; by tenant likewise; by both, none when they do not go together.
    assert.deepEqual((await readLate(ledgers, { limit: 1000, key: 'win_mem.used' })).map((e) => e.value), Array.from({ length: 30 }, (_, r) => 1000 + r));
    assert.deepEqual((await readLate(ledgers, { limit: 25, tenant: TENANT_A })).map((e) => e.position), Array.from({ length: 25 }, (_, r) => 100 * r));
    assert.deepEqual(await readLate(ledgers, { limit: 10, key: 'win_mem.used', tenant: TENANT_A }), []);
    assert.deepEqual(await readLate([{ scope: '', table: new MemoryRowTable() }], { limit: 10 }), [], 'an empty ledger');
  });

  it('merges the ledgers of several Event Hubs partitions by log position, naming the partition of each', async () => {
    const m = (position: number, value: number): LateMetric => ({ position, index: 0, key: 'k', tenant: TENANT_A, vm: VM_1, t: 1_700_000_000, value, watermark: WATERMARK });
    const ledgers = [
      { scope: 'P0', table: await ledgerOf([m(3, 30), m(7, 70)]) },
      { scope: 'P1', table: await ledgerOf([m(3, 31), m(5, 51)]) },
    ];
    const listed = await readLate(ledgers, { limit: 3 });
    assert.deepEqual(listed.map((e) => [e.partition, e.position, e.value]), [['0', 3, 30], ['1', 3, 31], ['1', 5, 51]]);
  });
});
