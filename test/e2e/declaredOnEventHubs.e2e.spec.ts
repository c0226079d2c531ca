import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { startAmqpEmulator } from '../support/amqp/startAmqpEmulator';
import { closeLater } from '../support/closeLater';
import { eventually } from '../support/eventually';
import { BIN, startServiceProcess } from '../support/serviceProcess';

const run = promisify(execFile);
const HUB = 'opsfold-events';

/** Three hours ago, on an hour boundary: inside the gate's bounds, aligned to every window below a day. */
const T0 = Math.floor(Date.now() / 3_600_000) * 3600 - 3 * 3600;
const TENANTS = ['tenant/A+==', 'tenant#B?', "tenant'C", 'tenant D'];
const REGIONS = ['westeurope', 'eastus', null];
const KEYS = [['win_cpu', 'percent'], ['win_mem', 'available_mb']];

interface Sent { t: number; tenant: string; vm: string; perfType: string; perfName: string; value: number; region: string | null }

/** Deterministic metrics over `minutes` from `start`: 4 tenants × 3 VMs × 2 keys a minute, whole values over three decades (sums stay exact). */
function traffic(start: number, minutes: number, seed: number): Sent[] {
  const out: Sent[] = [];
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let minute = 0; minute < minutes; minute++) {
    for (const tenant of TENANTS) {
      for (let v = 0; v < 3; v++) {
        for (const [perfType, perfName] of KEYS) {
          out.push({ t: start + minute * 60 + Math.floor(rnd() * 60), tenant, vm: `vm/${v}`, perfType, perfName, value: Math.ceil(10 ** (rnd() * 3)), region: REGIONS[v] });
        }
      }
    }
  }
  return out;
}

/** DESIGN §7 computed here, apart from opsfold's code: each window's values and its distinct (tenant, VM) pairs, in window then group order. */
function expected(sent: Sent[], size: number, groupOf: (m: Sent) => string | null, keep: (m: Sent) => boolean) {
  const windows = new Map<string, { windowStart: number; group: string | null; values: number[]; pairs: Set<string> }>();
  for (const m of sent.filter(keep)) {
    const windowStart = Math.floor(m.t / size) * size;
    const id = `${windowStart}|${groupOf(m)}`;
    const w = windows.get(id) ?? { windowStart, group: groupOf(m), values: [], pairs: new Set<string>() };
    w.values.push(m.value);
    w.pairs.add(`${m.tenant}|${m.vm}`);
    windows.set(id, w);
  }
  const order = (a: string | null, b: string | null) => (a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1);
  return [...windows.values()].sort((a, b) => a.windowStart - b.windowStart || order(a.group, b.group));
}

interface Datum { windowStart: number; group: Record<string, string | null>; revision: number; [a: string]: unknown }

/** Whether the answer is the computation: counts, sums, min, max and VM counts exact, p95 within 1% of the exact one. */
function matches(data: Datum[], want: ReturnType<typeof expected>, field: string): boolean {
  return data.length === want.length && data.every((d, i) => {
    const w = want[i];
    const sorted = [...w.values].sort((a, b) => a - b);
    const rank = 0.95 * (sorted.length - 1);
    const p95 = d.p95 as number | undefined;
    return d.windowStart === w.windowStart && d.group[field] === w.group && d.vms === w.pairs.size
      && (d.count === undefined || d.count === w.values.length)
      && d.sum === w.values.reduce((a, b) => a + b, 0)
      && (d.min === undefined || d.min === sorted[0]) && (d.max === undefined || d.max === sorted[sorted.length - 1])
      && (p95 === undefined || (p95 >= sorted[Math.floor(rank)] * 0.99 && p95 <= sorted[Math.ceil(rank)] * 1.01));
  });
}

