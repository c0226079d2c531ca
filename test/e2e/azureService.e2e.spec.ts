import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceBusClient } from '@azure/service-bus';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { startAmqpEmulator } from '../support/amqp/startAmqpEmulator';
import { closeLater } from '../support/closeLater';
import { eventually } from '../support/eventually';
import { killServiceProcesses, startServiceProcess, stopServiceProcess } from '../support/serviceProcess';

const KEY = 'win_cpu.percent';
const T0 = 1_700_002_000 - (1_700_002_000 % 900);
const TENANTS = ['tenant/A+==', 'tenant#B?', "tenant'C"];

/** Message n of tenant t: one metric for minute n % 8, value 100·t + n. */
const message = (t: number, n: number) => ({
  metrics: [{ timestamp: T0 + (n % 8) * 60 + t, MaskedTenantId: TENANTS[t], MaskedVMName: 'vm/1', PerfType: 'win_cpu', PerfName: 'percent', PerfValue: 100 * t + n }],
});

async function minuteCounts(base: string): Promise<Map<number, { count: number; value: number }>> {
  const res = await fetch(`${base}/v1/get-data?key=${encodeURIComponent(KEY)}&minutes=8&to=${T0 + 7 * 60}`);
  const body = (await res.json()) as { data: { timestamp: number; count: number; value: number }[] };
  return new Map(body.data.map((d) => [d.timestamp, { count: d.count, value: d.value }]));
}

