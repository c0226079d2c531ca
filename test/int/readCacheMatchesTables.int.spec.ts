import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadSettings } from '../../src/config/settings';
import { startService, type Service } from '../../src/main';
import { runningService } from '../../src/runtime';
import { replayCommand } from '../../src/cli/commands';
import { createApp } from '../../src/adapters/http/createApp';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import { metaTable } from '../../projections/projectionCatalog';
import { openMerged } from '../../projections/projectionTables';
import { windowsProjection } from '../../projections/windowsProjection';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { eventually } from '../support/eventually';

const T_A = 'wYAVC3oWQU+ozhgAAg5f/w==637841132085596403';
const T_B = 'Zk9/q+Lm0w==637841132085596999';
const VMS: [string, string][] = [[T_A, 'Shared/fk6h+aYw==63784'], [T_A, 'SharedZZ==1'], [T_B, 'Shared/fk6h+aYw==63784'], [T_B, 'vm+4']];
const LATE_VM: [string, string] = [T_B, 'joined/late='];
const K1 = 'win_cpu.percent_processor_time';
const K2 = 'win_mem.available_mb';
const M0 = 1_700_000_040; // a minute boundary long past: windows close by idle time
const MINUTES = 90;
const q = encodeURIComponent;

interface Sent {
  tenant: string;
  vm: string;
  key: string;
  t: number;
  value: number;
}

/**
 * Minute m of VM i, key j: one value, three in minutes divisible by 7 (windows of several values),
 * none when m % 5 is i (gaps); values spread so that rankings change with the range.
 */
function minuteOf(m: number): Sent[] {
  const out: Sent[] = [];
  VMS.forEach(([tenant, vm], i) => {
    if (m % 5 === i) return;
    [K1, K2].forEach((key, j) => {
      const samples = m % 7 === 0 ? 3 : 1;
      for (let s = 0; s < samples; s++) out.push({ tenant, vm, key, t: M0 + m * 60 + 7 + 15 * s, value: ((i * 37 + j * 11 + m * 13 + s * 29) % 101) + 0.25 * i });
    });
  });
  return out;
}

function spoc(metrics: readonly Sent[]): string {
  return JSON.stringify({
    metrics: metrics.map((m) => {
      const dot = m.key.indexOf('.');
      return { timestamp: m.t, MaskedTenantId: m.tenant, MaskedVMName: m.vm, PerfType: m.key.slice(0, dot), PerfName: m.key.slice(dot + 1), PerfValue: m.value };
    }),
  });
}

/** Windows the metrics make (cross-tenant and per VM), for waiting until the service has emitted them all. */
function windowCount(metrics: readonly Sent[]): number {
  const ids = new Set<string>();
  for (const m of metrics) {
    const ws = Math.floor(m.t / 60) * 60;
    ids.add(JSON.stringify([m.key, ws]));
    ids.add(JSON.stringify([m.key, ws, m.tenant, m.vm]));
  }
  return ids.size;
}

/**
 * The URLs compared, in two groups: those whose range lies in the cache's span (the last 60 minutes
 * of cross-tenant windows, the last 20 of per-VM ones), which must be answered from memory, and those
 * reaching further back, which go to the tables.
 */
