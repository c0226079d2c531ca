import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventHubConsumerClient, EventHubProducerClient } from '@azure/event-hubs';
import { BlobServiceClient } from '@azure/storage-blob';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { captureArchiveFrom } from '../../src/adapters/capture/captureArchiveFrom';
import { EventHubsAppender } from '../../src/adapters/eventHubs/EventHubsAppender';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import { replayPartitions, type ReplayHistory } from '../../src/cli/replayEventHubs';
import { loadSettings } from '../../src/config/settings';
import { Ingestor } from '../../src/core/Ingestor';
import type { EventLog } from '../../src/core/ports';
import { HistoryGapError } from '../../src/core/sequenceGaps';
import { validateSpocMessage } from '../../src/core/validateSpoc';
import { metaTable } from '../../projections/projectionCatalog';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { CaptureWriter } from '../support/amqp/captureWriter';
import { startAmqpEmulator } from '../support/amqp/startAmqpEmulator';
import { closeLater } from '../support/closeLater';
import { arrivingNow } from '../support/metricBuilders';
import { crossTenantMinutes, windowsFold } from '../support/windowsRig';

const HUB = 'opsfold-events';
const T0 = 1_700_004_000 - (1_700_004_000 % 900);

async function setup(t: TestContext, partitions: number) {
  const later = closeLater(t);
  const emu = later(await startAmqpEmulator({ eventHubs: [{ name: HUB, partitions }] }));
  const azurite = await EmbeddedAzurite.start({ blob: true });
  later({ close: () => azurite.stop() });
  const container = BlobServiceClient.fromConnectionString(azurite.blobConnectionString!).getContainerClient('capture');
  await container.create();
  const hub = emu.hub(HUB);
  const writer = new CaptureWriter({ hub, container, namespace: '127.0.0.1' });
  const env = { EVENTHUBS_CONNECTION_STRING: emu.connectionString(), EVENTHUB_NAME: HUB, OPSFOLD_TABLE_PREFIX: 'cap' };
  const { settings } = loadSettings({}, { ...env, CAPTURE_STORAGE_CONNECTION_STRING: azurite.blobConnectionString!, CAPTURE_CONTAINER: 'capture' });
  const producer = later(new EventHubProducerClient(emu.connectionString(), HUB));
  /** Replays every partition into a fold that lists what it was handed: sequence number and body, per partition. */
  const replayListing = async (history: ReplayHistory) => {
    const seen = new Map<string, { n: number; body: string }[]>();
    const fold = async (log: EventLog, _scope: string, partitionId: string) => {
      const list: { n: number; body: string }[] = [];
      seen.set(partitionId, list);
      for await (const records of log.read(0)) list.push(...records.map((r) => ({ n: r.position, body: r.payload.toString() })));
    };
    const outcome = await replayPartitions(settings, fold, undefined, new EventHubConsumerClient('$Default', emu.connectionString(), HUB), undefined, history);
    return { seen, outcome };
  };
  /** Events with bodies "p<partition>-<n>" for n in [first, first + count). */
  const send = async (partitionId: string, first: number, count: number) => {
    const batch = await producer.createBatch({ partitionId });
    for (let n = first; n < first + count; n++) assert.ok(batch.tryAdd({ body: Buffer.from(`p${partitionId}-${n}`) }));
    await producer.sendBatch(batch);
  };
  return { later, emu, hub, writer, container, settings, azurite, producer, replayListing, send, capture: captureArchiveFrom(settings)! };
}

const bodies = (partitionId: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ({ n: from + i, body: `p${partitionId}-${from + i}` }));

