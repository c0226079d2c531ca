import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventHubConsumerClient, EventHubProducerClient } from '@azure/event-hubs';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { BlobServiceClient } from '@azure/storage-blob';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { captureArchiveFrom } from '../../src/adapters/capture/captureArchiveFrom';
import { EventHubsAppender } from '../../src/adapters/eventHubs/EventHubsAppender';
import { HubHistory } from '../../src/adapters/eventHubs/HubHistory';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import { loadSettings } from '../../src/config/settings';
import { Ingestor } from '../../src/core/Ingestor';
import { validateSpocMessage } from '../../src/core/validateSpoc';
import { DistributedProjections } from '../../src/distributed';
import { decodeBlock } from '../../projections/minuteBlocks';
import { metaTable } from '../../projections/projectionCatalog';
import { openMerged } from '../../projections/projectionTables';
import { windowsProjection } from '../../projections/windowsProjection';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { CaptureWriter } from '../support/amqp/captureWriter';
import { startAmqpEmulator } from '../support/amqp/startAmqpEmulator';
import { closeLater } from '../support/closeLater';
import { eventually } from '../support/eventually';
import { arrivingNow, crossTenantReference } from '../support/metricBuilders';

const HUB = 'opsfold-events';
const T0 = 1_700_000_040 - (1_700_000_040 % 900);
const TENANTS = ['tenant/A+==', 'tenant/B#?', "tenant'C", 'tenant D'];
type Aggregate = { count: number; sum: number; min: number; max: number };
type Message = { metrics: Record<string, unknown>[] };

/** Every tenant sends two metrics in each of the minutes. */
const messagesOf = (minutes: number[]): Message[] => TENANTS.flatMap((_, t) => minutes.map((n) => ({
  metrics: [5, 35].map((s) => ({ timestamp: T0 + n * 60 + s, MaskedTenantId: TENANTS[t], MaskedVMName: 'vm/1', PerfType: 'cpu', PerfName: 'pct', PerfValue: (t + 1) * 10 + n + s / 100 })),
})));

const expected = (messages: Message[]) => crossTenantReference(messages.flatMap((m) => m.metrics).map((x) => ({ t: x.timestamp as number, key: 'cpu.pct', value: x.PerfValue as number })));
const same = (got: Map<string, Aggregate>, want: Map<string, Aggregate>) => got.size === want.size && [...want].every(([id, w]) => {
  const g = got.get(id);
  return g !== undefined && g.count === w.count && Math.abs(g.sum - w.sum) < 1e-9 && g.min === w.min && g.max === w.max;
});

