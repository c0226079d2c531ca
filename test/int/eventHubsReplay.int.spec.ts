import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventHubConsumerClient, EventHubProducerClient } from '@azure/event-hubs';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { EventHubsAppender } from '../../src/adapters/eventHubs/EventHubsAppender';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import { replayPartitions } from '../../src/cli/replayEventHubs';
import { loadSettings } from '../../src/config/settings';
import { Ingestor } from '../../src/core/Ingestor';
import { validateSpocMessage } from '../../src/core/validateSpoc';
import { arrivingNow } from '../support/metricBuilders';
import { decodeBlock } from '../../projections/minuteBlocks';
import { metaTable } from '../../projections/projectionCatalog';
import { openMerged } from '../../projections/projectionTables';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { Projector } from '../../streams/Projector';
import { windowsProjection } from '../../projections/windowsProjection';
import { startAmqpEmulator } from '../support/amqp/startAmqpEmulator';
import { closeLater } from '../support/closeLater';

const HUB = 'opsfold-events';
const T0 = 1_700_001_000 - (1_700_001_000 % 900);

describe('opsfold replay over Event Hubs', () => {
  it('rebuilds every partition into its own scope up to the end the hub had, merged windows equal a batch computation', async (t: TestContext) => {
    const later = closeLater(t);
    const emu = later(await startAmqpEmulator({ eventHubs: [{ name: HUB, partitions: 3 }] }));
    const azurite = await EmbeddedAzurite.start();
    later({ close: () => azurite.stop() });
    const { settings } = loadSettings({}, { EVENTHUBS_CONNECTION_STRING: emu.connectionString(), EVENTHUB_NAME: HUB, OPSFOLD_TABLE_PREFIX: 'rp' });
    const producer = later(new EventHubProducerClient(emu.connectionString(), HUB));
    const ingestor = new Ingestor(new EventHubsAppender(producer));
    // Tenant i sends value 10·i + m for minute m; the cross-tenant window of minute m then holds them all.
    const tenants = ['t/1', 't+2', 't=3', "t'4", 't#5'];
    for (const [i, tenant] of tenants.entries()) {
      for (let m = 0; m < 4; m++) {
        await ingestor.ingest(validateSpocMessage({ metrics: [{ timestamp: T0 + m * 60 + i, MaskedTenantId: tenant, MaskedVMName: 'vm', PerfType: 'cpu', PerfName: 'pct', PerfValue: 10 * i + m }] }, arrivingNow()), 'http');
      }
    }
    const tables = TableStorageStore.fromConnectionString(azurite.tableConnectionString);
    const versions = new ProjectionVersions(await tables.rowTable(metaTable('rp')));
    const progress: number[] = [];
    await replayPartitions(settings, (log, scope) => new Projector({
      projection: windowsProjection, config: { windows: settings },
      log, tables, versions, tablePrefix: 'rp', version: 1, flushIntervalMs: 5000, follow: false, scope,
    }).run().then(() => undefined), (done) => progress.push(done), new EventHubConsumerClient('$Default', emu.connectionString(), HUB));

    assert.equal(progress[progress.length - 1], tenants.length * 4, 'every event read once');
    const scopes = await versions.scopes('windows', 1);
    assert.ok(scopes.length > 1 && scopes.every((s) => /^P\d$/.test(s)), `one scope per partition with data: ${scopes}`);
    const merged = await openMerged(tables, windowsProjection.tables.minute, { prefix: 'rp', version: 1, scopes });
    const windows = decodeBlock((await merged.read(['cpu.pct'], T0))!).get('')!;
    assert.deepEqual(windows.map((w) => [w.windowStart, w.count, w.sum, w.min, w.max]), [0, 1, 2, 3].map((m) => [
      T0 + m * 60, tenants.length, tenants.reduce((s, _, i) => s + 10 * i + m, 0), m, 10 * (tenants.length - 1) + m,
    ]));
  });
});
