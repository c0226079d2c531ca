import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { encodeEvent } from '../../src/core/logCodec';
import type { Metric } from '../../src/core/metric';
import { eventually } from '../support/eventually';
import { BIN, killServiceProcesses, startServiceProcess, stopServiceProcess } from '../support/serviceProcess';

const run = promisify(execFile);
const T0 = 1_700_000_000 - (1_700_000_000 % 60);
const KEY = 'win_cpu.percent';
const TA = 'wYAV/w==+1';
const TB = "t#2'?";
const VM = 'vm/1';

const dirs: string[] = [];
after(async () => {
  await killServiceProcesses();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function dataDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `opsfold-${name}-`));
  dirs.push(dir);
  return join(dir, 'data');
}

async function post(base: string, body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}/v1/spoc`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  return { status: res.status, json: await res.json() };
}

const spoc = (tenant: string, timestamp: number, value: unknown, fields: Record<string, unknown> = {}) =>
  ({ timestamp, MaskedTenantId: tenant, MaskedVMName: VM, PerfType: 'win_cpu', PerfName: 'percent', PerfValue: value, SiteName: null, ...fields });

const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const id256 = (c: string) => c.repeat(256);

/**
 * One message: five good metrics (tenants A and B, minutes 0–2) and, between them, every kind of
 * metric the gate refuses, each with the reason it must get (a pattern where it names the arrival).
 */
function mixedMessage(): { text: string; rejected: [number, string | RegExp][] } {
  const items: (string | { good: unknown } | { bad: unknown; reason: string | RegExp })[] = [
    { good: spoc(TA, T0 + 5, 10) },
    { bad: spoc(TA, 1790000100000, 1), reason: 'timestamp 1790000100000 looks like epoch milliseconds (2026-09-21T14:15:00Z): send epoch seconds' },
    { bad: spoc(TA, -3600, 1), reason: 'timestamp -3600 is before 2000-01-01T00:00:00Z (946684800): send epoch seconds' },
    { bad: spoc(TA, 1e20, 1), reason: /^timestamp 100000000000000000000 is more than 300 seconds after its arrival/ },
    { bad: spoc(TA, 32503680000, 1), reason: /^timestamp 32503680000 \(3000-01-01T00:00:00Z\) is more than 300 seconds after its arrival/ },
    { good: spoc(TB, T0 + 10, 20) },
    { bad: spoc(TA, T0 + 20, 1, { MaskedVMName: 'v\ud800' }), reason: 'MaskedVMName is not well-formed Unicode: a lone UTF-16 surrogate (\\ud800) at index 1' },
    {
      bad: spoc(id256('t'), T0 + 20, 1, { MaskedVMName: id256('v'), PerfType: id256('p'), PerfName: id256('n') }),
      reason: "MaskedTenantId and MaskedVMName take 512 characters of a table key once escaped; together they may take at most 494 (each / \\ # ? % | ' or control character takes 3 characters for each of its UTF-8 bytes)",
    },
    { bad: spoc(TA, T0 + 20, 1e308), reason: 'PerfValue 1e+308 is beyond ±1e300, the largest magnitude whose window sums stay finite' },
    { bad: spoc(TA, T0 + 25, 1e308), reason: 'PerfValue 1e+308 is beyond ±1e300, the largest magnitude whose window sums stay finite' },
    { good: spoc(TA, T0 + 65, 30) },
    { bad: spoc(TA, T0 + 20, '1'), reason: 'PerfValue must be a number, got the string "1"' },
    // Written as text below: a metric that is a 10,000-deep array, and one holding a 5,000-deep object.
    deepArray(10_000),
    { good: spoc(TB, T0 + 70, 50) },
    JSON.stringify(spoc(TA, T0 + 20, 1)).replace('"SiteName":null', `"SiteName":${deepObject(5000)}`),
    { good: spoc(TA, T0 + 125, 7) },
  ];
  const rejected: [number, string | RegExp][] = [];
  const texts = items.map((item, index) => {
    if (typeof item === 'string') {
      rejected.push([index, item.startsWith('[') ? 'a metric must be a JSON object' : 'SiteName must be a string or null, got object']);
      return item;
    }
    if ('good' in item) return JSON.stringify(item.good);
    rejected.push([index, item.reason]);
    return JSON.stringify(item.bad);
  });
  return { text: `{"metrics":[${texts.join(',')}]}`, rejected };
}

/** The good metrics' cross-tenant minutes, by hand: average of the window's values, count, low, high. */
const CROSS = [
  { timestamp: T0, value: 15, count: 2, windows: 1, low: 10, high: 20 },
  { timestamp: T0 + 60, value: 40, count: 2, windows: 1, low: 30, high: 50 },
  { timestamp: T0 + 120, value: 7, count: 1, windows: 1, low: 7, high: 7 },
];
/** Tenant A's VM, each bucket with the cross-tenant value beside it. */
const TENANT_A = [
  { timestamp: T0, value: 10, count: 1, average: 15 },
  { timestamp: T0 + 60, value: 30, count: 1, average: 40 },
  { timestamp: T0 + 120, value: 7, count: 1, average: 7 },
];

async function json(base: string, path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`);
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

