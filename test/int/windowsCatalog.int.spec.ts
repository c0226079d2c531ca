import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEvent } from '../../src/core/logCodec';
import type { Metric } from '../../src/core/metric';
import { metaTable } from '../../projections/projectionCatalog';
import { openTable } from '../../projections/projectionTables';
import { readVmCatalog } from '../../projections/vmCatalog';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { Projector } from '../../streams/Projector';
import { windowsProjection } from '../../projections/windowsProjection';
import { gatedRig } from '../support/gatedRig';

/** A 15-minute slot start. */
const T0 = 1_700_004_000 - (1_700_004_000 % 900);
const TENANT = "tenant/A+#?'==";
const KEY = 'win_cpu.percent';

const metric = (minute: number, vm: string, key = KEY): Metric => ({ t: T0 + minute * 60 + 7, tenant: TENANT, vm, key, value: minute });

describe('the catalog the windows projection keeps in Table Storage', () => {
  it('after a restart, rewrites a tenant\'s row with the VMs it saw before as well as the new ones, each key at its newest window', async (t) => {
    const { log, tables } = await gatedRig(t, 'catalog');
    const run = async (metrics: Metric[]) => {
      await log.append([encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: 0, metrics, rejected: [] })]);
      await new Projector({
        projection: windowsProjection, config: { windows: { outOfOrderSeconds: 60, idleCloseSeconds: 3600, allowedLatenessSeconds: 1800, maxFutureSeconds: 300 } },
        log, tables, versions: new ProjectionVersions(await tables.rowTable(metaTable('cat'))), tablePrefix: 'cat', version: 1,
        flushIntervalMs: 60_000, follow: false,
      }).run();
    };
    // Given a first run over three VMs of one tenant, then a second one (a restart from the checkpoint) over one of them only.
    await run([metric(0, 'vm/1'), metric(1, 'vm/1', 'win_mem.used'), metric(0, 'vm|2'), metric(2, 'vm#3')]);
    await run([metric(5, 'vm/1')]);

    // Then the tenant's row lists all three VMs, vm/1 with its newer window for the key it saw again.
    const catalog = await openTable(tables, windowsProjection.tables.catalog, { prefix: 'cat', version: 1 });
    const rows = await catalog.list({ partition: ['vms', TENANT] });
    assert.equal(rows.length, 1, 'one row for the tenant');
    const vms = readVmCatalog(rows).get(TENANT)!;
    assert.deepEqual(Object.fromEntries([...vms].map(([vm, keys]) => [vm, Object.fromEntries(keys)])), {
      'vm/1': { [KEY]: T0 + 5 * 60, 'win_mem.used': T0 + 60 },
      'vm|2': { [KEY]: T0 },
      'vm#3': { [KEY]: T0 + 2 * 60 },
    });
    assert.deepEqual((await catalog.list({ partition: ['key'] })).map((r) => [r.row, r.fields.newest]), [[KEY, T0 + 5 * 60], ['win_mem.used', T0 + 60]]);
  });
});
