import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createApp, type ApiDeps } from '../../src/adapters/http/createApp';
import { InvalidInputError } from '../../src/core/errors';
import type { BlockTable, Row, RowTable, StoredBlock } from '../../src/core/ports';
import { MinuteBlocks } from '../../projections/minuteBlocks';
import { vmCatalogRows } from '../../projections/vmCatalog';

/** In-memory fakes of the storage ports, enough for an HTTP-contract test. */
class MemBlockTable implements BlockTable {
  private readonly blocks = new Map<string, StoredBlock>();
  private static id(partition: readonly string[], row: number): string {
    return `${partition.join('\u0000')}\u0001${row}`;
  }
  async write(blocks: readonly StoredBlock[]): Promise<void> {
    for (const b of blocks) this.blocks.set(MemBlockTable.id(b.partition, b.row), b);
  }
  async read(partition: readonly string[], row: number): Promise<StoredBlock | undefined> {
    return this.blocks.get(MemBlockTable.id(partition, row));
  }
  async readRange(partition: readonly string[], fromRow: number, toRow: number): Promise<StoredBlock[]> {
    const p = partition.join('\u0000');
    return [...this.blocks.values()]
      .filter((b) => b.partition.join('\u0000') === p && b.row >= fromRow && b.row <= toRow)
      .sort((a, b) => a.row - b.row);
  }
}

class MemRowTable implements RowTable {
  rows: Row[] = [];
  async upsert(rows: readonly Row[]): Promise<void> {
    for (const r of rows) {
      await this.delete(r.partition, r.row);
      this.rows.push(r);
    }
    this.rows.sort((a, b) => {
      const pa = a.partition.join('\u0000');
      const pb = b.partition.join('\u0000');
      return pa < pb ? -1 : pa > pb ? 1 : a.row < b.row ? -1 : a.row > b.row ? 1 : 0;
    });
  }
  async get(partition: readonly string[], row: string): Promise<Row | undefined> {
    const p = partition.join('\u0000');
    return this.rows.find((r) => r.partition.join('\u0000') === p && r.row === row);
  }
  async list(options: { partition?: readonly string[]; limit?: number } = {}): Promise<Row[]> {
    const p = options.partition?.join('\u0000');
    const out = this.rows.filter((r) => p === undefined || r.partition.join('\u0000') === p);
    return options.limit === undefined ? out : out.slice(0, options.limit);
  }
  async delete(partition: readonly string[], row: string): Promise<void> {
    const p = partition.join('\u0000');
    this.rows = this.rows.filter((r) => !(r.partition.join('\u0000') === p && r.row === row));
  }
}

const BASE = 1_699_999_200; // a multiple of 900 (block slot) and of 300 (5-minute buckets)

function win(key: string, windowStart: number, count: number, sum: number, min: number, max: number, tenant?: string, vm?: string) {
  return { key, tenant, vm, windowStart, count, sum, min, max, avg: sum / count, revision: 1 };
}

/** A cross-tenant window with its VM counts. */
function crossWin(key: string, windowStart: number, count: number, sum: number, min: number, max: number, vms: number, expectedVms: number) {
  return { ...win(key, windowStart, count, sum, min, max), vms, expectedVms };
}

interface Harness {
  base: string;
  server: Server;
  ingested: { body: unknown; key?: string }[];
}