describe('opsfold replay on Event Hubs reads Capture, then the hub', () => {
  it('after the retention dropped most of the history, the rebuilt windows are those of the whole history', async (t) => {
    const { hub, writer, settings, azurite, producer } = await setup(t, 3);
    const ingestor = new Ingestor(new EventHubsAppender(producer));
    // Tenant i sends value 10·i + m for minute m (two metrics a message); the cross-tenant window of minute m holds them all.
    const tenants = ['t/1', 't+2', 't=3', "t'4", 't#5', 't%6'];
    const sendMinute = async (m: number) => {
      for (const [i, tenant] of tenants.entries()) {
        await ingestor.ingest(validateSpocMessage({ metrics: [0, 30].map((s) => ({ timestamp: T0 + m * 60 + s, MaskedTenantId: tenant, MaskedVMName: 'vm', PerfType: 'cpu', PerfName: 'pct', PerfValue: 10 * i + m })) }, arrivingNow()), 'http');
      }
    };
    await sendMinute(0);
    await sendMinute(1);
    await writer.capture();
    await sendMinute(2);
    await writer.capture({ codec: 'deflate' });
    await writer.capture(); // a window with nothing: empty files
    const retainedFrom = new Date();
    await sendMinute(3);
    await writer.capture({ partitions: ['0'] }); // partition 0's last window overlaps what the hub retains
    await sendMinute(4);
    // The retention leaves minutes 3 and 4 only: minutes 0 to 2 are in Capture alone.
    assert.ok(hub.expireEnqueuedBefore(retainedFrom) >= tenants.length * 3);

    const tables = TableStorageStore.fromConnectionString(azurite.tableConnectionString);
    const versions = new ProjectionVersions(await tables.rowTable(metaTable('cap')));
    const capture = captureArchiveFrom(settings)!;
    const outcome = await replayPartitions(settings, windowsFold({ tables, versions, settings, prefix: 'cap', version: 1 }), undefined,
      new EventHubConsumerClient('$Default', settings.eventHubsConnectionString!, HUB), undefined, { capture });

    assert.deepEqual(outcome.gaps, []);
    assert.equal(outcome.events, tenants.length * 5, 'every message once');
    assert.equal(outcome.captured, writer.files.reduce((n, f) => n + f.sequenceNumbers.length, 0), 'everything captured was read from Capture');
    assert.deepEqual(await crossTenantMinutes({ tables, versions, prefix: 'cap', version: 1 }, 'cpu.pct', T0), [0, 1, 2, 3, 4].map((m) => [
      T0 + m * 60, 2 * tenants.length, 2 * tenants.reduce((s, _, i) => s + 10 * i + m, 0), m, 10 * (tenants.length - 1) + m,
    ]));
  });

  it('at the seam each event is read once, whether Capture and the hub overlap or Capture ends just before the earliest retained event', async (t) => {
    const { hub, writer, replayListing, send, capture } = await setup(t, 2);
    await send('0', 0, 30);
    await send('1', 0, 30);
    await writer.capture({ codec: 'deflate' });
    await send('0', 30, 20);
    await send('1', 30, 20);
    hub.expireBefore('0', 20); // 20..29 are both captured and retained
    hub.expireBefore('1', 30); // Capture ends at 29, the hub begins at 30

    const { seen, outcome } = await replayListing({ capture });
    assert.deepEqual(seen.get('0'), bodies('0', 0, 49));
    assert.deepEqual(seen.get('1'), bodies('1', 0, 49));
    assert.deepEqual([outcome.events, outcome.captured, outcome.gaps], [100, 60, []]);
  });

  it('a true gap is refused before anything is folded, naming the missing sequence numbers; --allow-gap goes on and records it', async (t) => {
    const { hub, writer, replayListing, send, capture } = await setup(t, 1);
    await send('0', 0, 30);
    await writer.capture({ upTo: 19 });
    hub.expireBefore('0', 25); // 20..24 left the hub before Capture wrote them

    const refused = await replayListing({ capture }).then(() => undefined, (e: unknown) => e);
    assert.ok(refused instanceof HistoryGapError, String(refused));
    assert.deepEqual(refused.gaps, [{ partitionId: '0', from: 20, to: 24 }]);
    assert.match(refused.message, /partition 0: sequence numbers 20\.\.24 \(5 events\)/);

    const { seen, outcome } = await replayListing({ capture, allowGap: true });
    assert.deepEqual(seen.get('0'), [...bodies('0', 0, 19), ...bodies('0', 25, 29)]);
    assert.deepEqual(outcome.gaps, [{ partitionId: '0', from: 20, to: 24 }]);
  });

  it('without Capture, a hub past its retention is refused naming what it lost', async (t) => {
    const { hub, replayListing, send } = await setup(t, 1);
    await send('0', 0, 10);
    hub.expireBefore('0', 4);
    await assert.rejects(replayListing({}), (e: unknown) => e instanceof HistoryGapError && /not configured.*sequence numbers 0\.\.3 \(4 events\)/.test(e.message));
    const { seen, outcome } = await replayListing({ allowGap: true });
    assert.deepEqual([seen.get('0'), outcome.gaps], [bodies('0', 4, 9), [{ partitionId: '0', from: 0, to: 3 }]]);
  });

  it('a Capture file gone from the middle is a gap found while reading: it stops the rebuild, or is recorded with --allow-gap', async (t) => {
    const { hub, writer, replayListing, send, capture, container } = await setup(t, 1);
    for (let w = 0; w < 3; w++) {
      await send('0', w * 10, 10);
      await writer.capture();
    }
    hub.expireBefore('0', 30);
    await send('0', 30, 5);
    await container.deleteBlob(writer.files[1].name);

    await assert.rejects(replayListing({ capture }), (e: unknown) => e instanceof HistoryGapError && e.gaps.length === 1 && e.gaps[0].from === 10 && e.gaps[0].to === 19);
    const { seen, outcome } = await replayListing({ capture, allowGap: true });
    assert.deepEqual(seen.get('0'), [...bodies('0', 0, 9), ...bodies('0', 20, 34)]);
    assert.deepEqual(outcome.gaps, [{ partitionId: '0', from: 10, to: 19 }]);
  });
});
