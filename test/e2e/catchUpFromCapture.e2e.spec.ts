import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EventHubProducerClient } from '@azure/event-hubs';
import { BlobServiceClient } from '@azure/storage-blob';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { EventHubsAppender } from '../../src/adapters/eventHubs/EventHubsAppender';
import { Ingestor } from '../../src/core/Ingestor';
import { validateSpocMessage } from '../../src/core/validateSpoc';
import { CaptureWriter } from '../support/amqp/captureWriter';
import { startAmqpEmulator } from '../support/amqp/startAmqpEmulator';
import { closeLater } from '../support/closeLater';
import { eventually } from '../support/eventually';
import { arrivingNow } from '../support/metricBuilders';

const BIN = resolve(__dirname, '../../../bin/opsfold.js');
const HUB = 'opsfold-events';
const KEY = 'cpu.pct';
const T0 = 1_700_006_000 - (1_700_006_000 % 900);
const TENANTS = ['tenant/A', 'tenant+B', 'tenant=C', "tenant'D", 'tenant#E'];

function start(env: NodeJS.ProcessEnv, dataDir: string, log: string[]): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, [BIN, 'start', '--port', '0', '--no-simulate', '--data-dir', dataDir], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  return new Promise((resolvePromise, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      text += d.toString();
      log.push(d.toString());
      const m = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) resolvePromise({ child, base: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`service exited with ${code}: ${text}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** The cross-tenant minute windows of the five minutes: timestamp → [count, sum]. */
async function minutes(base: string): Promise<Map<number, [number, number]>> {
  const res = await fetch(`${base}/v1/get-data?key=${encodeURIComponent(KEY)}&minutes=5&to=${T0 + 4 * 60}`);
  const body = (await res.json()) as { data: { timestamp: number; count: number; value: number }[] };
  return new Map(body.data.filter((d) => d.count > 0).map((d) => [d.timestamp, [d.count, Math.round(d.value * d.count)]]));
}

/** Minute m: every tenant i sends the value 10·i + m. */
const expected = (m: number): [number, [number, number]] => [T0 + m * 60, [TENANTS.length, TENANTS.reduce((s, _, i) => s + 10 * i + m, 0)]];

/**
 * A service folds minutes 0 and 1 and stops; minutes 2 and 3 arrive while it is down, Capture
 * writes them, and the hub's retention then drops everything before minute 4; then the service
 * starts again.
 */
async function stoppedPastTheRetention(t: TestContext, withCapture: boolean) {
  const later = closeLater(t);
  const emu = later(await startAmqpEmulator({ eventHubs: [{ name: HUB, partitions: 2 }, { name: 'opsfold-windows', partitions: 1 }] }));
  const azurite = await EmbeddedAzurite.start({ blob: true });
  later({ close: () => azurite.stop() });
  const dir = await mkdtemp(join(tmpdir(), 'opsfold-catchup-'));
  later({ close: () => rm(dir, { recursive: true, force: true }) });
  const blobs = BlobServiceClient.fromConnectionString(azurite.blobConnectionString!);
  const container = blobs.getContainerClient('capture');
  await container.create();
  const hub = emu.hub(HUB);
  const writer = new CaptureWriter({ hub, container, namespace: '127.0.0.1', codec: 'deflate' });
  const env = {
    EVENTHUBS_CONNECTION_STRING: emu.connectionString(), TABLES_CONNECTION_STRING: azurite.tableConnectionString, CHECKPOINT_STORAGE_CONNECTION_STRING: azurite.blobConnectionString!,
    OPSFOLD_FLUSH_INTERVAL_MS: '200', WINDOW_IDLE_CLOSE_SECONDS: '1', EVENTHUB_OWNERSHIP_EXPIRATION_SECONDS: '3', EVENTHUB_LOAD_BALANCING_INTERVAL_SECONDS: '1',
    ...(withCapture ? { CAPTURE_STORAGE_CONNECTION_STRING: azurite.blobConnectionString!, CAPTURE_CONTAINER: 'capture' } : {}),
  };
  const log: string[] = [];
  let child: ChildProcess | undefined;
  t.after(() => { child?.kill('SIGKILL'); });
  const ingestor = new Ingestor(new EventHubsAppender(later(new EventHubProducerClient(emu.connectionString(), HUB))));
  const sendMinute = async (m: number) => {
    for (const [i, tenant] of TENANTS.entries()) {
      await ingestor.ingest(validateSpocMessage({ metrics: [{ timestamp: T0 + m * 60 + i, MaskedTenantId: tenant, MaskedVMName: 'vm', PerfType: 'cpu', PerfName: 'pct', PerfValue: 10 * i + m }] }, arrivingNow()), 'http');
    }
  };
  /** The last sequence number of each partition that has events. */
  const lastOf = () => new Map(hub.partitionIds.flatMap((p) => { const e = hub.events(p); return e.length > 0 ? [[p, e[e.length - 1].sequenceNumber] as const] : []; }));

  const first = await start(env, join(dir, 'data'), log);
  child = first.child;
  await sendMinute(0);
  await sendMinute(1);
  const folded = lastOf();
  await eventually('minutes 0 and 1 folded', async () => {
    const got = await minutes(first.base);
    return [0, 1].every((m) => JSON.stringify(got.get(T0 + m * 60)) === JSON.stringify(expected(m)[1]));
  }, 30_000);
  // The hub's checkpoints reach the last event of every partition: everything before was taken by every projector.
  await eventually("the hub's checkpoints at the last event", async () => {
    const at = new Map<string, number>();
    for await (const c of blobs.listContainers({ prefix: 'opsfold-checkpoints' })) {
      for await (const b of blobs.getContainerClient(c.name).listBlobsFlat({ includeMetadata: true })) {
        if (/\/checkpoint\/\d+$/.test(b.name)) at.set(b.name.split('/').pop()!, Number(b.metadata?.sequencenumber));
      }
    }
    return [...folded].every(([p, last]) => at.get(p) === last);
  }, 30_000);
  await stop(first.child);

  await sendMinute(2);
  await sendMinute(3);
  const beforeMinute4 = lastOf();
  await writer.capture();
  await writer.capture(); // an empty window
  hub.expireEnqueuedBefore(new Date(Date.now() + 1));
  await sendMinute(4);
  const second = await start(env, join(dir, 'data'), log);
  child = second.child;
  return { base: second.base, child: second.child, folded, beforeMinute4, log, writer, hub };
}

describe('an instance stopped past the hub retention', () => {
  it('catches up from Event Hubs Capture: every window exact', async (t) => {
    const { base, child, log, writer, hub } = await stoppedPastTheRetention(t, true);
    const want = new Map([0, 1, 2, 3, 4].map(expected));
    await eventually('all five minutes exact', async () => JSON.stringify([...(await minutes(base))].sort()) === JSON.stringify([...want].sort()), 40_000)
      .catch((error: Error) => { throw new Error(`${error.message}; service said:\n${log.join('').slice(-3000)}`); });
    const health = (await (await fetch(`${base}/healthz`)).json()) as { hubHistory: { capture: string; readFromCapture: number; gaps: unknown[] } };
    const captured = writer.files.reduce((n, f) => n + f.sequenceNumbers.length, 0);
    assert.deepEqual(health.hubHistory.gaps, []);
    assert.equal(health.hubHistory.capture, 'configured');
    // What the hub lost of minutes 2 and 3; minutes 0 and 1 were in the projections already.
    assert.equal(health.hubHistory.readFromCapture, 2 * TENANTS.length);
    assert.ok(captured >= 2 * TENANTS.length);
    assert.match(await (await fetch(`${base}/metrics`)).text(), new RegExp(`^opsfold_capture_events_read_total ${2 * TENANTS.length}$`, 'm'));
    assert.match(log.join(''), /the hub no longer retains sequence numbers \d+\.\.\d+: \d+ read from Event Hubs Capture/);
    // Per partition, what the hub retains and what Capture holds.
    const retention = await eventually('the retention on /healthz', async () => {
      const h = (await (await fetch(`${base}/healthz`)).json()) as { hubHistory: { retention: { partitions: { partitionId: string; hub: { earliest: number } | null; captured: { first: number; last: number } | null }[] } | null } };
      return h.hubHistory.retention ?? undefined;
    }, 20_000);
    assert.deepEqual(retention.partitions.map((p) => [p.partitionId, p.hub?.earliest ?? null, p.captured ? [p.captured.first, p.captured.last] : null]),
      hub.partitionIds.map((p) => {
        const captured = writer.files.filter((f) => f.partitionId === p).flatMap((f) => f.sequenceNumbers);
        return [p, hub.events(p).length > 0 ? hub.earliestRetained(p) : null, captured.length > 0 ? [captured[0], captured[captured.length - 1]] : null];
      }));
    await stop(child);
  });

  it('without Capture reports the gap (log, /healthz, a counter) and goes on', async (t) => {
    const { base, child, log, folded, beforeMinute4 } = await stoppedPastTheRetention(t, false);
    await eventually('minute 4 folded', async () => JSON.stringify((await minutes(base)).get(T0 + 4 * 60)) === JSON.stringify(expected(4)[1]), 40_000)
      .catch((error: Error) => { throw new Error(`${error.message}; service said:\n${log.join('').slice(-3000)}`); });
    const got = await minutes(base);
    assert.deepEqual([got.has(T0 + 2 * 60), got.has(T0 + 3 * 60)], [false, false], 'minutes 2 and 3 are lost');
    const gaps = [...beforeMinute4].filter(([p, last]) => last > (folded.get(p) ?? -1)).map(([p, last]) => ({ partitionId: p, from: (folded.get(p) ?? -1) + 1, to: last }));
    const health = await eventually('the gaps on /healthz', async () => {
      const h = (await (await fetch(`${base}/healthz`)).json()) as { status: string; hubHistory: { capture: string; gaps: { partitionId: string; from: number; to: number }[]; gapEvents: Record<string, number> } };
      return h.hubHistory.gaps.length >= gaps.length && h;
    }, 20_000);
    assert.equal(health.hubHistory.capture, 'off');
    assert.deepEqual(health.hubHistory.gaps.map(({ partitionId, from, to }) => ({ partitionId, from, to })).sort((a, b) => a.partitionId.localeCompare(b.partitionId)), gaps);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    for (const g of gaps) assert.match(metrics, new RegExp(`^opsfold_log_gap_events_total\\{partition="${g.partitionId}"\\} ${g.to - g.from + 1}$`, 'm'));
    for (const g of gaps) assert.match(log.join(''), new RegExp(`GAP in the log: partition ${g.partitionId}: sequence numbers ${g.from}\\.\\.${g.to} `));
    await stop(child);
  });
});