/** Waits until the good windows are all there, then checks them exactly. */
async function assertGoodWindows(base: string): Promise<void> {
  const path = `/v1/get-data?key=${encodeURIComponent(KEY)}&minutes=3&to=${T0 + 120}`;
  const data = await eventually('the three minutes of good data', async () => {
    const body = await json(base, path);
    const buckets = body.data as Record<string, number>[];
    return buckets.length === 3 && buckets.reduce((n, b) => n + b.count, 0) === 5 && buckets;
  });
  assert.deepEqual(data.map(({ timestamp, value, count, windows, low, high }) => ({ timestamp, value, count, windows, low, high })), CROSS);
  // The VM's windows may show a moment after the cross-tenant ones (another table, another read): wait for them too.
  const tenantPath = `/v1/get-tenant-data?key=${encodeURIComponent(KEY)}&tenant=${encodeURIComponent(TA)}&vm=${encodeURIComponent(VM)}&minutes=3&to=${T0 + 120}`;
  const tenant = await eventually('the VM\'s windows of good data', async () => {
    const buckets = (await json(base, tenantPath)).data as Record<string, number>[];
    return buckets.length === TENANT_A.length && buckets;
  });
  assert.deepEqual(tenant.map(({ timestamp, value, count, average }) => ({ timestamp, value, count, average })), TENANT_A);
  const keys = await json(base, '/v1/keys');
  assert.deepEqual((keys.keys as { key: string }[]).map((k) => k.key), [KEY]);
}