async function setup(t: TestContext, withCapture: boolean) {
  const later = closeLater(t);
  const emu = later(await startAmqpEmulator({ eventHubs: [{ name: HUB, partitions: 2 }] }));
  const azurite = await EmbeddedAzurite.start({ blob: true });
  later({ close: () => azurite.stop() });
  const blobs = BlobServiceClient.fromConnectionString(azurite.blobConnectionString!);
  await blobs.getContainerClient('capture').create();
  const hub = emu.hub(HUB);
  const writer = new CaptureWriter({ hub, container: blobs.getContainerClient('capture'), namespace: '127.0.0.1' });
  const { settings } = loadSettings({}, {
    EVENTHUBS_CONNECTION_STRING: emu.connectionString(), EVENTHUB_NAME: HUB, OPSFOLD_TABLE_PREFIX: 'ar', OPSFOLD_FLUSH_INTERVAL_MS: '100',
    WINDOW_IDLE_CLOSE_SECONDS: '1', CHECKPOINT_STORAGE_CONNECTION_STRING: azurite.blobConnectionString,
    ...(withCapture ? { CAPTURE_STORAGE_CONNECTION_STRING: azurite.blobConnectionString!, CAPTURE_CONTAINER: 'capture' } : {}),
  });
  const tables = TableStorageStore.fromConnectionString(azurite.tableConnectionString);
  const versions = new ProjectionVersions(await tables.rowTable(metaTable('ar')));
  const retryOptions = { maxRetries: 2, retryDelayInMs: 100 };
  const ingestor = new Ingestor(new EventHubsAppender(later(new EventHubProducerClient(emu.connectionString(), HUB, { retryOptions }))));
  const ingest = async (messages: Message[]) => {
    for (const m of messages) await ingestor.ingest(validateSpocMessage(m, arrivingNow()), 'http');
  };
  /**
   * An instance whose hub checkpoints live in their own container (`hubCheckpoints`), as those of
   * the versions a rebuild activates do; the projectors' checkpoints are the shared ones.
   */
  const instance = (hubCheckpoints: string) => {
    const history = new HubHistory({ capture: captureArchiveFrom(settings) });
    let store: BlobCheckpointStore | undefined;
    let namespace = '';
    const projections = new DistributedProjections({
      settings, tables, versions, versionPollMs: 200, history,
      connect: async () => {
        const client = blobs.getContainerClient(hubCheckpoints);
        await client.createIfNotExists();
        store = new BlobCheckpointStore(client);
        const consumer = new EventHubConsumerClient('$Default', emu.connectionString(), HUB, store, {
          retryOptions, loadBalancingOptions: { strategy: 'greedy', updateIntervalInMs: 200, partitionOwnershipExpirationIntervalInMs: 1500 },
        });
        namespace = consumer.fullyQualifiedNamespace;
        return { consumer, checkpointStore: store };
      },
    });
    later({ close: () => projections.stop() });
    /** Whether the hub's checkpoint of every partition is at its last event. */
    const checkpointedAll = async () => {
      const held = new Map((await store!.listCheckpoints(namespace, HUB, '$Default')).map((c) => [c.partitionId, c.sequenceNumber]));
      return hub.partitionIds.every((id) => held.get(id) === hub.events(id).at(-1)?.sequenceNumber);
    };
    return { projections, history, checkpointedAll };
  };
  const readCross = async (): Promise<Map<string, Aggregate>> => {
    const merged = await openMerged(tables, windowsProjection.tables.minute, { prefix: 'ar', version: 1, scopes: await versions.scopes('windows', 1) });
    const out = new Map<string, Aggregate>();
    for (const block of await merged.readRange(['cpu.pct'], T0 - 900, T0 + 900)) {
      for (const w of decodeBlock(block).get('') ?? []) out.set(`cpu.pct@${w.windowStart}`, { count: w.count, sum: w.sum, min: w.min, max: w.max });
    }
    return out;
  };
  return { hub, writer, instance, ingest, readCross };
}

describe('an instance whose hub checkpoints are new but whose projectors have folded the history (as after a rebuild)', () => {
  it('with Capture, does not read Capture again: it goes on from the projectors\' checkpoints, every window exact', async (t) => {
    const { hub, writer, instance, ingest, readCross } = await setup(t, true);
    const first = messagesOf([0, 1, 2, 3]);
    await ingest(first);
    await writer.capture();
    for (const id of hub.partitionIds) hub.expireBefore(id, hub.events(id).at(-1)!.sequenceNumber);
    assert.ok(hub.partitionIds.every((id) => hub.earliestRetained(id) > 0), 'the retention dropped the start of every partition');

    const a = instance('hub-checkpoints-a');
    await a.projections.start();
    await eventually('the first instance folded the history from Capture', async () => same(await readCross(), expected(first)), 30_000);
    assert.ok(a.history.captured > 0, 'the first instance read Capture');
    await eventually('its hub checkpoints at the last events', () => a.checkpointedAll(), 20_000);
    await a.projections.stop();

    const b = instance('hub-checkpoints-b');
    await b.projections.start();
    const later = messagesOf([5]);
    await ingest(later);
    await eventually('every window, exact', async () => same(await readCross(), expected([...first, ...later])), 30_000);
    assert.equal(b.history.captured, 0);
    assert.deepEqual(b.history.gaps, []);
  });

  it('without Capture, reports no gap for history its projectors folded while the hub still held it', async (t) => {
    const { hub, instance, ingest, readCross } = await setup(t, false);
    const a = instance('hub-checkpoints-a');
    await a.projections.start();
    const first = messagesOf([0, 1, 2, 3]);
    await ingest(first);
    await eventually('the first instance folded the history', async () => same(await readCross(), expected(first)), 30_000);
    await eventually('its hub checkpoints at the last events', () => a.checkpointedAll(), 20_000);
    await a.projections.stop();
    for (const id of hub.partitionIds) hub.expireBefore(id, hub.events(id).at(-1)!.sequenceNumber);
    assert.ok(hub.partitionIds.every((id) => hub.earliestRetained(id) > 0), 'the retention dropped the start of every partition');

    const b = instance('hub-checkpoints-b');
    await b.projections.start();
    const later = messagesOf([5]);
    await ingest(later);
    await eventually('every window, exact', async () => same(await readCross(), expected([...first, ...later])), 30_000);
    assert.deepEqual(b.history.gaps, []);
  });
});
