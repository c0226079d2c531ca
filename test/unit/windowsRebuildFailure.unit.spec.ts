import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEvent } from '../../src/core/logCodec';
import type { Metric } from '../../src/core/metric';
import type { TableStore } from '../../src/core/ports';
import { metaTable } from '../../projections/projectionCatalog';
import { tableName } from '../../projections/projectionTables';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { Projector } from '../../streams/Projector';
import { windowsProjection } from '../../projections/windowsProjection';
import { MemoryEventLog } from '../support/memoryEventLog';
import { MemoryTableStore } from '../support/memoryTableStore';
import { failingBlockWrites } from '../support/failingBlockWrites';

/** A 15-minute slot start. */
const T0 = 1_700_004_000 - (1_700_004_000 % 900);

/** A store whose per-VM block table fails its first write (and only that one). */
function failingFirstVmWrite(inner: TableStore, vmTable: string): TableStore {
  let failed = false;
  return failingBlockWrites(inner, (name, blocks) => {
    if (failed || name !== vmTable || blocks.length === 0) return undefined;
    failed = true;
    return new Error('the table store failed this write');
  });
}

describe('the windows projection, a rebuild', () => {
  it('fails, and leaves no checkpoint, when the write of a sealed slot fails while the fold goes on', async () => {
    // Given a log of two slots (the first is sealed, and written, while the second is folded) and a store that fails that write.
    const log = new MemoryEventLog(() => (T0 + 3600) * 1000);
    for (let minute = 0; minute < 20; minute++) {
      const metrics: Metric[] = [{ t: T0 + minute * 60 + 7, tenant: 't1', vm: 'vm1', key: 'win_cpu.percent', value: minute }];
      await log.append([encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: 0, metrics, rejected: [] })]);
    }
    const memory = new MemoryTableStore();
    const tables = failingFirstVmWrite(memory, tableName(windowsProjection.tables.vmMinute, { prefix: 'fail', version: 1 }));
    const versions = new ProjectionVersions(await memory.rowTable(metaTable('fail')));
    const projector = new Projector({
      projection: windowsProjection, config: { windows: { outOfOrderSeconds: 60, idleCloseSeconds: 3600, allowedLatenessSeconds: 1800, maxFutureSeconds: 300 } },
      log, tables, versions, tablePrefix: 'fail', version: 1,
      flushIntervalMs: 60_000, follow: false,
    });

    // Then the rebuild fails with that error, and no checkpoint claims what was not written.
    await assert.rejects(projector.run(), /failed this write/);
    assert.equal(await versions.checkpoint('windows', 1), undefined);
  });
});
