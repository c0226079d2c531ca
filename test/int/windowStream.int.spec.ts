import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { loadSettings } from '../../src/config/settings';
import { startService, type Service } from '../../src/main';
import { replayCommand } from '../../src/cli/commands';
import { createApp, type ApiDeps } from '../../src/adapters/http/createApp';
import { createWindowStream, type WindowStream } from '../../src/adapters/http/streamRoutes';
import type { WindowEvent } from '../../src/core/windowMath';
import type { StreamedWindowEvent } from '../../src/core/windowStream';
import { WindowEventFeed } from '../../streams/WindowEventFeed';
import { TableWindowHistory } from '../../src/adapters/windowHistory/TableWindowHistory';
import { MemoryTableStore } from '../support/memoryTableStore';
import { SseClient } from '../support/sseClient';

const T_A = 'wYAVC3oWQU+ozhgAAg5f/w==637841132085596403';
const T_B = 'Zk9/q+Lm0w==637841132085596999';
const V1 = 'Shared/fk6h+aYw==63784';
const V2 = 'SharedZZ==1';
const K1 = 'win_cpu.percent';
const K2 = 'win_mem.available_mb';
const M0 = 1_700_000_040; // a minute boundary, long past: windows close by idle time
const VMS: [string, string][] = [[T_A, V1], [T_A, V2], [T_B, V1]];

/** The metrics of minute `start`: VM i, key j, sample s has value 10*i + 3*j + s (two samples each). */
function minuteMetrics(start: number): { tenant: string; vm: string; key: string; t: number; value: number }[] {
  const out = [];
  for (const [i, [tenant, vm]] of VMS.entries()) {
    for (const [j, key] of [K1, K2].entries()) {
      for (let s = 0; s < 2; s++) out.push({ tenant, vm, key, t: start + 5 + 20 * s, value: 10 * i + 3 * j + s });
    }
  }
  return out;
}

function spoc(metrics: { tenant: string; vm: string; key: string; t: number; value: number }[]): string {
  return JSON.stringify({
    metrics: metrics.map((m) => {
      const dot = m.key.indexOf('.');
      return { timestamp: m.t, MaskedTenantId: m.tenant, MaskedVMName: m.vm, PerfType: m.key.slice(0, dot), PerfName: m.key.slice(dot + 1), PerfValue: m.value };
    }),
  });
}

type Expected = Omit<WindowEvent, 'avg'> & { avg: number };

/** The windows a set of metrics gives, computed here from DESIGN §2 (one minute, per key and per VM+key). */
function expectedWindows(metrics: ReturnType<typeof minuteMetrics>, revision: number): Expected[] {
  const groups = new Map<string, { key: string; tenant?: string; vm?: string; windowStart: number; values: number[] }>();
  for (const m of metrics) {
    const windowStart = Math.floor(m.t / 60) * 60;
    for (const [id, g] of [[`${m.key}|${windowStart}`, { key: m.key, windowStart }], [`${m.key}|${windowStart}|${m.tenant}|${m.vm}`, { key: m.key, tenant: m.tenant, vm: m.vm, windowStart }]] as const) {
      if (!groups.has(id)) groups.set(id, { ...g, values: [] });
      groups.get(id)!.values.push(m.value);
    }
  }
  return [...groups.values()].map(({ values, ...g }) => {
    const sum = values.reduce((a, b) => a + b, 0);
    return { ...g, count: values.length, sum, min: Math.min(...values), max: Math.max(...values), avg: sum / values.length, revision };
  });
}

/** A window without its id, in a canonical form for comparing sets. */
function shape(w: WindowEvent): string {
  return JSON.stringify([w.key, w.tenant ?? null, w.vm ?? null, w.windowStart, w.count, w.sum, w.min, w.max, w.avg, w.revision]);
}

const sorted = (ws: WindowEvent[]): string[] => ws.map(shape).sort();