async function buildDeps(extra: Partial<ApiDeps> = {}): Promise<{ deps: ApiDeps; ingested: Harness['ingested'] }> {
  const minute = new MinuteBlocks('minute', true);
  minute.apply(crossWin('cpu', BASE, 2, 10, 4, 6, 2, 3)); // avg 5
  minute.apply(crossWin('cpu', BASE + 60, 1, 7, 7, 7, 1, 2)); // avg 7
  minute.apply(crossWin('cpu', BASE + 120, 4, 12, 1, 5, 4, 2)); // avg 3
  minute.apply(crossWin('cpu', BASE + 300, 2, 20, 9, 11, 2, 4)); // avg 10
  minute.apply(crossWin('cpu', BASE + 960, 1, 2, 2, 2, 1, 0)); // avg 2, next block
  const vmMinute = new MinuteBlocks('vmMinute', true);
  vmMinute.apply(win('cpu', BASE - 600, 1, 6, 6, 6, 't1', 'vm1'));
  vmMinute.apply(win('cpu', BASE, 2, 16, 7, 9, 't1', 'vm1')); // avg 8
  vmMinute.apply(win('cpu', BASE + 300, 1, 4, 4, 4, 't1', 'vm1'));
  vmMinute.apply(win('mem', BASE + 300, 1, 50, 50, 50, 't1', 'vm1'));
  const minuteTable = new MemBlockTable();
  const vmMinuteTable = new MemBlockTable();
  await minuteTable.write(minute.takeDirty(1));
  await vmMinuteTable.write(vmMinute.takeDirty(1));
  const catalog = new MemRowTable();
  await catalog.upsert([
    { partition: ['key'], row: 'cpu', fields: { newest: BASE + 960 } },
    { partition: ['key'], row: 'mem', fields: { newest: BASE + 300 } },
    ...vmCatalogRows('t1', [['vm1', new Map([['cpu', BASE + 300], ['mem', BASE + 300]])], ['vm0', new Map([['cpu', BASE]])]]),
    ...vmCatalogRows('t2', [['vmA', new Map([['mem', BASE]])]]),
  ]);
  const rejects = new MemRowTable();
  await rejects.upsert([
    { partition: ['rejects'], row: '001', fields: { reason: 'bad value', index: 0 } },
    { partition: ['rejects'], row: '002', fields: { reason: 'no key', index: 3 } },
  ]);
  const ingested: Harness['ingested'] = [];
  const seen = new Set<string>();
  const deps: ApiDeps = {
    async ingest(body, key) {
      if (!body || typeof body !== 'object' || !Array.isArray((body as { metrics?: unknown }).metrics)) {
        throw new InvalidInputError('the body has no metrics array', { parameter: 'metrics' });
      }
      ingested.push({ body, key });
      const n = (body as { metrics: unknown[] }).metrics.length;
      if (key !== undefined && seen.has(key)) return { accepted: n, rejected: [], duplicate: true };
      if (key !== undefined) seen.add(key);
      return { accepted: n, rejected: [] };
    },
    minuteTable: async () => minuteTable,
    vmMinuteTable: async () => vmMinuteTable,
    catalog: async () => catalog,
    rejects: async () => rejects,
    health: () => ({ status: 'ok' }),
    metricsText: () => 'opsfold_ingested_total 3\n',
    // Windows ending by BASE + 300 are final: those of BASE .. BASE + 240.
    finalThrough: async () => BASE + 300,
    ...extra,
  };
  return { deps, ingested };
}

async function start(extra: Partial<ApiDeps> = {}): Promise<Harness> {
  const { deps, ingested } = await buildDeps(extra);
  const app = createApp(deps);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, server, ingested };
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) };
}