function urls(): { memory: string[]; tables: string[] } {
  const memory: string[] = [];
  const tables: string[] = [];
  for (const key of [K1, K2]) {
    memory.push(`/v1/get-data?key=${key}`, `/v1/get-data?key=${key}&aggregationInterval=5&aggregationBy=max`,
      `/v1/get-data?key=${key}&minutes=30&to=${M0 + 80 * 60}&aggregationBy=min`, `/v1/get-data?key=${key}&aggregationBy=p95`,
      `/v1/get-data?key=${key}&aggregationInterval=5&aggregationBy=p50`, `/v1/get-data?key=${key}&minutes=30&aggregationInterval=15&aggregationBy=p99`);
    tables.push(`/v1/get-data?key=${key}&minutes=10&to=${M0 + 5 * 60}`, `/v1/get-data?key=${key}&minutes=90&aggregationInterval=15`,
      `/v1/get-data?key=${key}&minutes=90&aggregationInterval=10&aggregationBy=p90`);
    for (const by of ['avg', 'max', 'p95']) {
      memory.push(`/v1/top?key=${key}&minutes=15&by=${by}`, `/v1/top?key=${key}&minutes=10&n=2&by=${by}&to=${M0 + 85 * 60}`);
      tables.push(`/v1/top?key=${key}&minutes=30&by=${by}`);
    }
    for (const [tenant, vm] of [...VMS, LATE_VM]) {
      memory.push(`/v1/get-tenant-data?key=${key}&tenant=${q(tenant)}&vm=${q(vm)}&minutes=15&to=${M0 + 88 * 60}`,
        `/v1/get-tenant-data?key=${key}&tenant=${q(tenant)}&vm=${q(vm)}&minutes=15&to=${M0 + 88 * 60}&aggregationInterval=5&aggregationBy=p95`);
      tables.push(`/v1/get-tenant-data?key=${key}&tenant=${q(tenant)}&vm=${q(vm)}&minutes=60&aggregationInterval=5`,
        `/v1/get-tenant-data?key=${key}&tenant=${q(tenant)}&vm=${q(vm)}&minutes=60&aggregationInterval=30&aggregationBy=p50`);
    }
  }
  memory.push('/v1/get-data?key=nope', '/v1/top?key=nope&minutes=15', `/v1/get-tenant-data?key=nope&tenant=${q(T_A)}&vm=x`);
  return { memory, tables };
}

interface FleetBucket {
  timestamp: number;
  value: number;
  vms: number;
  final: boolean;
  expectedVms: number;
}

/**
 * Checks get-data's one-minute buckets of a key against the metrics sent, computed here: vms the
 * distinct (tenant, VM) pairs of the minute, expectedVms those of the hour before it, exactly; p95
 * (the value at rank ⌊0.95·(n−1)⌋ of the minute's values) within 1%.
 */
function assertFleetFigures(sent: readonly Sent[], key: string, counts: readonly FleetBucket[], p95: readonly FleetBucket[]): void {
  const minute = (t: number) => Math.floor(t / 60) * 60;
  const pairs = (from: number, to: number) => new Set(sent.filter((m) => m.key === key && minute(m.t) >= from && minute(m.t) < to).map((m) => `${m.tenant} ${m.vm}`)).size;
  assert.ok(counts.length > 0 && counts.length === p95.length);
  counts.forEach((b, i) => {
    assert.deepEqual([b.vms, b.expectedVms], [pairs(b.timestamp, b.timestamp + 60), pairs(b.timestamp - 3600, b.timestamp)], `${key} at ${b.timestamp}`);
    const values = sent.filter((m) => m.key === key && minute(m.t) === b.timestamp).map((m) => m.value).sort((x, y) => x - y);
    const exact = values[Math.floor(0.95 * (values.length - 1))];
    assert.equal(p95[i].timestamp, b.timestamp);
    assert.ok(Math.abs(p95[i].value - exact) <= 0.01 * Math.abs(exact), `${key} p95 at ${b.timestamp}: ${p95[i].value} against ${exact}`);
  });
}

async function getJson(base: string, path: string): Promise<unknown> {
  const res = await fetch(`${base}${path}`);
  const body = await res.json();
  assert.equal(res.status, 200, `${path}: ${JSON.stringify(body)}`);
  return body;
}

interface ReadCacheFigures {
  memory: number;
  tables: number;
}