describe('bad input over HTTP, against a spawned service', () => {
  it('each kind of bad metric beside good ones gets 202 with its reason, deep bodies get 202 or 400, never 5xx; the good windows are exact live, after a restart and after opsfold replay', async () => {
    const dir = await dataDir('badinput');
    let service = await startServiceProcess(dir);
    const message = mixedMessage();

    const answer = await post(service.base, message.text);

    assert.equal(answer.status, 202, JSON.stringify(answer.json));
    const { accepted, rejected } = answer.json as { accepted: number; rejected: { index: number; reason: string }[] };
    assert.equal(accepted, 5);
    assert.deepEqual(rejected.map((r) => r.index), message.rejected.map(([index]) => index));
    for (const [i, [, reason]] of message.rejected.entries()) {
      if (typeof reason === 'string') assert.equal(rejected[i].reason, reason);
      else assert.match(rejected[i].reason, reason);
    }
    // Whole bodies nested 10,000 and 100,000 deep, and a deep object where "metrics" should be: not SPOC messages.
    for (const body of [deepArray(10_000), deepArray(100_000), `{"metrics":${deepObject(5000)}}`, deepObject(20_000)]) {
      const res = await post(service.base, body);
      assert.equal(res.status, 400, JSON.stringify(res.json));
      assert.equal((res.json as { error: { code: string } }).error.code, 'invalid_message');
    }
    // "metrics" itself 10,000 deep: one metric that is an array.
    const nested = await post(service.base, `{"metrics":${deepArray(10_000)}}`);
    assert.deepEqual([nested.status, nested.json], [202, { accepted: 0, rejected: [{ index: 0, reason: 'a metric must be a JSON object' }] }]);

    await assertGoodWindows(service.base);
    const rejects = await eventually('the rejects ledger to list the refused metrics', async () => {
      const body = await json(service.base, '/v1/rejects?limit=100');
      const rows = body.rejects as { reason: string }[];
      return rows.length === message.rejected.length + 1 && rows;
    });
    assert.ok(rejects.some((r) => r.reason.includes('looks like epoch milliseconds')));
    const health = await json(service.base, '/healthz');
    assert.equal(health.status, 'ok');

    await stopServiceProcess(service);
    service = await startServiceProcess(dir);
    await assertGoodWindows(service.base);
    await stopServiceProcess(service);

    const replay = await run(process.execPath, [BIN, 'replay', '--data-dir', dir]);
    assert.match(replay.stdout, /"projection":"windows","version":2,"metrics":5,/);
    service = await startServiceProcess(dir);
    await assertGoodWindows(service.base);
    await stopServiceProcess(service);
    assert.doesNotMatch(service.stderr(), /unhandled|internal error/i);
  });

  it('a log written before the gate, with metrics it refuses beside good ones, is folded live, replayed by opsfold replay (exit 0) and served with the good windows exact', async () => {
    const dir = await dataDir('oldlog');
    const good = (tenant: string, t: number, value: number): Metric => ({ t, tenant, vm: VM, key: KEY, value });
    const refused: Metric[] = [
      good(TA, 1790000100000, 1), good(TA, -3600, 1), good(TA, 1e20, 1), good(TA, 32503680000, 1), good(TA, T0 + 20, 1e308), good(TA, T0 + 25, 1e308),
      { ...good(TA, T0 + 20, 1), vm: 'v\ud800' }, { t: T0 + 20, tenant: id256('t'), vm: id256('v'), key: `${id256('p')}.${id256('n')}`, value: 1 },
    ];
    // As today's version wrote it: its validation let every one of these into the log.
    const log = await FileLog.open(join(dir, 'log'));
    await log.append([encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: Date.now(), rejected: [],
      metrics: [good(TA, T0 + 5, 10), ...refused.slice(0, 4), good(TB, T0 + 10, 20), good(TA, T0 + 65, 30)] })]);
    await log.append([encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: Date.now(), rejected: [],
      metrics: [...refused.slice(4), good(TB, T0 + 70, 50), good(TA, T0 + 125, 7)] })]);
    await log.close();

    let service = await startServiceProcess(dir);
    await assertGoodWindows(service.base);
    assert.equal((await json(service.base, '/healthz')).status, 'ok');
    // Each refused metric is in the windows projection's quarantine, with its index in its record and its reason.
    const quarantine = await eventually('the refused metrics in the quarantine', async () => {
      const entries = (await json(service.base, '/v1/quarantine?projection=windows&limit=100')).quarantine as { index: number; reason: string }[];
      return entries.length === refused.length && entries;
    });
    assert.deepEqual(quarantine.map((e) => e.index), [1, 2, 3, 4, 0, 1, 2, 3]);
    assert.match(quarantine[0].reason, /^timestamp 1790000100000 looks like epoch milliseconds/);
    assert.match(quarantine[5].reason, /^PerfValue 1e\+308 is beyond ±1e300/);
    assert.match(quarantine[6].reason, /^MaskedVMName is not well-formed Unicode/);
    assert.match(quarantine[7].reason, /^MaskedTenantId and MaskedVMName take 512 characters/);
    await stopServiceProcess(service);

    const replay = await run(process.execPath, [BIN, 'replay', '--projection', 'windows', '--data-dir', dir]);
    assert.match(replay.stdout, /"projection":"windows","version":2,"metrics":5,/);
    service = await startServiceProcess(dir);
    await assertGoodWindows(service.base);
    await stopServiceProcess(service);
  });

  it('opsfold ingest: the same gate, each bad metric counted as rejected, a 10,000-deep line refused by its line number, and the good metrics replayed exact', async () => {
    const dir = await dataDir('ingest');
    const file = join(dirname(dir), 'messages.ndjson');
    await writeFile(file, `${mixedMessage().text}\n${deepArray(10_000)}\n`);

    const ingest = await run(process.execPath, [BIN, 'ingest', file, '--data-dir', dir]).then(() => assert.fail('exit 0 despite an invalid line'), (error: { code: number; stdout: string; stderr: string }) => error);

    assert.equal(ingest.code, 1);
    assert.deepEqual(JSON.parse(ingest.stdout), { messages: 2, accepted: 5, rejected: mixedMessage().rejected.length, invalidMessages: 1 });
    assert.match(ingest.stderr, /^line 2: a SPOC message must be a JSON object with a "metrics" array$/m);
    const rejects = (await run(process.execPath, [BIN, 'rejects', '--data-dir', dir])).stdout.trim().split('\n').map((line) => JSON.parse(line) as { reason: string });
    assert.deepEqual(rejects.map((r) => r.reason).filter((r) => r.includes('epoch milliseconds')), ['timestamp 1790000100000 looks like epoch milliseconds (2026-09-21T14:15:00Z): send epoch seconds']);
    const replay = await run(process.execPath, [BIN, 'replay', '--projection', 'windows', '--data-dir', dir]);
    assert.match(replay.stdout, /"projection":"windows","version":1,"metrics":5,/);
  });

  it('property: any JSON body, or any text, gets 202 or a 4xx, and the service keeps serving', async () => {
    const service = await startServiceProcess(await dataDir('anybody'));
    const id = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('v\ud800', '\udc00', '/#?%|\'', id256('x'), ''));
    const metricLike = fc.record({
      timestamp: fc.oneof(fc.double(), fc.integer({ min: 900_000_000, max: 1_800_000_000 }), fc.constantFrom(1790000100000, -3600, 1e20)),
      MaskedTenantId: id, MaskedVMName: id, PerfType: id.map((s) => `prop${s}`), PerfName: id,
      PerfValue: fc.oneof(fc.double(), fc.constantFrom(1e300, 1e308, '1')),
      SiteName: fc.option(fc.oneof(id, fc.jsonValue())),
    }, { requiredKeys: [] });
    const body = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.array(fc.oneof(metricLike, fc.jsonValue()), { maxLength: 20 }).map((metrics) => JSON.stringify({ metrics })),
      fc.tuple(fc.constantFrom('[', '{"a":', '{"metrics":['), fc.integer({ min: 1, max: 20_000 })).map(([open, depth]) => open.repeat(depth)),
      fc.string({ maxLength: 200 }),
    );
    await fc.assert(fc.asyncProperty(body, async (text) => {
      const res = await fetch(`${service.base}/v1/spoc`, { method: 'POST', body: text, headers: { 'content-type': 'application/json' } });
      await res.arrayBuffer();
      assert.ok(res.status === 202 || (res.status >= 400 && res.status < 500), `${res.status} for ${text.slice(0, 200)}`);
    }), { numRuns: 200 });

    assert.equal((await json(service.base, '/healthz')).status, 'ok');
    const ok = await post(service.base, JSON.stringify({ metrics: [spoc(TA, Math.floor(Date.now() / 1000) - 30, 1)] }));
    assert.deepEqual([ok.status, ok.json], [202, { accepted: 1, rejected: [] }]);
    await stopServiceProcess(service);
    assert.doesNotMatch(service.stderr(), /unhandled|internal error/i);
  });
});
