import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadSettings } from '../../src/config/settings';
import { encodeEvent } from '../../src/core/logCodec';
import type { Metric } from '../../src/core/metric';
import type { RowTable } from '../../src/core/ports';
import { rebuildProjection } from '../../src/rebuildProjection';
import { readLate } from '../../projections/lateQueries';
import { metaTable } from '../../projections/projectionCatalog';
import { openTable } from '../../projections/projectionTables';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { Projector } from '../../streams/Projector';
import { windowsProjection } from '../../projections/windowsProjection';
import { gatedRig } from '../support/gatedRig';
import { TENANT_A, TENANT_B, VM_1 } from '../support/metricBuilders';

/** A minute start; the recent metrics are at T, the late ones two hours (far beyond the 1,800 s lateness) before. */
const T = 1_700_006_400;
const OLD = T - 7200;
const WINDOWS = { outOfOrderSeconds: 60, idleCloseSeconds: 3600, allowedLatenessSeconds: 1800, maxFutureSeconds: 300 };

const record = (metrics: Metric[]): Buffer => encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: 0, metrics, rejected: [] });

describe('the late-events ledger in Table Storage', () => {
  it('a replay of a log of mostly too-late metrics folds each of them into the ledger exactly once', async (t) => {
    const { dir, log, tables } = await gatedRig(t, 'late-replay');
    // Given a recent metric, then 24 records of 1,000 metrics two hours older, each with a value of its own
    // (and a VM id of 200 characters of its own, which the gate accepts beside its tenant, so that the pages waiting to be written pass their bound mid-fold).
    const N = 24_000;
    await log.append([record([{ t: T, tenant: TENANT_A, vm: VM_1, key: 'win_cpu.percent', value: -1 }])]);
    for (let r = 0; r < N / 1000; r++) {
      const metrics = Array.from({ length: 1000 }, (_, i): Metric => {
        const n = r * 1000 + i;
        return { t: OLD + (n % 600), tenant: n % 2 ? TENANT_A : TENANT_B, vm: `vm-${n}`.padEnd(200, 'x'), key: `win_disk.d${n % 7}`, value: n };
      });
      await log.append([record(metrics)]);
    }

    // When the windows projection is rebuilt as `opsfold replay` rebuilds it
    const settings = loadSettings({ dataDir: dir, tablePrefix: 'lr' }, {}).settings;
    const versions = new ProjectionVersions(await tables.rowTable(metaTable('lr')));
    const totals = await rebuildProjection({ name: 'windows', log, scope: '', tables, versions, settings, version: 1 });

    // Then the ledger lists every one of the 24,000 once, in log order, and nothing else.
    assert.equal(totals.late, N);
    const ledger = [{ scope: '', table: await openTable(tables, windowsProjection.tables.late, { prefix: 'lr', version: 1 }) }];
    const listed = await readLate(ledger, { limit: N + 10 });
    assert.equal(listed.length, N);
    assert.deepEqual(listed.map((e) => e.value), Array.from({ length: N }, (_, n) => n));
    assert.equal(new Set(listed.map((e) => `${e.position}:${e.index}`)).size, N);
    const firstPosition = listed[0].position;
    assert.deepEqual(listed[0], { key: 'win_disk.d0', tenant: TENANT_B, vm: 'vm-0'.padEnd(200, 'x'), t: OLD, value: 0, watermark: T - 60, position: firstPosition, index: 0 });
    assert.deepEqual(listed[1001], { key: 'win_disk.d0', tenant: TENANT_A, vm: 'vm-1001'.padEnd(200, 'x'), t: OLD + 401, value: 1001, watermark: T - 60, position: listed[1000].position, index: 1 });
    assert.ok(listed[1000].position > firstPosition);
  });

  it('after a crash between writing the ledger and the checkpoint, a restart lists each late metric once', async (t) => {
    const { log, tables } = await gatedRig(t, 'late-crash');
    const versions = (meta: RowTable) => new ProjectionVersions(meta);
    const meta = await tables.rowTable(metaTable('lc'));
    let checkpointsFail = false;
    // The checkpoint's table fails its writes while `checkpointsFail`: the projector has written its other tables by then.
    const failingMeta: RowTable = { ...meta, upsert: async (rows) => {
      if (checkpointsFail) throw new Error('the table store failed the checkpoint');
      return meta.upsert(rows);
    } };
    const run = (m: RowTable) => new Projector({ projection: windowsProjection, config: { windows: WINDOWS }, log, tables, versions: versions(m), tablePrefix: 'lc', version: 1, flushIntervalMs: 60_000, follow: false }).run();
    const lateOf = (value: number): Metric => ({ t: OLD + value, tenant: TENANT_A, vm: VM_1, key: 'win_cpu.percent', value });
    const listed = async () => (await readLate([{ scope: '', table: await openTable(tables, windowsProjection.tables.late, { prefix: 'lc', version: 1 }) }], { limit: 100 })).map((e) => e.value);

    // Given a first run over a recent metric and three too-late ones (checkpointed)
    await log.append([record([{ t: T, tenant: TENANT_A, vm: VM_1, key: 'win_cpu.percent', value: 50 }])]);
    await log.append([record([lateOf(1), lateOf(2), lateOf(3)])]);
    await run(meta);
    // and a second run over two more that wrote the ledger, then failed to checkpoint (a crash there).
    await log.append([record([lateOf(4), lateOf(5)])]);
    checkpointsFail = true;
    await assert.rejects(run(failingMeta), /failed the checkpoint/);
    assert.deepEqual(await listed(), [1, 2, 3, 4, 5], 'the ledger was written before the checkpoint failed');

    // When the projector starts again from the last checkpoint (inside the same page), with one more late metric in the log
    checkpointsFail = false;
    const d = await log.end();
    await log.append([record([lateOf(6)])]);
    await run(meta);

    // Then every late metric is listed once, the new one as it came.
    assert.deepEqual(await listed(), [1, 2, 3, 4, 5, 6]);
    const [last] = (await readLate([{ scope: '', table: await openTable(tables, windowsProjection.tables.late, { prefix: 'lc', version: 1 }) }], { limit: 100 })).slice(-1);
    assert.deepEqual(last, { key: 'win_cpu.percent', tenant: TENANT_A, vm: VM_1, t: OLD + 6, value: 6, watermark: T - 60, position: d, index: 0 });
  });
});
