import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { merge } from 'rxjs';
import { EventHubConsumerClient, EventHubProducerClient } from '@azure/event-hubs';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { BlobServiceClient } from '@azure/storage-blob';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { EventHubsAppender } from '../../src/adapters/eventHubs/EventHubsAppender';
import { WindowEventPublisher } from '../../src/adapters/eventHubs/WindowEventPublisher';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import { loadSettings } from '../../src/config/settings';
import { Ingestor } from '../../src/core/Ingestor';
import { validateSpocMessage } from '../../src/core/validateSpoc';
import { DistributedProjections } from '../../src/distributed';
import { metaTable } from '../../projections/projectionCatalog';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { startAmqpEmulator } from '../support/amqp/startAmqpEmulator';
import { closeLater } from '../support/closeLater';
import { eventually } from '../support/eventually';
import { arrivingNow } from '../support/metricBuilders';

const HUB = 'opsfold-events';
const WINDOWS_HUB = 'opsfold-windows';
const T0 = 1_700_000_040 - (1_700_000_040 % 900);
const KEYS = ['win_cpu.percent', 'win_mem.used'];
const TENANTS = ['tenant/A+==', 'tenant/B#?', "tenant'C", 'tenant D', 'tenant/E', 'tenant/F'];
const OUT_OF_ORDER = 60;
/** Enough that no tenant's minutes are late in its partition, however the tenants share them. */
const LATENESS = 600;

interface Sent {
  tenant: string;
  vm: string;
  key: string;
  t: number;
  value: number;
}

/** Minutes 0-5 of a tenant: each key, two VMs; integer values, so sums are exact. */
function minutesOf(tIndex: number): Sent[] {
  return [0, 1, 2, 3, 4, 5].flatMap((m) => KEYS.flatMap((key, k) => ['vm/1', 'vm+2'].map((vm, v) => ({
    tenant: TENANTS[tIndex], vm, key, t: T0 + m * 60 + 7 + v, value: (tIndex + 1) * 10 + m + k * 3 + v,
  }))));
}

const spoc = (metrics: readonly Sent[]) => ({
  metrics: metrics.map((m) => ({ timestamp: m.t, MaskedTenantId: m.tenant, MaskedVMName: m.vm, PerfType: m.key.split('.')[0], PerfName: m.key.split('.')[1], PerfValue: m.value })),
});

/** Each window (cross-tenant and per VM) of the metrics, by id, computed here. */
function windowsOf(metrics: readonly Sent[]): Map<string, { count: number; sum: number; min: number; max: number }> {
  const out = new Map<string, { count: number; sum: number; min: number; max: number }>();
  const add = (id: string, v: number) => {
    const w = out.get(id) ?? { count: 0, sum: 0, min: Infinity, max: -Infinity };
    out.set(id, { count: w.count + 1, sum: w.sum + v, min: Math.min(w.min, v), max: Math.max(w.max, v) });
  };
  for (const m of metrics) {
    const ws = Math.floor(m.t / 60) * 60;
    add(JSON.stringify([m.key, null, null, ws]), m.value);
    add(JSON.stringify([m.key, m.tenant, m.vm, ws]), m.value);
  }
  return out;
}

