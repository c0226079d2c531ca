import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { loadSettings } from '../../src/config/settings';
import { encodeEvent } from '../../src/core/logCodec';
import { METRIC_GATE_VERSION } from '../../src/core/metricRejection';
import type { BlockTable, StoredBlock } from '../../src/core/ports';
import { rebuildProjection } from '../../src/rebuildProjection';
import { decodeBlock } from '../../projections/minuteBlocks';
import { metaTable } from '../../projections/projectionCatalog';
import { openTables } from '../../projections/projectionTables';
import { windowsProjection } from '../../projections/windowsProjection';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { MemoryTableStore } from '../support/memoryTableStore';

/** The start of a 15-minute slot. */
const T0 = 1_700_004_000 - (1_700_004_000 % 900);
const TENANTS = ['tenant/A', 'tenant+B', "tenant'C"];
const VMS_PER_TENANT = 200;
const MINUTES = 17;
const KEY = 'win_cpu.percent';

/** A VM's value in a minute says which VM and minute it is. */
const valueOf = (tenant: number, vm: number, minute: number): number => tenant * 100_000 + vm * 100 + minute;

/** A MemoryTableStore that remembers how many blocks each write to a block table carried. */
class CountingStore extends MemoryTableStore {
  readonly writes = new Map<string, number[]>();
  override async blockTable(name: string): Promise<BlockTable> {
    const table = await super.blockTable(name);
    const sizes = this.writes.get(name) ?? [];
    this.writes.set(name, sizes);
    return {
      write: (blocks: readonly StoredBlock[]) => {
        sizes.push(blocks.length);
        return table.write(blocks);
      },
      read: (partition, row) => table.read(partition, row),
      readRange: (partition, from, to) => table.readRange(partition, from, to),
    };
  }
}

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('a rebuild of the windows of many VMs', () => {
  it('writes every VM\'s blocks, a slot sealed while the fold goes on and the last one at the end, a few hundred blocks at a time', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'opsfold-many-vms-'));
    dirs.push(dataDir);
    const log = await FileLog.open(path.join(dataDir, 'log'));
    // 600 VMs of three tenants, 17 minutes: the first slot is sealed when the watermark leaves it, the second written at the end.
    for (let minute = 0; minute < MINUTES; minute++) {
      for (let tenant = 0; tenant < TENANTS.length; tenant++) {
        const metrics = Array.from({ length: VMS_PER_TENANT }, (_, vm) => ({ t: T0 + minute * 60 + 7, tenant: TENANTS[tenant], vm: `vm=${vm}`, key: KEY, value: valueOf(tenant, vm, minute) }));
        await log.append([encodeEvent({ type: 'MetricsReceived', source: 'cli', receivedAtMs: (T0 + minute * 60 + 30) * 1000, gate: METRIC_GATE_VERSION, metrics, rejected: [] })]);
      }
    }
    const { settings } = loadSettings({ tablePrefix: 'mv', dataDir }, {});
    const tables = new CountingStore();
    const versions = new ProjectionVersions(await tables.rowTable(metaTable('mv')));

    const totals = await rebuildProjection({ name: 'windows', log, scope: '', tables, versions, settings, version: 1 });
    await log.close();

    assert.equal(totals.metrics, TENANTS.length * VMS_PER_TENANT * MINUTES);
    const stored = await openTables(tables, windowsProjection.tables, { prefix: 'mv', version: 1 });
    for (let tenant = 0; tenant < TENANTS.length; tenant++) {
      for (let vm = 0; vm < VMS_PER_TENANT; vm++) {
        const blocks = await stored.vmMinute.readRange([TENANTS[tenant], `vm=${vm}`], T0, T0 + 900);
        const windows = blocks.flatMap((b) => decodeBlock(b).get(KEY) ?? []);
        assert.deepEqual(
          windows.map((w) => [w.windowStart, w.count, w.sum, w.revision]),
          Array.from({ length: MINUTES }, (_, minute) => [T0 + minute * 60, 1, valueOf(tenant, vm, minute), 1]),
          `${TENANTS[tenant]} vm=${vm}`,
        );
      }
    }
    const vmWrites = [...tables.writes].find(([name]) => name.includes('VmMinute'))?.[1] ?? [];
    assert.equal(vmWrites.reduce((a, b) => a + b, 0), 2 * TENANTS.length * VMS_PER_TENANT, 'each VM\'s two blocks, once each');
    assert.ok(vmWrites.length >= 4 && vmWrites.every((n) => n <= 256), `writes of ${vmWrites.join(', ')} blocks`);
  });
});
