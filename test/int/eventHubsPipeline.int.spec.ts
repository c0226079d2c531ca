import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventHubConsumerClient, EventHubProducerClient } from '@azure/event-hubs';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { BlobServiceClient } from '@azure/storage-blob';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { EventHubsAppender } from '../../src/adapters/eventHubs/EventHubsAppender';
import { WindowEventPublisher } from '../../src/adapters/eventHubs/WindowEventPublisher';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import type { TableStore } from '../../src/core/ports';
import { loadSettings } from '../../src/config/settings';
import { Ingestor } from '../../src/core/Ingestor';
import { validateSpocMessage } from '../../src/core/validateSpoc';
import { arrivingNow } from '../support/metricBuilders';
import { DistributedProjections } from '../../src/distributed';
import { decodeBlock } from '../../projections/minuteBlocks';
import { metaTable, scopeOfPartition } from '../../projections/projectionCatalog';
import { openEachScope, openMerged, openTable, tableName } from '../../projections/projectionTables';
import { rejectsProjection } from '../../projections/rejectsProjection';
import { windowsProjection } from '../../projections/windowsProjection';
import { readLate } from '../../projections/lateQueries';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { startAmqpEmulator } from '../support/amqp/startAmqpEmulator';
import { closeLater } from '../support/closeLater';
import { crossTenantReference } from '../support/metricBuilders';
import { eventually } from '../support/eventually';
import { GatedTableStore } from '../support/gatedTableStore';

const HUB = 'opsfold-events';
const WINDOWS_HUB = 'opsfold-windows';
const T0 = 1_700_000_040 - (1_700_000_040 % 900); // a 15-minute slot boundary
const KEYS = ['win_cpu.percent', 'win_mem.used'];
const TENANTS = ['tenant/A+==', 'tenant/B#?', "tenant'C", 'tenant D', 'tenant/E', 'tenant/F'];

/** Message n of tenant t: one metric per key for two VMs, a minute each, some out of order. */
function message(t: number, n: number): Record<string, unknown> {
  const minute = n % 2 === 0 ? n : n - 1; // pairs arrive as (n, n-1): out of order within the tolerance
  return {
    metrics: KEYS.flatMap((key, k) => ['vm/1', 'vm+2'].map((vm, v) => ({
      timestamp: T0 + minute * 60 + 7 + v, MaskedTenantId: TENANTS[t], MaskedVMName: vm,
      PerfType: key.split('.')[0], PerfName: key.split('.')[1], PerfValue: (t + 1) * 10 + n + k * 0.5 + v * 0.25,
    }))),
  };
}

interface Cross {
  count: number;
  sum: number;
  min: number;
  max: number;
  vms?: number;
  expectedVms?: number;
}

/**
 * The expected cross-tenant windows, computed here from the raw messages, with their VM counts:
 * the distinct (tenant, VM) pairs of the window, and those of the hour before it.
 */
function expectedCross(messages: Record<string, unknown>[]): Map<string, Cross> {
  const sent = messages.flatMap((m) => (m.metrics as { timestamp: number; MaskedTenantId: string; MaskedVMName: string; PerfType: string; PerfName: string; PerfValue: number }[])
    .map((x) => ({ t: x.timestamp, key: `${x.PerfType}.${x.PerfName}`, value: x.PerfValue, pair: `${x.MaskedTenantId} ${x.MaskedVMName}` })));
  const out: Map<string, Cross> = crossTenantReference(sent);
  const pairs = (key: string, from: number, to: number) => new Set(sent.filter((m) => m.key === key && m.t >= from && m.t < to).map((m) => m.pair)).size;
  for (const [id, w] of out) {
    const [key, start] = [id.slice(0, id.lastIndexOf('@')), Number(id.slice(id.lastIndexOf('@') + 1))];
    Object.assign(w, { vms: pairs(key, start, start + 60), expectedVms: pairs(key, start - 3600, start) });
  }
  return out;
}

