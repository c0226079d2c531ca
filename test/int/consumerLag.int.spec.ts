import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadSettings } from '../../src/config/settings';
import { Ingestor } from '../../src/core/Ingestor';
import { validateSpocMessage } from '../../src/core/validateSpoc';
import { arrivingNow } from '../support/metricBuilders';
import { LocalProjections } from '../../src/localProjections';
import { metaTable } from '../../projections/projectionCatalog';
import { tableName } from '../../projections/projectionTables';
import { windowsProjection } from '../../projections/windowsProjection';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { eventually } from '../support/eventually';
import { gatedRig } from '../support/gatedRig';

const T0 = 1_700_003_000 - (1_700_003_000 % 900);

/** Minute n of one VM, with one metric the API rejects (the rejects projection gets a row). */
const message = (n: number) => ({
  metrics: [
    { timestamp: T0 + n * 60, MaskedTenantId: 'tenant/A+==', MaskedVMName: 'vm/1', PerfType: 'win_cpu', PerfName: 'percent', PerfValue: n },
    { timestamp: T0 + n * 60, MaskedTenantId: 'tenant/A+==', MaskedVMName: 'vm/1', PerfType: 'win_cpu', PerfName: 'percent', PerfValue: 'high' },
  ],
});

describe('consumer lag on the file log', () => {
  it('a projection whose tables do not yet reflect the newest appends lags by the bytes it has yet to fold (log end − its position), and by 0 once it catches up', async (t) => {
    const { dir, log, tables, later } = await gatedRig(t, 'lag');
    const { settings } = loadSettings({ dataDir: dir, tablePrefix: 'lag', flushIntervalMs: 100, idleCloseSeconds: 1 }, {});
    const projections = new LocalProjections({ settings, log, tables, versions: new ProjectionVersions(await tables.rowTable(metaTable('lag'))) });
    await projections.start();
    later({ close: () => projections.stop() });
    const ingestor = new Ingestor(log);
    const lagBytes = async () => {
      const lag = await projections.consumerLag();
      assert.ok('bytes' in lag, 'the file log counts bytes');
      return lag.bytes;
    };

    // Given every projection caught up with the log.
    await ingestor.ingest(validateSpocMessage(message(0), arrivingNow()), 'http');
    assert.deepEqual(await eventually('every projection caught up', async () => {
      const bytes = await lagBytes();
      return Object.keys(bytes).length === 3 && Object.values(bytes).every((n) => n === 0) && bytes;
    }), { windows: 0, rejects: 0, backlog: 0 });
    const folded = await log.end();
    assert.equal(projections.stats.position, folded);

    // When the windows projector cannot write its blocks, and more is appended.
    const [minute, vmMinute] = [windowsProjection.tables.minute, windowsProjection.tables.vmMinute].map((spec) => tableName(spec, { prefix: 'lag', version: 1 }));
    tables.hold((table) => table === minute || table === vmMinute);
    await ingestor.ingest(validateSpocMessage(message(1), arrivingNow()), 'http');
    await ingestor.ingest(validateSpocMessage(message(2), arrivingNow()), 'http');
    const end = await log.end();

    // Then the others fold on, and the windows projection lags by what it has not made durable.
    const held = await eventually('rejects and backlog caught up', async () => {
      const bytes = await lagBytes();
      return bytes.rejects === 0 && bytes.backlog === 0 && bytes;
    });
    assert.ok(end > folded);
    assert.deepEqual(held, { windows: end - folded, rejects: 0, backlog: 0 });
    assert.equal(held.windows, end - projections.stats.position!);

    // And once it can write again, it catches up.
    tables.release();
    await eventually('the windows projection caught up', async () => (await lagBytes()).windows === 0);
    assert.equal(projections.stats.position, end);
  });
});