describe('the read cache answers as the tables do', () => {
  let dir: string;
  let dataDir: string;
  let service: Service | undefined;
  let cached: string;
  let tableServer: Server;
  let fromTables: string;
  const sent: Sent[] = [];

  const health = async () => (await getJson(cached, '/healthz')) as { projector: { windowsEmitted: number; revisions: number }; versions: { windows: number }; readCache: ReadCacheFigures };
  const post = async (metrics: Sent[]) => {
    const res = await fetch(`${cached}/v1/spoc`, { method: 'POST', body: spoc(metrics) });
    assert.equal(res.status, 202, await res.text());
    sent.push(...metrics);
  };
  /**
   * Once the service has emitted every window of what was sent and the tables hold them: every URL
   * answered by the service (through its cache) and by an app that reads the same tables only.
   * The in-span URLs must then have been answered from memory, the others from the tables.
   */
  const compareAll = async (): Promise<Map<string, unknown>> => {
    const { memory, tables } = urls();
    let last = 'no round finished';
    try {
      return await eventually('the cache and the tables to answer alike, the cache from memory', async () => {
        const h0 = (await health()).readCache;
        const answers = new Map<string, unknown>();
        for (const url of memory) answers.set(url, await getJson(cached, url));
        const h1 = (await health()).readCache;
        for (const url of tables) answers.set(url, await getJson(cached, url));
        const h2 = (await health()).readCache;
        // The first rounds read the keys' windows in (per-VM ones in the background): only then is all from memory.
        if (h1.tables !== h0.tables || h1.memory <= h0.memory) {
          last = `reads of recent ranges went to the tables: ${JSON.stringify([h0, h1])}`;
          return false;
        }
        assert.ok(h2.tables > h1.tables, 'ranges beyond the span are read from the tables');
        for (const [url, answer] of answers) {
          const expected = await getJson(fromTables, url);
          // The tables lag the cache by a flush: until they have caught up, wait.
          if (JSON.stringify(answer) !== JSON.stringify(expected)) {
            last = `${url}\n  cache:  ${JSON.stringify(answer)}\n  tables: ${JSON.stringify(expected)}`;
            return false;
          }
        }
        return answers;
      }, 60_000);
    } catch (error) {
      throw new Error(`${(error as Error).message}; last difference: ${last}`);
    }
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-readcache-'));
    dataDir = join(dir, 'data');
    service = await startService(loadSettings({
      port: 0, host: '127.0.0.1', dataDir, simulate: false, idleCloseSeconds: 1, flushIntervalMs: 200, readCacheHours: 1, readCacheVmMinutes: 20,
    }, {}).settings);
    cached = `http://127.0.0.1:${service.port}`;
    // The table path: an app over the same tables (the active version's, looked up at each read), without the cache.
    const running = (await runningService(dataDir))!;
    const store = TableStorageStore.fromConnectionString(EmbeddedAzurite.tableConnectionStringFor(running.host, running.tablePort!));
    const versions = new ProjectionVersions(await store.rowTable(metaTable('opsfold')));
    const activeWindows = async () => {
      const version = (await versions.active('windows'))!;
      return { prefix: 'opsfold', version, scopes: await versions.scopes('windows', version) };
    };
    const unused = async (): Promise<never> => {
      throw new Error('not read by this test');
    };
    const app = createApp({
      ingest: unused, rejects: unused, health: () => ({ status: 'ok' }), metricsText: () => '',
      // Which windows are final, as the active version's checkpoint says.
      finalThrough: async () => (await versions.checkpoint('windows', (await activeWindows()).version))?.finalThrough ?? -Infinity,
      minuteTable: async () => openMerged(store, windowsProjection.tables.minute, await activeWindows()),
      vmMinuteTable: async () => openMerged(store, windowsProjection.tables.vmMinute, await activeWindows()),
      catalog: async () => openMerged(store, windowsProjection.tables.catalog, await activeWindows()),
    });
    tableServer = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    fromTables = `http://127.0.0.1:${(tableServer.address() as AddressInfo).port}`;
  });

  after(async () => {
    tableServer?.closeAllConnections();
    await new Promise((resolve) => tableServer?.close(resolve));
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  let first: Map<string, unknown>;

  it('on 90 minutes of a fleet (gaps, windows of several values, ids with / + =): the same answers, recent ranges from memory', async () => {
    // Ten minutes a message, each minute's metrics in reverse order.
    for (let m = 0; m < MINUTES; m += 10) await post(Array.from({ length: 10 }, (_, i) => minuteOf(m + i).reverse()).flat());
    const windows = windowCount(sent);
    await eventually('every window emitted', async () => (await health()).projector.windowsEmitted >= windows, 60_000);
    // windowsEmitted counts revisions too (a window closed while idle and revised later): also wait for each key's last minute.
    for (const key of [K1, K2]) {
      const last = Math.max(...sent.filter((m) => m.key === key).map((m) => Math.floor(m.t / 60) * 60));
      await eventually(`${key}'s last minute answered`, async () => {
        const answer = await getJson(cached, `/v1/get-data?key=${encodeURIComponent(key)}`) as { data: { timestamp: number }[] };
        return answer.data.at(-1)?.timestamp === last;
      }, 60_000);
    }
    first = await compareAll();
    const top = first.get(`/v1/top?key=${K1}&minutes=15&by=avg`) as { data: { vm: string; count: number }[] };
    assert.equal(top.data.length, VMS.length, 'every VM that reported in the range');
    const data = first.get(`/v1/get-data?key=${K1}`) as { data: FleetBucket[] };
    assert.equal(data.data.length, 60);
    assert.equal(data.data.at(-1)!.timestamp, M0 + (MINUTES - 1) * 60);
    // The newest half hour (the allowed lateness) and a minute of tolerance are not final yet, the windows before are: both answered alike.
    const finalThrough = Math.max(...sent.map((m) => m.t)) - 60 - 1800;
    assert.deepEqual(data.data.map((b) => b.final), data.data.map((b) => b.timestamp + 60 <= finalThrough));
    assert.ok(data.data.some((b) => b.final) && data.data.some((b) => !b.final));
    for (const key of [K1, K2]) {
      assertFleetFigures(sent, key, (first.get(`/v1/get-data?key=${key}`) as { data: FleetBucket[] }).data, (first.get(`/v1/get-data?key=${key}&aggregationBy=p95`) as { data: FleetBucket[] }).data);
    }
  });

  it('after late data within the allowed lateness (revisions, a VM first seen late) and too late: still the same, and the revisions show', async () => {
    const before = await health();
    const late: Sent[] = [];
    for (let m = 72; m < 86; m++) {
      late.push({ tenant: VMS[0][0], vm: VMS[0][1], key: K1, t: M0 + m * 60 + 50, value: 500 + m });
      late.push({ tenant: LATE_VM[0], vm: LATE_VM[1], key: K1, t: M0 + m * 60 + 51, value: 200 - m });
      late.push({ tenant: LATE_VM[0], vm: LATE_VM[1], key: K2, t: M0 + m * 60 + 52, value: m });
    }
    late.push({ tenant: VMS[1][0], vm: VMS[1][1], key: K1, t: M0 + 10 * 60 + 5, value: 1e6 }); // 80 minutes behind: the late ledger
    await post(late);
    await eventually('the revisions emitted', async () => (await health()).projector.windowsEmitted >= before.projector.windowsEmitted + windowCount(late.slice(0, -1)), 60_000);
    const second = await compareAll();
    const top = second.get(`/v1/top?key=${K1}&minutes=15&by=max`) as { data: { tenant: string; vm: string; value: number }[] };
    assert.deepEqual([top.data[0].vm, top.data[0].value], [VMS[0][1], 585], 'the late values lead the ranking');
    assert.ok(top.data.some((r) => r.vm === LATE_VM[1]), 'the VM first seen in late data is ranked');
    assert.notDeepEqual(second.get(`/v1/get-data?key=${K1}`), first.get(`/v1/get-data?key=${K1}`));
    // The VM first seen in late data counts in its minutes, and is expected in the hour after them; the too-late metric changes nothing.
    const counted = sent.filter((m) => m.value !== 1e6);
    for (const key of [K1, K2]) {
      assertFleetFigures(counted, key, (second.get(`/v1/get-data?key=${key}`) as { data: FleetBucket[] }).data, (second.get(`/v1/get-data?key=${key}&aggregationBy=p95`) as { data: FleetBucket[] }).data);
    }
    const k1 = (second.get(`/v1/get-data?key=${K1}`) as { data: FleetBucket[] }).data;
    assert.deepEqual(k1.find((b) => b.timestamp === M0 + 86 * 60)!.expectedVms, VMS.length + 1, 'the late VM is expected after its last minute');
    assert.deepEqual(second.get(`/v1/get-data?key=${K1}&minutes=10&to=${M0 + 5 * 60}`), first.get(`/v1/get-data?key=${K1}&minutes=10&to=${M0 + 5 * 60}`));
  });

  it('after opsfold replay switched the service to a new version: the cache follows it', async () => {
    const before = await compareAll();
    assert.equal(await replayCommand('windows', { dataDir, idleCloseSeconds: 1 }), 0);
    await eventually('the service on version 2', async () => (await health()).versions.windows === 2, 30_000);
    const after = await compareAll();
    assert.deepEqual([...after.entries()], [...before.entries()]);
  });
});