async function setup(t: TestContext) {
  const later = closeLater(t);
  const emu = later(await startAmqpEmulator({ eventHubs: [{ name: HUB, partitions: 4 }, { name: WINDOWS_HUB, partitions: 2 }] }));
  const azurite = await EmbeddedAzurite.start({ blob: true });
  later({ close: () => azurite.stop() });
  const { settings } = loadSettings({}, {
    EVENTHUBS_CONNECTION_STRING: emu.connectionString(), EVENTHUB_NAME: HUB, OPSFOLD_TABLE_PREFIX: 'eh', OPSFOLD_FLUSH_INTERVAL_MS: '100',
    WINDOW_IDLE_CLOSE_SECONDS: '1', CHECKPOINT_STORAGE_CONNECTION_STRING: azurite.blobConnectionString,
  });
  const tables = TableStorageStore.fromConnectionString(azurite.tableConnectionString);
  const versions = new ProjectionVersions(await tables.rowTable(metaTable('eh')));
  const retryOptions = { maxRetries: 2, retryDelayInMs: 100 };
  const producer = later(new EventHubProducerClient(emu.connectionString(), HUB, { retryOptions }));
  const ingestor = new Ingestor(new EventHubsAppender(producer));
  const blobs = BlobServiceClient.fromConnectionString(azurite.blobConnectionString!);
  /** An instance of the processor, with fast load balancing so that takeovers happen within a test. */
  const instance = (options: { tables?: TableStore } = {}) => {
    const projections = new DistributedProjections({
      settings, tables: options.tables ?? tables, versions, versionPollMs: 200,
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
    return projections;
  };
  /** Cross-tenant windows read back merged over the partitions' scopes. */
  const readCross = async (): Promise<Map<string, Cross>> => {
    const scopes = await versions.scopes('windows', 1);
    const merged = await openMerged(tables, windowsProjection.tables.minute, { prefix: 'eh', version: 1, scopes });
    const out = new Map<string, Cross>();
    for (const key of KEYS) {
      for (const block of await merged.readRange([key], T0 - 900, T0 + 900)) {
        for (const w of decodeBlock(block).get('') ?? []) out.set(`${key}@${w.windowStart}`, { count: w.count, sum: w.sum, min: w.min, max: w.max, vms: w.vms, expectedVms: w.expectedVms });
      }
    }
    return out;
  };
  const windowsProducer = later(new EventHubProducerClient(emu.connectionString(), WINDOWS_HUB, { retryOptions }));
  return { emu, ingestor, instance, readCross, tables, versions, windowsProducer, later };
}

const close = (a: number, b: number) => Math.abs(a - b) < 1e-9;
/** Every window as wanted, VM counts included (the shares of every partition add up). */
const same = (got: Map<string, Cross>, want: Map<string, Cross>) =>
  got.size === want.size && [...want].every(([id, w]) => {
    const g = got.get(id);
    return g !== undefined && g.count === w.count && close(g.sum, w.sum) && g.min === w.min && g.max === w.max && g.vms === w.vms && g.expectedVms === w.expectedVms;
  });

describe('projections over Event Hubs with the real SDK clients, the AMQP emulator and Azurite', () => {
  it('folds every partition into its own scope, and the merged cross-tenant windows equal a batch computation', async (t) => {
    const { emu, ingestor, instance, readCross, tables, windowsProducer } = await setup(t);
    const messages = TENANTS.flatMap((_, tIndex) => [0, 1, 2, 3, 4, 5].map((n) => message(tIndex, n)));
    for (const m of messages) await ingestor.ingest(validateSpocMessage(m, arrivingNow()), 'http');
    const used = new Set(emu.hub(HUB).events().map((e) => e.partitionId));
    assert.ok(used.size > 1, 'the tenants spread over several partitions');

    const projections = instance();
    const publisher = new WindowEventPublisher(windowsProducer);
    publisher.start(projections.windows$);
    t.after(() => publisher.stop());
    await projections.start();
    const want = expectedCross(messages);
    const got = await eventually('the merged windows', async () => { const g = await readCross(); return same(g, want) ? g : undefined; }, 60_000);
    assert.equal(got.size, want.size);

    // Other services get every revision on the windows hub, partition key = counter key; the last
    // revision of each cross-tenant window is the whole window, merged over the partitions.
    const published = await eventually('the published cross-tenant windows', () => {
      const last = new Map<string, Cross & { revision: number }>();
      for (const e of emu.hub(WINDOWS_HUB).events()) {
        const w = e.body as Cross & { key: string; tenant?: string; windowStart: number; revision: number };
        assert.equal(e.partitionKey, w.key);
        const id = `${w.key}@${w.windowStart}`;
        if (w.tenant === undefined && !(last.get(id)?.revision! > w.revision)) last.set(id, w);
      }
      return same(last, want) ? last : undefined;
    }, 60_000);
    assert.equal(published.size, want.size);
    assert.deepEqual(projections.stats.partitions, ['0', '1', '2', '3']);
    assert.equal(projections.stats.metrics, messages.length * 4);

    // Per-VM windows are whole in one partition: tenant A's vm/1 got values 10+n for n = 0…5, two a minute (minutes 0, 2, 4).
    const vm = await (await openTable(tables, windowsProjection.tables.vmMinute, { prefix: 'eh', version: 1 })).readRange([TENANTS[0], 'vm/1'], T0, T0);
    const cpu = decodeBlock(vm[0]).get(KEYS[0])!;
    assert.deepEqual(cpu.map((w) => [w.windowStart, w.count, w.sum]), [[T0, 2, 10 + 11], [T0 + 120, 2, 12 + 13], [T0 + 240, 2, 14 + 15]]);
  });

  it('two instances share four partitions; when one stops halfway the other takes its partitions over and the results stay exact', async (t) => {
    const { ingestor, instance, readCross } = await setup(t);
    const first = TENANTS.flatMap((_, tIndex) => [0, 1, 2].map((n) => message(tIndex, n)));
    const second = TENANTS.flatMap((_, tIndex) => [3, 4, 5].map((n) => message(tIndex, n)));
    const a = instance();
    const b = instance();
    await a.start();
    await b.start();
    await eventually('both instances to own partitions', () => a.stats.partitions.length > 0 && b.stats.partitions.length > 0
      && a.stats.partitions.length + b.stats.partitions.length === 4, 60_000);
    for (const m of first) await ingestor.ingest(validateSpocMessage(m, arrivingNow()), 'http');
    const wantFirst = expectedCross(first);
    await eventually('the first half', async () => same(await readCross(), wantFirst), 60_000);

    await a.stop();
    await eventually('the survivor to own all partitions', () => b.stats.partitions.length === 4, 60_000);
    for (const m of second) await ingestor.ingest(validateSpocMessage(m, arrivingNow()), 'http');
    const want = expectedCross([...first, ...second]);
    const got = await eventually('every window, exact', async () => { const g = await readCross(); return same(g, want) ? g : undefined; }, 60_000);
    assert.equal(got.size, want.size);
  });

  it('each owned partition lags by the events its projectors have not all taken (last enqueued − last processed), and by 0 once they have', async (t) => {
    const { emu, ingestor, instance, tables, versions, later } = await setup(t);
    // Every message also carries a metric the API rejects: a rejects projector that cannot write its ledger never checkpoints.
    const messages = TENANTS.flatMap((_, tIndex) => [0, 1, 2].map((n) => {
      const m = message(tIndex, n) as { metrics: Record<string, unknown>[] };
      return { metrics: [...m.metrics, { ...m.metrics[0], PerfValue: 'high' }] };
    }));
    for (const m of messages) await ingestor.ingest(validateSpocMessage(m, arrivingNow()), 'http');
    const hub = emu.hub(HUB);
    const enqueued = Object.fromEntries(hub.partitionIds.map((id) => [id, hub.events(id).length]));
    assert.ok(Object.values(enqueued).filter((n) => n > 0).length > 1, 'the tenants spread over several partitions');

    const gated = new GatedTableStore(tables);
    const rejects = tableName(rejectsProjection.tables.rejects, { prefix: 'eh', version: 1 });
    gated.hold((table) => table.startsWith(rejects));
    const projections = instance({ tables: gated });
    later({ close: async () => gated.release() }); // before the projections stop
    await projections.start();
    const lagEvents = async () => {
      const lag = await projections.consumerLag();
      assert.ok('events' in lag, 'Event Hubs counts events');
      return lag.events;
    };
    // The windows projectors fold and checkpoint in every partition, the rejects projectors never do. (How far the windows
    // projectors get depends on how the SDK batches a partition's events: a projector that does not take a batch holds
    // the next one back from the others of its partition.)
    const used = hub.partitionIds.filter((id) => enqueued[id] > 0);
    await eventually('a windows checkpoint in every partition', async () => {
      const points = await Promise.all(used.map((id) => versions.checkpoint('windows', 1, scopeOfPartition(id))));
      return points.every((p) => p !== undefined);
    }, 60_000);
    for (const id of used) assert.equal(await versions.checkpoint('rejects', 1, scopeOfPartition(id)), undefined, `partition ${id}: the rejects projector is held`);
    const held = await eventually('the lag of every partition', async () => { const events = await lagEvents(); return Object.keys(events).length === 4 && events; }, 60_000);
    assert.deepEqual(held, enqueued, 'not taken by every projector: every enqueued event is behind');

    gated.release();
    assert.deepEqual(await eventually('every partition caught up', async () => {
      const events = await lagEvents();
      return Object.values(events).every((n) => n === 0) && Object.keys(events).length === 4 && events;
    }, 20_000), { 0: 0, 1: 0, 2: 0, 3: 0 });
  });

  it('an Event Hubs outage (every connection dropped) makes the processor reconnect and go on; nothing is lost or doubled', async (t) => {
    const { emu, ingestor, instance, readCross } = await setup(t);
    const first = TENANTS.flatMap((_, tIndex) => [0, 1, 2].map((n) => message(tIndex, n)));
    const second = TENANTS.flatMap((_, tIndex) => [3, 4, 5].map((n) => message(tIndex, n)));
    const projections = instance();
    await projections.start();
    for (const m of first) await ingestor.ingest(validateSpocMessage(m, arrivingNow()), 'http');
    const wantFirst = expectedCross(first);
    await eventually('the first half', async () => same(await readCross(), wantFirst), 60_000);
    await emu.disconnectAll();
    for (const m of second) await ingestor.ingest(validateSpocMessage(m, arrivingNow()), 'http');
    const want = expectedCross([...first, ...second]);
    const got = await eventually('every window after the outage', async () => { const g = await readCross(); return same(g, want) ? g : undefined; }, 30_000);
    assert.equal(got.size, want.size);
  });

  it('keeps a late-events ledger per partition, listed merged: each too-late metric once, with its partition and sequence number', async (t) => {
    const { emu, ingestor, instance, tables, versions } = await setup(t);
    // Given each tenant's recent minutes (0-2), then a message of two metrics two hours older (far beyond the allowed lateness).
    for (const [tIndex] of TENANTS.entries()) for (const n of [0, 1, 2]) await ingestor.ingest(validateSpocMessage(message(tIndex, n), arrivingNow()), 'http');
    for (const [tIndex, tenant] of TENANTS.entries()) {
      const old = [0, 1].map((i) => ({ timestamp: T0 - 7200 + i, MaskedTenantId: tenant, MaskedVMName: 'vm/9', PerfType: 'win_cpu', PerfName: 'percent', PerfValue: 1000 + 10 * tIndex + i }));
      await ingestor.ingest(validateSpocMessage({ metrics: old }, arrivingNow()), 'http');
    }
    const projections = instance();
    await projections.start();

    // Then the ledgers of all partitions, read merged, list the 12 once each, with the watermark of their partition (its
    // newest metric: minute 2 + 8 s, less 60 s) and their message's place in its partition (the fourth event of the tenant).
    const listed = await eventually('every too-late metric listed', async () => {
      const late = await readLate(await openEachScope(tables, windowsProjection.tables.late, { prefix: 'eh', version: 1, scopes: await versions.scopes('windows', 1) }), { limit: 100 });
      return late.length >= 12 && late;
    }, 60_000);
    assert.equal(listed.length, 12);
    const byValue = new Map(listed.map((e) => [e.value, e]));
    for (const [tIndex, tenant] of TENANTS.entries()) {
      const oldMessage = emu.hub(HUB).events().filter((e) => e.partitionKey === tenant)[3];
      for (const i of [0, 1]) {
        assert.deepEqual(byValue.get(1000 + 10 * tIndex + i), {
          key: 'win_cpu.percent', tenant, vm: 'vm/9', t: T0 - 7200 + i, value: 1000 + 10 * tIndex + i, watermark: T0 + 2 * 60 + 8 - 60,
          position: oldMessage.sequenceNumber, index: i, partition: oldMessage.partitionId,
        });
      }
    }
  });
});