function assertIncreasingIds(client: SseClient): void {
  const frames = client.frames.filter((f) => f.event === 'window');
  for (const [i, f] of frames.entries()) {
    assert.equal(f.id, String((JSON.parse(f.data) as StreamedWindowEvent).id), 'the id field is the event id');
    if (i > 0) assert.ok(Number(f.id) > Number(frames[i - 1].id), 'ids increase');
  }
}

async function post(base: string, body: string): Promise<void> {
  const res = await fetch(`${base}/v1/spoc`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 202);
}

const q = encodeURIComponent;

describe('GET /v1/stream/windows on a running service', () => {
  let dir: string;
  let service: Service | undefined;
  let base: string;
  const clients: SseClient[] = [];
  const settingsFor = (dataDir: string) => loadSettings({
    port: 0, host: '127.0.0.1', dataDir, simulate: false, idleCloseSeconds: 1, flushIntervalMs: 200, sseHeartbeatSeconds: 1,
  }, {}).settings;
  const open = async (path: string, headers: Record<string, string> = {}) => {
    const c = await SseClient.connect(`${base}${path}`, headers);
    clients.push(c);
    return c;
  };
  const restart = async () => {
    await service?.stop();
    service = await startService(settingsFor(join(dir, 'data')));
    base = `http://127.0.0.1:${service.port}`;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-stream-'));
    await restart();
  });
  after(async () => {
    for (const c of clients) c.close();
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  // Shared by the tests below, in order: what the unfiltered client saw in the first service's life.
  let everything: StreamedWindowEvent[] = [];

  it('sends every window revision as one `window` event with its id, filtered by key, by tenant + VM and by grouping', async () => {
    const all = await open('/v1/stream/windows');
    const byKey = await open(`/v1/stream/windows?key=${q(K1)}`);
    const byVm = await open(`/v1/stream/windows?tenant=${q(T_A)}&vm=${q(V1)}`);
    const cross = await open(`/v1/stream/windows?key="${q(K2)}"&grouping=cross`);
    assert.equal(all.status, 200);
    assert.match(all.contentType, /^text\/event-stream/);
    await all.until((c) => c.comments.includes('connected'));

    const metrics = minuteMetrics(M0);
    await post(base, spoc(metrics));
    const expected = expectedWindows(metrics, 1);
    assert.equal(expected.length, 8); // 2 keys × (cross + 3 VMs)
    await all.until((c) => c.windows().length >= 8);
    await byKey.until((c) => c.windows().length >= 4);
    await byVm.until((c) => c.windows().length >= 2);
    await cross.until((c) => c.windows().length >= 1);

    assert.deepEqual(sorted(all.windows()), sorted(expected));
    assert.deepEqual(sorted(byKey.windows()), sorted(expected.filter((w) => w.key === K1)));
    assert.deepEqual(sorted(byVm.windows()), sorted(expected.filter((w) => w.tenant === T_A && w.vm === V1)));
    assert.deepEqual(sorted(cross.windows()), sorted(expected.filter((w) => w.key === K2 && w.tenant === undefined)));
    for (const c of [all, byKey, byVm, cross]) assertIncreasingIds(c);
    // A filtered client sees the very same events (ids and contents) as the unfiltered one.
    const allById = new Map(all.windows().map((w) => [w.id, shape(w)]));
    for (const w of [...byKey.windows(), ...byVm.windows(), ...cross.windows()]) assert.equal(allById.get(w.id), shape(w));
    assert.equal(all.retry, 2000);
    everything = all.windows();
  });

  it('a late metric within the allowed lateness arrives as revision 2 of its windows', async () => {
    const all = clients[0];
    const late = { tenant: T_B, vm: V1, key: K1, t: M0 + 50, value: 100 };
    await post(base, spoc([late]));
    await all.until((c) => c.windows().length >= 10);
    const revised = all.windows().slice(8);
    const metrics = [...minuteMetrics(M0), late];
    const expected = expectedWindows(metrics, 2).filter((w) => w.key === K1 && (w.tenant === undefined || (w.tenant === T_B && w.vm === V1)));
    assert.deepEqual(sorted(revised), sorted(expected));
    assertIncreasingIds(all);
    everything = all.windows();
  });

  it('sends a heartbeat comment while nothing happens', async () => {
    const all = clients[0];
    const before = all.comments.filter((c) => c === 'heartbeat').length;
    await all.until((c) => c.comments.filter((x) => x === 'heartbeat').length > before, 5000);
  });

  it('Last-Event-ID resumes: exactly the events after that id, then live ones', async () => {
    const resumed = await open('/v1/stream/windows', { 'Last-Event-ID': String(everything[2].id) });
    await resumed.until((c) => c.windows().length >= everything.length - 3);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(resumed.windows(), everything.slice(3));
    assert.equal(resumed.frames.filter((f) => f.event === 'truncated').length, 0);
    const filtered = await open(`/v1/stream/windows?key=${q(K1)}&grouping=vm`, { 'Last-Event-ID': String(everything[0].id) });
    const expected = everything.slice(1).filter((w) => w.key === K1 && w.tenant !== undefined);
    await filtered.until((c) => c.windows().length >= expected.length);
    assert.deepEqual(filtered.windows(), expected);
  });

  it('after a restart, the history is still there, and new ids go on above the old ones', async () => {
    await restart();
    const resumed = await open('/v1/stream/windows', { 'Last-Event-ID': String(everything[0].id) });
    await resumed.until((c) => c.windows().length >= everything.length - 1);
    assert.deepEqual(resumed.windows().slice(0, everything.length - 1), everything.slice(1));

    const inProcess: StreamedWindowEvent[] = [];
    const subscription = service!.windowEvents({ key: K2, grouping: 'cross' }).subscribe((w) => inProcess.push(w));
    const next = minuteMetrics(M0 + 300);
    await post(base, spoc(next));
    const fresh = expectedWindows(next, 1);
    await resumed.until((c) => c.windows().length >= everything.length - 1 + fresh.length);
    const live = resumed.windows().slice(everything.length - 1);
    assert.deepEqual(sorted(live), sorted(fresh));
    assert.ok(live[0].id > everything[everything.length - 1].id, 'ids after the restart are above every id before it');
    assertIncreasingIds(resumed);
    for (let i = 0; i < 100 && inProcess.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    subscription.unsubscribe();
    assert.deepEqual(inProcess, live.filter((w) => w.key === K2 && w.tenant === undefined), 'the Observable gives the same events and ids');
    everything = [...everything, ...live];
  });

  it('answers bad filters and a bad Last-Event-ID with 400 and the error object, and accepts quoted values', async () => {
    const cases: [string, Record<string, string>, string][] = [
      ['?color=red', {}, 'color'],
      [`?tenant=${q(T_A)}`, {}, 'vm'],
      [`?vm=${q(V1)}`, {}, 'tenant'],
      ['?grouping=tenant', {}, 'grouping'],
      [`?grouping=cross&tenant=${q(T_A)}&vm=${q(V1)}`, {}, 'grouping'],
      ['?key=', {}, 'key'],
      ['?key=a&key=b', {}, 'key'],
      ['', { 'Last-Event-ID': 'abc' }, 'Last-Event-ID'],
      ['?emit=FINAL', {}, 'emit'],
      ['?emit=final&emit=changes', {}, 'emit'],
    ];
    for (const [query, headers, parameter] of cases) {
      const res = await fetch(`${base}/v1/stream/windows${query}`, { headers });
      assert.equal(res.status, 400, query);
      const body = (await res.json()) as { error: { code: string; parameter: string; message: string } };
      assert.equal(body.error.code, 'invalid_parameter', query);
      assert.equal(body.error.parameter, parameter, query);
    }
  });

  it('opsfold replay rebuilds the history: a resume from its start lists the same window revisions', async () => {
    await service!.stop();
    service = undefined;
    for (const c of clients) c.close();
    assert.equal(await replayCommand('windows', { dataDir: join(dir, 'data'), idleCloseSeconds: 1 }), 0);
    await restart();
    const fromStart = await open('/v1/stream/windows', { 'Last-Event-ID': '1' });
    await fromStart.until((c) => c.windows().length >= everything.length);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(sorted(fromStart.windows()), sorted(everything));
    assert.equal(fromStart.frames[0].event, 'truncated', 'id 1 is older than the history: the client is told first');
    assertIncreasingIds(fromStart);
    const health = (await (await fetch(`${base}/healthz`)).json()) as { versions: { windows: number } };
    assert.equal(health.versions.windows, 2);
    // The histories (revisions, and final notices under final/) are files beside the log; version 1's went with its tables.
    assert.deepEqual(await readdir(join(dir, 'data', 'window-history')), ['final', 'opsfoldV2']);
    assert.deepEqual(await readdir(join(dir, 'data', 'window-history', 'final')), ['opsfoldV2']);
    assert.ok((await readdir(join(dir, 'data', 'window-history', 'opsfoldV2'))).some((f) => /^H\d+\.chunks$/.test(f)));
  });
});

/** A stream over an in-memory feed, for what needs many events fast. */
async function feedRig(options: { maxBufferedBytes: number; heartbeatMs: number; apiToken?: string }): Promise<{
  windows$: Subject<WindowEvent>; feed: WindowEventFeed; stream: WindowStream; server: Server; base: string; stop(): Promise<void>;
}> {
  const windows$ = new Subject<WindowEvent>();
  const feed = await WindowEventFeed.open({ windows$, store: new TableWindowHistory(new MemoryTableStore(), 't', 1), retentionHours: 24, flushIntervalMs: 100 });
  const stream = createWindowStream({ source: feed, heartbeatMs: options.heartbeatMs, maxBufferedBytes: options.maxBufferedBytes, overflowGraceMs: 60_000 });
  const unused = async () => {
    throw new Error('not in this test');
  };
  const deps: ApiDeps = {
    ingest: unused, minuteTable: unused, vmMinuteTable: unused, catalog: unused, rejects: unused,
    health: () => ({}), metricsText: () => '', windowStream: stream, apiToken: options.apiToken,
  };
  const server = await new Promise<Server>((resolve) => {
    const s = createApp(deps).listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    windows$, feed, stream, server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async stop() {
      stream.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await feed.close();
    },
  };
}

/** The body of a raw HTTP/1.1 response: the stream is not chunked, it ends with the connection. */
function bodyOf(raw: string): string {
  return raw.slice(raw.indexOf('\r\n\r\n') + 4);
}

describe('GET /v1/stream/windows: slow clients, heartbeats, the token', () => {
  it('a client that stops reading is sent `overflow` and disconnected; its waiting bytes never pass the bound, others go on', async () => {
    const maxBufferedBytes = 64 * 1024;
    const rig = await feedRig({ maxBufferedBytes, heartbeatMs: 60_000 });
    try {
      const fast = await SseClient.connect(`${rig.base}/v1/stream/windows`);
      const slow = connect(Number(new URL(rig.base).port), '127.0.0.1');
      await new Promise((r) => slow.once('connect', r));
      slow.write('GET /v1/stream/windows HTTP/1.1\r\nHost: x\r\n\r\n');
      slow.pause();
      for (let i = 0; i < 100 && rig.stream.stats().clients < 2; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(rig.stream.stats().clients, 2);

      let pushed = 0;
      let pushedBytes = 0;
      const padding = 'x'.repeat(200);
      // Bursts of 100 events (~30 KB, under the bound); the fast client reads everything between bursts.
      while (rig.stream.stats().overflows === 0 && pushed < 400_000) {
        for (let i = 0; i < 100; i++) {
          rig.windows$.next({ key: `k${padding}`, windowStart: 60 * pushed, count: 1, sum: pushed, min: pushed, max: pushed, avg: pushed, revision: 1 });
          pushed++;
          pushedBytes += 300;
        }
        await fast.until((c) => c.windowCount >= pushed);
      }
      assert.equal(rig.stream.stats().overflows, 1);
      assert.ok(pushedBytes > 20 * maxBufferedBytes, 'far more was sent than the bound');
      assert.ok(rig.stream.stats().peakClientBufferedBytes <= maxBufferedBytes, `peak ${rig.stream.stats().peakClientBufferedBytes}`);
      assert.equal(rig.stream.stats().clients, 2, 'the slow client is still draining');

      let raw = '';
      slow.setEncoding('utf8');
      slow.on('data', (d: string) => (raw += d));
      slow.resume();
      await new Promise((r) => slow.once('end', r));
      const body = bodyOf(raw);
      assert.doesNotMatch(raw.slice(0, raw.indexOf('\r\n\r\n')), /transfer-encoding/i);
      assert.match(body, /event: overflow\ndata: \{"maxBufferedBytes":65536,[^\n]*\n\n$/);
      const ids = [...body.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
      const fastIds = fast.windows().map((w) => w.id);
      assert.deepEqual(ids, fastIds.slice(0, ids.length), 'the slow client got an unbroken prefix of the events');
      await fast.until((c) => c.windowCount === pushed);
      assert.equal(fast.ended, false);
      for (let i = 0; i < 100 && rig.stream.stats().clients !== 1; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(rig.stream.stats().clients, 1);
      fast.close();
    } finally {
      await rig.stop();
    }
  });

  it('a resume of a history far larger than the bound is paced by the client, not cut', async () => {
    const maxBufferedBytes = 64 * 1024;
    const rig = await feedRig({ maxBufferedBytes, heartbeatMs: 60_000 });
    try {
      const total = 20_000; // ~5 MB of frames, 80 times the bound
      for (let i = 0; i < total; i++) rig.windows$.next({ key: 'k', tenant: 't', vm: `vm${i % 7}`, windowStart: 60 * i, count: 1, sum: i, min: i, max: i, avg: i, revision: 1 });
      await rig.feed.flush();
      const client = await SseClient.connect(`${rig.base}/v1/stream/windows`, { 'Last-Event-ID': '0' });
      await client.until((c) => c.windowCount === total, 30_000);
      assert.equal(rig.stream.stats().overflows, 0);
      assert.deepEqual(client.windows().map((w) => w.avg), Array.from({ length: total }, (_, i) => i));
      assert.ok(rig.stream.stats().peakClientBufferedBytes <= maxBufferedBytes, `peak ${rig.stream.stats().peakClientBufferedBytes}`);
      client.close();
    } finally {
      await rig.stop();
    }
  });

  it('heartbeats reach an idle client, and the service stopping ends the stream', async () => {
    const rig = await feedRig({ maxBufferedBytes: 1 << 20, heartbeatMs: 50 });
    const client = await SseClient.connect(`${rig.base}/v1/stream/windows`);
    await client.until((c) => c.comments.filter((x) => x === 'heartbeat').length >= 3, 5000);
    await rig.stop();
    await client.until((c) => c.ended, 5000);
  });

  it('needs the bearer token when one is set', async () => {
    const rig = await feedRig({ maxBufferedBytes: 1 << 20, heartbeatMs: 60_000, apiToken: 's3cret' });
    try {
      const denied = await fetch(`${rig.base}/v1/stream/windows`);
      assert.equal(denied.status, 401);
      assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'unauthorized');
      const client = await SseClient.connect(`${rig.base}/v1/stream/windows?key=k`, { Authorization: 'Bearer s3cret' });
      assert.equal(client.status, 200);
      rig.windows$.next({ key: 'k', windowStart: 0, count: 1, sum: 5, min: 5, max: 5, avg: 5, revision: 1 });
      await client.until((c) => c.windows().length === 1);
      assert.equal(client.windows()[0].avg, 5);
      client.close();
    } finally {
      await rig.stop();
    }
  });
});