describe('final windows on Event Hubs', () => {
  it('the window-events hub gets one final event per window: per-VM ones from their partition, cross-tenant ones once every partition has passed them', async (t) => {
    const later = closeLater(t);
    const emu = later(await startAmqpEmulator({ eventHubs: [{ name: HUB, partitions: 4 }, { name: WINDOWS_HUB, partitions: 2 }] }));
    const azurite = await EmbeddedAzurite.start({ blob: true });
    later({ close: () => azurite.stop() });
    const { settings } = loadSettings({}, {
      EVENTHUBS_CONNECTION_STRING: emu.connectionString(), EVENTHUB_NAME: HUB, OPSFOLD_TABLE_PREFIX: 'eh', OPSFOLD_FLUSH_INTERVAL_MS: '100',
      WINDOW_IDLE_CLOSE_SECONDS: '1', CHECKPOINT_STORAGE_CONNECTION_STRING: azurite.blobConnectionString,
      WINDOW_OUT_OF_ORDER_SECONDS: String(OUT_OF_ORDER), WINDOW_ALLOWED_LATENESS_SECONDS: String(LATENESS),
    });
    const tables = TableStorageStore.fromConnectionString(azurite.tableConnectionString);
    const versions = new ProjectionVersions(await tables.rowTable(metaTable('eh')));
    const retryOptions = { maxRetries: 2, retryDelayInMs: 100 };
    const ingestor = new Ingestor(new EventHubsAppender(later(new EventHubProducerClient(emu.connectionString(), HUB, { retryOptions }))));
    const blobs = BlobServiceClient.fromConnectionString(azurite.blobConnectionString!);
    const projections = new DistributedProjections({
      settings, tables, versions, versionPollMs: 200,
      connect: async (container) => {
        const client = blobs.getContainerClient(container);
        await client.createIfNotExists();
        const checkpointStore = new BlobCheckpointStore(client);
        const consumer = new EventHubConsumerClient('$Default', emu.connectionString(), HUB, checkpointStore, {
          retryOptions, loadBalancingOptions: { strategy: 'greedy', updateIntervalInMs: 200, partitionOwnershipExpirationIntervalInMs: 1500 },
        });
        return { consumer, checkpointStore };
      },
    });
    later({ close: () => projections.stop() });
    const publisher = new WindowEventPublisher(later(new EventHubProducerClient(emu.connectionString(), WINDOWS_HUB, { retryOptions })));
    publisher.start(merge(projections.windows$, projections.finals$));
    t.after(() => publisher.stop());
    await projections.start();

    const sent: Sent[] = [];
    const send = async (metrics: Sent[]) => {
      await ingestor.ingest(validateSpocMessage(spoc(metrics), arrivingNow()), 'http');
      sent.push(...metrics);
    };
    for (let i = 0; i < TENANTS.length; i++) await send(minutesOf(i));
    // Nothing is final while a partition has no final bound: each partition gets a report from minute 20 (by tenants
    // whose partition key lands there), which passes minutes 0-5 plus the lateness everywhere.
    const pushAt = T0 + 20 * 60 + 7;
    const pushed = new Set<string>();
    for (let n = 0; pushed.size < 4; n++) {
      if (n > 64) assert.fail(`the pushes reached partitions ${[...pushed].join(', ')} only`);
      const tenant = `push ${n}`;
      await send([{ tenant, vm: 'vm/1', key: KEYS[0], t: pushAt, value: 1 }]);
      pushed.add(emu.hub(HUB).events().find((e) => e.partitionKey === tenant)!.partitionId);
    }
    const finalThrough = pushAt - OUT_OF_ORDER - LATENESS;
    const expected = new Map([...windowsOf(sent)].filter(([id]) => (JSON.parse(id) as [string, string, string, number])[3] + 60 <= finalThrough));
    assert.equal(expected.size, 6 * KEYS.length + 6 * 6 * KEYS.length * 2, 'minutes 0-5: cross-tenant windows and each VM\'s');

    const finals = await eventually('every final window on the hub', () => {
      const got = emu.hub(WINDOWS_HUB).events().map((e) => e.body as { key: string; tenant?: string; vm?: string; windowStart: number; count: number; sum: number; min: number; max: number; vms?: number; expectedVms?: number; final: boolean })
        .filter((w) => w.final);
      return got.length >= expected.size && got;
    }, 60_000);
    assert.equal(await projections.finalThrough(), finalThrough, 'every partition passed the push, minus tolerance and lateness');
    const byId = new Map<string, unknown>();
    for (const w of finals) {
      const id = JSON.stringify([w.key, w.tenant ?? null, w.vm ?? null, w.windowStart]);
      assert.ok(!byId.has(id), `${id} published final twice`);
      byId.set(id, { count: w.count, sum: w.sum, min: w.min, max: w.max });
    }
    assert.deepEqual([...byId].sort(), [...expected].sort());
    // A cross-tenant final carries the VM counts of every partition: the 12 VMs (6 tenants, 2 each) in each minute,
    // expected from the second minute on (they reported the minute before).
    const fleet = finals.filter((w) => w.tenant === undefined).map((w) => [w.key, w.windowStart, w.vms, w.expectedVms]).sort();
    assert.deepEqual(fleet, KEYS.flatMap((key) => [0, 1, 2, 3, 4, 5].map((m) => [key, T0 + m * 60, 12, m === 0 ? 0 : 12])).sort());
    // Revisions are published as before, with final: false.
    const revisions = emu.hub(WINDOWS_HUB).events().map((e) => e.body as { final: boolean }).filter((w) => !w.final);
    assert.ok(revisions.length >= expected.size);
    assert.ok(revisions.every((w) => w.final === false));
  });
});