describe('HTTP API (no token)', () => {
  let h: Harness;
  before(async () => {
    h = await start();
  });
  after(async () => {
    await close(h.server);
  });

  it('get-data buckets the newest hour by 5 minutes (avg)', async () => {
    const { status, body } = await getJson(`${h.base}/v1/get-data?key=cpu&minutes=60&aggregationInterval=5&aggregationBy=avg`);
    assert.equal(status, 200);
    assert.deepEqual(body, {
      key: 'cpu',
      minutes: 60,
      aggregationInterval: 5,
      aggregationBy: 'avg',
      data: [
        // vms and expectedVms: the largest of the bucket's windows'.
        { timestamp: BASE, value: 5, count: 7, windows: 3, low: 1, high: 7, vms: 4, expectedVms: 3, final: true },
        { timestamp: BASE + 300, value: 10, count: 2, windows: 1, low: 9, high: 11, vms: 2, expectedVms: 4, final: false },
        { timestamp: BASE + 900, value: 2, count: 1, windows: 1, low: 2, high: 2, vms: 1, expectedVms: 0, final: false },
      ],
    });
  });

  it('a bucket is final only once each of its minutes in the range is: its windows final, and no minute of it left to get data', async () => {
    // Windows ending by BASE + 200 final: those of BASE, BASE + 60 and BASE + 120 (minute BASE + 180 is not, nor has it data).
    const early = await start({ finalThrough: () => BASE + 200 });
    try {
      const whole = await getJson(`${early.base}/v1/get-data?key=cpu&minutes=60&aggregationInterval=5`);
      assert.deepEqual(whole.body.data.map((d: any) => [d.timestamp - BASE, d.windows, d.final]), [[0, 3, false], [300, 1, false], [900, 1, false]]);
      const cut = await getJson(`${early.base}/v1/get-data?key=cpu&minutes=3&to=${BASE + 120}&aggregationInterval=5`);
      assert.deepEqual(cut.body.data.map((d: any) => [d.timestamp - BASE, d.windows, d.final]), [[0, 3, true]], 'the range ends at a final minute');
      const minutes = await getJson(`${early.base}/v1/get-data?key=cpu&minutes=4&to=${BASE + 180}`);
      assert.deepEqual(minutes.body.data.map((d: any) => [d.timestamp - BASE, d.final]), [[0, true], [60, true], [120, true]]);
      const none = await start({ finalThrough: undefined });
      try {
        const all = await getJson(`${none.base}/v1/get-data?key=cpu&aggregationInterval=5`);
        assert.deepEqual(all.body.data.map((d: any) => d.final), [false, false, false], 'without a final bound, nothing is final');
      } finally {
        await close(none.server);
      }
    } finally {
      await close(early.server);
    }
  });

  it('get-data defaults (60 minutes, interval 1, avg) and max/min aggregation', async () => {
    const def = await getJson(`${h.base}/v1/get-data?key=cpu`);
    assert.equal(def.status, 200);
    assert.equal(def.body.minutes, 60);
    assert.equal(def.body.aggregationInterval, 1);
    assert.equal(def.body.aggregationBy, 'avg');
    assert.deepEqual(def.body.data.map((d: any) => [d.timestamp - BASE, d.value]), [[0, 5], [60, 7], [120, 3], [300, 10], [960, 2]]);
    const max = await getJson(`${h.base}/v1/get-data?key=cpu&aggregationInterval=5&aggregationBy=max`);
    assert.deepEqual(max.body.data.map((d: any) => d.value), [7, 10, 2]);
    const min = await getJson(`${h.base}/v1/get-data?key=cpu&aggregationInterval=5&aggregationBy=min`);
    assert.deepEqual(min.body.data.map((d: any) => d.value), [3, 10, 2]);
  });

  it('get-data honours `to` as epoch seconds or ISO 8601, floored to the minute', async () => {
    const expected = [
      { timestamp: BASE, value: 5, count: 2, windows: 1, low: 4, high: 6, vms: 2, expectedVms: 3, final: true },
      { timestamp: BASE + 60, value: 7, count: 1, windows: 1, low: 7, high: 7, vms: 1, expectedVms: 2, final: true },
    ];
    const epoch = await getJson(`${h.base}/v1/get-data?key=cpu&minutes=2&to=${BASE + 60}`);
    assert.deepEqual(epoch.body.data, expected);
    const iso = new Date((BASE + 90) * 1000).toISOString();
    const viaIso = await getJson(`${h.base}/v1/get-data?key=cpu&minutes=2&to=${encodeURIComponent(iso)}`);
    assert.deepEqual(viaIso.body.data, expected);
  });

  it('accepts double-quoted parameter values', async () => {
    const q = (v: string) => encodeURIComponent(`"${v}"`);
    const { status, body } = await getJson(`${h.base}/v1/get-data?key=${q('cpu')}&minutes=${q('60')}&aggregationInterval=${q('5')}&aggregationBy=${q('max')}`);
    assert.equal(status, 200);
    assert.equal(body.key, 'cpu');
    assert.equal(body.aggregationBy, 'max');
    assert.deepEqual(body.data.map((d: any) => d.value), [7, 10, 2]);
  });

  it('unknown key gives empty data', async () => {
    const { status, body } = await getJson(`${h.base}/v1/get-data?key=nope`);
    assert.equal(status, 200);
    assert.deepEqual(body.data, []);
    const withTo = await getJson(`${h.base}/v1/get-data?key=nope&to=${BASE}`);
    assert.deepEqual(withTo.body.data, []);
  });

  it('rejects bad parameters with an invalid_parameter error object', async () => {
    const cases: [string, string][] = [
      ['key=cpu&minutes=0', 'minutes'],
      ['key=cpu&minutes=10081', 'minutes'],
      ['key=cpu&minutes=1.5', 'minutes'],
      ['key=cpu&minutes=abc', 'minutes'],
      ['key=cpu&aggregationInterval=1441', 'aggregationInterval'],
      ['key=cpu&aggregationBy=median', 'aggregationBy'],
      ['key=cpu&minute=5', 'minute'],
      ['key=cpu&key=mem', 'key'],
      ['minutes=5', 'key'],
      ['key=cpu&to=yesterday', 'to'],
    ];
    for (const [query, parameter] of cases) {
      const { status, body } = await getJson(`${h.base}/v1/get-data?${query}`);
      assert.equal(status, 400, query);
      assert.equal(body.error.code, 'invalid_parameter', query);
      assert.equal(body.error.parameter, parameter, query);
      assert.equal(typeof body.error.message, 'string');
    }
    const tenant = await getJson(`${h.base}/v1/get-tenant-data?key=cpu&tenant=t1`);
    assert.equal(tenant.status, 400);
    assert.equal(tenant.body.error.parameter, 'vm');
  });

  it('get-tenant-data buckets one VM with the cross-tenant average beside it', async () => {
    const { status, body } = await getJson(`${h.base}/v1/get-tenant-data?key=cpu&tenant=t1&vm=vm1&aggregationInterval=5`);
    assert.equal(status, 200);
    assert.equal(body.tenant, 't1');
    assert.equal(body.vm, 'vm1');
    assert.deepEqual(body.data, [
      { timestamp: BASE - 600, value: 6, count: 1, windows: 1, low: 6, high: 6, final: true, average: null },
      { timestamp: BASE, value: 8, count: 2, windows: 1, low: 7, high: 9, final: true, average: 5 },
      { timestamp: BASE + 300, value: 4, count: 1, windows: 1, low: 4, high: 4, final: false, average: 10 },
    ]);
    const unknownVm = await getJson(`${h.base}/v1/get-tenant-data?key=cpu&tenant=t1&vm=nope`);
    assert.deepEqual(unknownVm.body.data, []);
    const unknownKey = await getJson(`${h.base}/v1/get-tenant-data?key=disk&tenant=t1&vm=vm1`);
    assert.deepEqual(unknownKey.body.data, []);
  });

  it('lists keys, tenants and rejects', async () => {
    const keys = await getJson(`${h.base}/v1/keys`);
    assert.deepEqual(keys.body, { keys: [{ key: 'cpu', newest: BASE + 960 }, { key: 'mem', newest: BASE + 300 }] });
    const tenants = await getJson(`${h.base}/v1/tenants`);
    assert.deepEqual(tenants.body, { tenants: [{ tenant: 't1', vms: ['vm0', 'vm1'] }, { tenant: 't2', vms: ['vmA'] }] });
    const rejects = await getJson(`${h.base}/v1/rejects?limit=1`);
    assert.deepEqual(rejects.body, { rejects: [{ row: '001', reason: 'bad value', index: 0 }] });
    const bad = await getJson(`${h.base}/v1/rejects?limit=1001`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.parameter, 'limit');
  });

  it('POST /v1/spoc: 202 with the answer, idempotency key passed on', async () => {
    const msg = JSON.stringify({ metrics: [{ a: 1 }, { b: 2 }] });
    const first = await getJson(`${h.base}/v1/spoc`, { method: 'POST', body: msg, headers: { 'content-type': 'application/json', 'Idempotency-Key': 'k1' } });
    assert.equal(first.status, 202);
    assert.deepEqual(first.body, { accepted: 2, rejected: [] });
    const again = await getJson(`${h.base}/v1/spoc`, { method: 'POST', body: msg, headers: { 'Idempotency-Key': 'k1' } });
    assert.equal(again.status, 202);
    assert.equal(again.body.duplicate, true);
    assert.equal(h.ingested.at(-1)?.key, 'k1');
  });

  it('POST /v1/spoc: bad JSON and non-SPOC bodies give 400, above 256 KB gives 413', async () => {
    const bad = await getJson(`${h.base}/v1/spoc`, { method: 'POST', body: '{"metrics": [', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.equal(typeof bad.body.error.code, 'string');
    const noMetrics = await getJson(`${h.base}/v1/spoc`, { method: 'POST', body: '{"x":1}', headers: { 'content-type': 'application/json' } });
    assert.equal(noMetrics.status, 400);
    assert.equal(noMetrics.body.error.parameter, 'metrics');
    const big = JSON.stringify({ metrics: [], pad: 'x'.repeat(300 * 1024) });
    const tooBig = await getJson(`${h.base}/v1/spoc`, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.body.error.code, 'payload_too_large');
  });

  it('unknown routes give a 404 error object; health, metrics, openapi and index answer', async () => {
    const nf = await getJson(`${h.base}/v1/nope`);
    assert.equal(nf.status, 404);
    assert.equal(nf.body.error.code, 'not_found');
    const health = await getJson(`${h.base}/healthz`);
    assert.deepEqual(health.body, { status: 'ok' });
    const metrics = await fetch(`${h.base}/metrics`);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await metrics.text(), 'opsfold_ingested_total 3\n');
    const doc = await getJson(`${h.base}/openapi.json`);
    assert.equal(doc.body.openapi, '3.1.0');
    assert.ok(doc.body.paths['/v1/get-data']);
    const index = await fetch(`${h.base}/`);
    assert.match(await index.text(), /href="\/v1\/keys"/);
  });
});

describe('HTTP API (with token)', () => {
  let h: Harness;
  before(async () => {
    h = await start({
      apiToken: 's3cret',
      rejects: async () => {
        throw new Error('boom at secret/internal/path');
      },
    });
  });
  after(async () => {
    await close(h.server);
  });

  it('every /v1 route needs the bearer token', async () => {
    const none = await getJson(`${h.base}/v1/keys`);
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'unauthorized');
    const wrong = await getJson(`${h.base}/v1/keys`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const post = await getJson(`${h.base}/v1/spoc`, { method: 'POST', body: '{"metrics":[]}' });
    assert.equal(post.status, 401);
    assert.equal(h.ingested.length, 0);
    const ok = await getJson(`${h.base}/v1/keys`, { headers: { authorization: 'Bearer s3cret' } });
    assert.equal(ok.status, 200);
    const health = await fetch(`${h.base}/healthz`);
    assert.equal(health.status, 200);
  });

  it('a thrown error becomes a 500 internal_error without details', async () => {
    const res = await fetch(`${h.base}/v1/rejects`, { headers: { authorization: 'Bearer s3cret' } });
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.deepEqual(JSON.parse(text), { error: { code: 'internal_error', message: 'internal error' } });
    assert.doesNotMatch(text, /secret|boom|at /);
  });
});