describe('projections analysts declare, on Event Hubs (a spawned service and CLI, real SDKs against the AMQP emulator and Azurite)', () => {
  it('a definition added by the CLI is folded by each partition, answers its shares merged exactly, follows new data, switches on a replay and goes when dropped', async (t: TestContext) => {
    const later = closeLater(t);
    const emu = later(await startAmqpEmulator({ eventHubs: [{ name: HUB, partitions: 2 }, { name: 'opsfold-windows', partitions: 2 }] }));
    const azurite = await EmbeddedAzurite.start({ blob: true });
    later({ close: () => azurite.stop() });
    const dir = await mkdtemp(join(tmpdir(), 'opsfold-eh-declared-'));
    later({ close: () => rm(dir, { recursive: true, force: true }) });
    const env = {
      EVENTHUBS_CONNECTION_STRING: emu.connectionString(), EVENTHUB_NAME: HUB,
      TABLES_CONNECTION_STRING: azurite.tableConnectionString, CHECKPOINT_STORAGE_CONNECTION_STRING: azurite.blobConnectionString,
      EVENTHUB_OWNERSHIP_EXPIRATION_SECONDS: '3', EVENTHUB_LOAD_BALANCING_INTERVAL_SECONDS: '1',
    };
    const data = join(dir, 'data');
    const service = await startServiceProcess(data, { env });
    t.after(async () => {
      process.kill(-service.pgid, 'SIGTERM');
      await service.exited;
    });
    // Rebuilds read the hub on a consumer group of their own: the processors' receivers hold every partition of theirs.
    const opsfold = (...args: string[]) => run(process.execPath, [BIN, ...args, '--data-dir', data], { env: { ...process.env, ...env, EVENTHUB_REPLAY_CONSUMER_GROUP: 'opsfold-replay' } });
    const post = async (sent: Sent[]) => {
      const metrics = sent.map((m) => ({
        timestamp: m.t, MaskedTenantId: m.tenant, MaskedVMName: m.vm, PerfType: m.perfType, PerfName: m.perfName, PerfValue: m.value, Region: m.region,
      }));
      const res = await fetch(`${service.base}/v1/spoc`, { method: 'POST', body: JSON.stringify({ metrics }), headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 202, await res.text());
    };
    const read = async (name: string) => {
      const res = await fetch(`${service.base}/v1/projections/${name}?from=${T0}&to=${T0 + 86_400}`);
      return { status: res.status, data: res.status === 200 ? ((await res.json()) as { data: Datum[] }).data : [] };
    };
    const listed = async () => ((await (await fetch(`${service.base}/v1/projections`)).json()) as { projections: { name: string; status: string; version: number }[] }).projections;

    // Given a service on a hub of two partitions holding 30 minutes of four tenants, spread over both partitions
    const first = traffic(T0, 30, 7);
    for (let i = 0; i < first.length; i += 240) await post(first.slice(i, i + 240));
    assert.deepEqual([...new Set(emu.hub(HUB).events().map((e) => e.partitionId))].sort(), ['0', '1'], 'the tenants spread over both partitions');

    // When a definition is added with the CLI on the processors' consumer group, then it is refused, naming the setting that helps
    const definition = { name: 'cpu_by_region', where: { PerfType: ['win_cpu'] }, groupBy: ['Region'], window: '5m', aggregates: ['count', 'sum', 'min', 'max', 'p95', 'vms'] };
    const file = join(dir, 'cpu_by_region.json');
    await writeFile(file, JSON.stringify(definition));
    const held = await run(process.execPath, [BIN, 'projection', 'add', file, '--data-dir', data], { env: { ...process.env, ...env } })
      .then(() => assert.fail('exit 0 on the processors\' consumer group'), (e: { code: number; stderr: string }) => e);
    assert.equal(held.code, 1);
    assert.match(held.stderr, /partition \d of opsfold-events is held by the processor instances on consumer group \$Default; to rebuild while they run, set EVENTHUB_REPLAY_CONSUMER_GROUP/);

    // When it is added on a consumer group of its own
    const hub = emu.hub(HUB);
    const startsBefore = hub.starts.length;
    const added = await opsfold('projection', 'add', file);
    // (the refused build may have taken a version number: the one built is whichever the build says)
    const version = Number(/"projection":"cpu_by_region","version":(\d+),/.exec(added.stdout)?.[1]);
    assert.ok(version >= 1, added.stdout);

    // Then it is live and answers each partition's share merged, as computed here
    const region = (m: Sent) => m.region;
    const cpu = (m: Sent) => m.perfType === 'win_cpu';
    assert.deepEqual((await listed()).map((p) => [p.name, p.status, p.version]), [['cpu_by_region', 'live', version]]);
    const built = await read('cpu_by_region');
    assert.equal(built.status, 200);
    assert.ok(matches(built.data, expected(first, 300, region, cpu), 'Region'), `the built answer: ${JSON.stringify(built.data.slice(0, 3))}`);

    // When new data arrives (the next 15 minutes), then the service's partitions fold it into the projection
    const next = traffic(T0 + 30 * 60, 15, 11);
    for (let i = 0; i < next.length; i += 240) await post(next.slice(i, i + 240));
    const want = expected([...first, ...next], 300, region, cpu);
    const live = await eventually('cpu_by_region follows the new data, merged over both partitions', async () => {
      const got = await read('cpu_by_region');
      return matches(got.data, want, 'Region') && got.data;
    }, 60_000).catch((error: Error) => {
      throw new Error(`${error.message}; service said:\n${service.stderr().slice(-3000)}`);
    });
    // The processors for the new set read each partition again only from where a projection's own checkpoint needs, not from its start.
    const restarts = hub.starts.slice(startsBefore).filter((s) => s.consumerGroup === '$default');
    assert.deepEqual([...new Set(restarts.map((s) => s.partitionId))].sort(), ['0', '1'], 'both partitions read again by the new processor');
    assert.ok(restarts.every((s) => s.sequenceNumber > 0), `read again from: ${JSON.stringify(restarts)}`);
    // Each window holds VMs of tenants of both partitions: the merged VM counts add disjoint shares.
    assert.ok(live.some((d) => d.vms === TENANTS.length), 'a window counts the VMs of every tenant');
    const health = (await (await fetch(`${service.base}/healthz`)).json()) as { status: string; log: { partitions: string[] } };
    assert.deepEqual([health.status, health.log.partitions], ['ok', ['0', '1']]);
    // No instance sees every partition's revisions: the stream is the file log's only, the answer above is polled.
    assert.equal((await fetch(`${service.base}/v1/stream/projections/cpu_by_region`)).status, 404);

    // When it is replayed, then the API reads the next version, which answers the same
    const replay = await opsfold('replay', '--projection', 'cpu_by_region');
    assert.match(replay.stdout, new RegExp(`"projection":"cpu_by_region","version":${version + 1},`));
    assert.deepEqual((await listed()).map((p) => [p.name, p.version]), [['cpu_by_region', version + 1]]);
    const replayed = await read('cpu_by_region');
    assert.deepEqual(replayed.data.map(({ revision: _r, ...d }) => d), live.map(({ revision: _r, ...d }) => d));

    // And the service switched to it: only its partitions fold new data into that version
    const last = traffic(T0 + 45 * 60, 5, 13);
    await post(last);
    const wantLast = expected([...first, ...next, ...last], 300, region, cpu);
    await eventually('the next version follows the new data', async () => matches((await read('cpu_by_region')).data, wantLast, 'Region'), 60_000);

    // When it is dropped, then it is gone from the API
    await opsfold('projection', 'drop', 'cpu_by_region');
    await eventually('cpu_by_region is gone', async () => (await read('cpu_by_region')).status === 404);
    assert.deepEqual(await listed(), []);
  });
});