describe('opsfold start on Azure (Service Bus → Event Hubs → Table Storage), real SDKs against the AMQP emulator and Azurite', () => {
  it('after kill -9 and a restart, every message is counted once; a malformed one is dead-lettered with its reason', async (t: TestContext) => {
    const later = closeLater(t);
    const emu = later(await startAmqpEmulator({
      eventHubs: [{ name: 'opsfold-events', partitions: 4 }, { name: 'opsfold-windows', partitions: 2 }],
      queues: [{ name: 'spoc-metrics', lockDurationMs: 3000 }],
    }));
    const azurite = await EmbeddedAzurite.start({ blob: true });
    later({ close: () => azurite.stop() });
    const dir = await mkdtemp(join(tmpdir(), 'opsfold-azure-'));
    later({ close: () => rm(dir, { recursive: true, force: true }) });
    const env = {
      SERVICEBUS_CONNECTION_STRING: emu.connectionString(), EVENTHUBS_CONNECTION_STRING: emu.connectionString(),
      TABLES_CONNECTION_STRING: azurite.tableConnectionString, CHECKPOINT_STORAGE_CONNECTION_STRING: azurite.blobConnectionString,
      OPSFOLD_FLUSH_INTERVAL_MS: '200', WINDOW_IDLE_CLOSE_SECONDS: '1', EVENTHUB_OWNERSHIP_EXPIRATION_SECONDS: '3', EVENTHUB_LOAD_BALANCING_INTERVAL_SECONDS: '1',
    };
    t.after(killServiceProcesses);
    const sb = later(new ServiceBusClient(emu.connectionString(), { retryOptions: { maxRetries: 1, timeoutInMs: 5000 } }));
    const sender = later(sb.createSender('spoc-metrics'));
    const send = (tIndex: number, n: number) => sender.sendMessages({ body: Buffer.from(JSON.stringify(message(tIndex, n))), messageId: `m-${tIndex}-${n}` });

    const first = await startServiceProcess(join(dir, 'data'), { env });
    for (let n = 0; n < 8; n++) for (const tIndex of TENANTS.keys()) await send(tIndex, n);
    await sender.sendMessages({ body: Buffer.from('{"metrics": not json'), messageId: 'broken' });
    await eventually('the first half in the projections', async () => [...(await minuteCounts(first.base)).values()].reduce((s, w) => s + w.count, 0) === 24, 30_000);

    // More arrive, the service is killed in the middle of them, and one message is sent again.
    for (let n = 8; n < 12; n++) for (const tIndex of TENANTS.keys()) await send(tIndex, n);
    first.child.kill('SIGKILL');
    await first.exited;
    for (let n = 12; n < 16; n++) for (const tIndex of TENANTS.keys()) await send(tIndex, n);
    await send(1, 5); // a retry by the sender: same messageId

    const second = await startServiceProcess(join(dir, 'data'), { env });
    // Expected per minute m: tenants t with messages n ≡ m (mod 8), n < 16: values 100·t + n.
    const want = new Map([0, 1, 2, 3, 4, 5, 6, 7].map((m) => {
      const values = TENANTS.flatMap((_, tIndex) => [m, m + 8].map((n) => 100 * tIndex + n));
      return [T0 + m * 60, { count: values.length, value: values.reduce((a, b) => a + b, 0) / values.length }];
    }));
    let last: unknown;
    const got = await eventually('every message exactly once', async () => {
      const g = await minuteCounts(second.base);
      last = [...g].map(([ts, w]) => [ts - T0, w.count]);
      return [...want].every(([ts, w]) => g.get(ts)?.count === w.count && Math.abs(g.get(ts)!.value - w.value) < 1e-9) ? g : undefined;
    }, 40_000).catch(async (error: Error) => {
      const h = await (await fetch(`${second.base}/healthz`)).text();
      const hub = emu.hub('opsfold-events').events().length;
      throw new Error(`${error.message}; health ${h}; hub events ${hub}; queue active ${emu.queue('spoc-metrics').active().length}; last seen (minute offset, count): ${JSON.stringify(last)}; service said:\n${(first.stderr() + second.stderr()).slice(-3000)}`);
    });
    assert.equal(got.size, 8);

    const dead = emu.queue('spoc-metrics').deadLettered();
    assert.equal(dead.length, 1);
    assert.equal(dead[0].messageId, 'broken');
    assert.equal(dead[0].deadLetterReason, 'InvalidJson');
    assert.ok(dead[0].deadLetterErrorDescription, 'a description someone can act on');
    const health = (await (await fetch(`${second.base}/healthz`)).json()) as { source: string; log: { kind: string; partitions: string[] } };
    assert.equal(health.source, 'servicebus');
    assert.deepEqual(health.log, { kind: 'eventhubs', eventHub: 'opsfold-events', partitions: ['0', '1', '2', '3'] });
    // Caught up: no owned partition has events left to process, as /metrics and /healthz show it.
    // Both read at once, each time: a partition's lag may show an event enqueued a moment before it is processed.
    const lag = await eventually('the consumer lag of every partition at 0, on /metrics and /healthz', async () => {
      const text = await (await fetch(`${second.base}/metrics`)).text();
      assert.match(text, /^# TYPE opsfold_consumer_lag_events gauge$/m);
      const samples = text.split('\n').filter((line) => line.startsWith('opsfold_consumer_lag_events'));
      const lagHealth = (await (await fetch(`${second.base}/healthz`)).json()) as { projector: { consumerLagEvents: Record<string, number> } };
      const healthLags = Object.values(lagHealth.projector.consumerLagEvents);
      return samples.length === 4 && samples.every((line) => line.endsWith(' 0')) && healthLags.length === 4 && healthLags.every((n) => n === 0) &&
        { samples, health: lagHealth.projector.consumerLagEvents };
    }, 20_000);
    assert.deepEqual(lag.samples, ['0', '1', '2', '3'].map((p) => `opsfold_consumer_lag_events{partition="${p}"} 0`));
    assert.deepEqual(lag.health, { 0: 0, 1: 0, 2: 0, 3: 0 });
    await eventually('window events on the windows hub', () => emu.hub('opsfold-windows').events().some((e) => (e.body as { key?: string }).key === KEY), 20_000);

    await stopServiceProcess(second);
  });
});
