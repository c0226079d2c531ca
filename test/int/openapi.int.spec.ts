import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020';
import type { ValidateFunction } from 'ajv';
import { createApp, type ApiDeps } from '../../src/adapters/http/createApp';
import { openApiDocument } from '../../src/adapters/http/openapi';
import { AGGREGATIONS } from '../../projections/minuteQueries';
import { eventually } from '../support/eventually';
import { SseClient } from '../support/sseClient';
import { runOpsfold } from '../support/runOpsfold';
import { ROOT, startServiceProcess, stopServiceProcess, type ServiceProcess } from '../support/serviceProcess';

type Json = Record<string, unknown>;
const doc = structuredClone(openApiDocument) as unknown as Json & { paths: Record<string, Record<string, Json>>; components: Json; openapi: string };
const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'];
const TOKEN = 'openapi-test-token';
const KEY = 'win_cpu.percent_processor_time';

/** Every operation of the document, with its path and method. */
function operations(): { path: string; method: string; op: Json }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).filter(([method]) => METHODS.includes(method)).map(([method, op]) => ({ path, method, op })));
}

/** A JSON Schema (draft 2020-12, what OpenAPI 3.1 uses) validator of `schema`, its `#/components/…` refs resolved in the document. */
function validatorFor(schema: unknown): ValidateFunction {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addFormat('date', /^\d{4}-\d{2}-\d{2}$/);
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(s) && !Number.isNaN(Date.parse(s)) });
  return ajv.compile({ ...(schema as Json), components: doc.components });
}

/** The schema of an answer of one operation, as the document gives it (a test failure when it gives none). */
function responseSchema(path: string, method: string, status: number, type = 'application/json'): unknown {
  const response = (doc.paths[path]?.[method]?.responses as Record<string, Json> | undefined)?.[String(status)];
  assert.ok(response, `the document has no ${status} answer for ${method.toUpperCase()} ${path}`);
  const schema = (response.content as Record<string, Json> | undefined)?.[type]?.schema;
  assert.ok(schema, `the ${status} answer of ${method.toUpperCase()} ${path} has no ${type} schema`);
  return schema;
}

function assertValid(schema: unknown, value: unknown, what: string): void {
  const validate = validatorFor(schema);
  assert.ok(validate(value), `${what} does not match its schema: ${JSON.stringify(validate.errors)}\n${JSON.stringify(value).slice(0, 2000)}`);
}

/** The routes an app built by createApp serves, read from Express's router stack (nested routers included). */
function servedRoutes(): string[] {
  const never = () => { throw new Error('not called: the app is built only to list its routes'); };
  const deps: ApiDeps = {
    ingest: never, minuteTable: never, vmMinuteTable: never, catalog: never, rejects: never, late: never, health: never, metricsText: never,
    quarantine: never, windowStream: { handle: never }, backlog: { timezone: 'UTC', daily: never, teams: never },
    projections: { list: never, tables: never, stream: { handle: never } },
  };
  const app = createApp(deps) as unknown as { router: { stack: Layer[] } };
  interface Layer { route?: { path: string; methods: Record<string, boolean> }; handle: { stack?: Layer[] } }
  const walk = (stack: Layer[]): string[] => stack.flatMap((layer) => {
    // Express's :param is OpenAPI's {param}.
    if (layer.route) return Object.keys(layer.route.methods).filter((m) => m !== '_all').map((m) => `${m.toUpperCase()} ${layer.route!.path.replace(/:(\w+)/g, '{$1}')}`);
    return layer.handle.stack ? walk(layer.handle.stack) : [];
  });
  return walk(app.router.stack);
}

/** The README's example SPOC message: the ```json block of its "The SPOC message" paragraph. */
async function readmeSpocBody(): Promise<unknown> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const m = /\*\*The SPOC message\*\*[\s\S]*?```json\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README.md has no "The SPOC message" paragraph with a ```json example');
  return JSON.parse(m[1]);
}

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI document (swagger-parser), with a relative server', async () => {
    const api = await SwaggerParser.validate(structuredClone(doc) as never);
    assert.equal((api as { openapi: string }).openapi, '3.1.0');
    assert.deepEqual((doc.servers as Json[]).map((s) => s.url), ['/']);
  });

  it('lists what aggregationBy takes, as the service does', () => {
    const param = (doc.paths['/v1/get-data'].get.parameters as Json[]).find((p) => p.name === 'aggregationBy') as { schema: { enum: string[] } };
    assert.deepEqual(param.schema.enum, AGGREGATIONS);
  });

  it('names every operation, each name once', () => {
    const ids = operations().map(({ path, method, op }) => {
      assert.equal(typeof op.operationId, 'string', `${method.toUpperCase()} ${path} has no operationId`);
      return op.operationId as string;
    });
    assert.ok(ids.length >= 14, `only ${ids.length} operations`);
    assert.equal(new Set(ids).size, ids.length, `operationIds repeat: ${ids.join(', ')}`);
  });

  it("docs/contract.md names every operation, by the document's operationIds", async () => {
    const contract = await readFile(join(ROOT, 'docs/contract.md'), 'utf8');
    const named = /`GET \/openapi\.json`:[^(]*\(([^)]*)\)/.exec(contract);
    assert.ok(named, 'the contract lists the operationIds after GET /openapi.json');
    const ids = [...named[1].matchAll(/`(\w+)`/g)].map((m) => m[1]);
    assert.deepEqual(ids, operations().map(({ op }) => op.operationId));
  });

  it('describes every route the app serves, and no other', () => {
    const documented = operations().map(({ path, method }) => `${method.toUpperCase()} ${path}`).sort();
    // The dashboard's files are pages and scripts for the browser, not API.
    const served = servedRoutes().filter((r) => !r.startsWith('GET /assets/')).sort();
    assert.ok(served.includes('GET /v1/backlog/teams') && served.includes('GET /v1/late'), `nested routers were read: ${served.join(', ')}`);
    assert.deepEqual(documented, served);
  });

  it('describes the 4xx answers of every /v1 operation with the Error schema', () => {
    for (const { path, method, op } of operations().filter((o) => o.path.startsWith('/v1/'))) {
      const responses = op.responses as Record<string, Json>;
      for (const status of ['400', '401']) {
        assert.deepEqual((responses[status]?.content as Record<string, Json> | undefined)?.['application/json']?.schema, { $ref: '#/components/schemas/Error' },
          `${method.toUpperCase()} ${path} ${status}`);
      }
    }
    for (const path of ['/v1/late', '/v1/quarantine', '/v1/backlog', '/v1/backlog/teams', '/v1/stream/windows']) assert.ok(doc.paths[path].get.responses && (doc.paths[path].get.responses as Json)['404'], path);
  });

  it('its own examples match their schemas', () => {
    let checked = 0;
    for (const { path, method, op } of operations()) {
      const bodies = [
        ...Object.entries((op.responses ?? {}) as Record<string, Json>).map(([status, r]) => [`${status} answer`, r] as const),
        ...(op.requestBody ? [['request body', op.requestBody as Json] as const] : []),
      ];
      for (const [what, holder] of bodies) {
        const media = (holder.content ?? {}) as Record<string, Json>;
        for (const [type, m] of Object.entries(media)) {
          if (m.example === undefined || !type.includes('json')) continue;
          assertValid(m.schema, m.example, `the example of the ${what} of ${method.toUpperCase()} ${path}`);
          checked++;
        }
      }
    }
    for (const name of ['SpocMessage', 'SpocMetric', 'Error', 'WindowEvent']) {
      const schema = (doc.components.schemas as Record<string, Json>)[name];
      for (const example of schema.examples as unknown[]) assertValid({ $ref: `#/components/schemas/${name}` }, example, `the example of ${name}`);
      checked++;
    }
    assert.ok(checked >= 12, `only ${checked} examples`);
  });

  it('SpocMessage refuses what the service rejects: a missing field, a string value, a time before 2000, an empty id, a number for a string, a value beyond ±1e300, an id above 256 characters', async () => {
    const metric = ((await readmeSpocBody()) as { metrics: Json[] }).metrics[0];
    const message = (m: Json) => ({ metrics: [m] });
    const validate = validatorFor({ $ref: '#/components/schemas/SpocMessage' });
    assert.ok(validate(message(metric)));
    const { PerfName: _dropped, ...noPerfName } = metric;
    const tooLong = 'x'.repeat(257);
    for (const bad of [noPerfName, { ...metric, PerfValue: '12' }, { ...metric, timestamp: 946684799 }, { ...metric, MaskedVMName: '' }, { ...metric, Region: 7 },
      { ...metric, PerfValue: 1e301 }, { ...metric, PerfValue: -1e301 }, { ...metric, PerfName: tooLong }, { ...metric, SiteName: tooLong }]) {
      assert.equal(validate(message(bad)), false, JSON.stringify(bad));
    }
    assert.equal(validate({ metric: [metric] }), false);
  });
});

describe('real answers of a started service match the document', () => {
  let dir: string;
  let service: ServiceProcess | undefined;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const now = Math.floor(Date.now() / 1000);
  const minute = Math.floor(now / 60) * 60 - 120;

  const call = async (path: string, init: RequestInit = {}): Promise<{ status: number; type: string; body: unknown; text: string }> => {
    const res = await fetch(`${service!.base}${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string> | undefined) } });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, type, text, body: type.includes('json') ? JSON.parse(text) : undefined };
  };
  /** GETs `url` and checks its status and JSON body against the document's answer for (`path`, status). */
  const check = async (path: string, url: string, status: number, init: RequestInit = {}): Promise<unknown> => {
    const answer = await call(url, init);
    assert.equal(answer.status, status, `${url}: ${answer.text}`);
    assert.match(answer.type, /^application\/json/, url);
    assertValid(responseSchema(path, (init.method ?? 'get').toLowerCase(), status), answer.body, `${status} of ${url}`);
    return answer.body;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-openapi-'));
    const dataDir = join(dir, 'data');
    // A team's history, imported into the log before the start: the backlog routes then have snapshots to answer with.
    await writeFile(join(dir, 'euc.csv'), 'timestamp,backlog_incident_count\n2024-03-08 19:00:00,30\n2024-03-09 19:00:00,35\n');
    const imported = await runOpsfold(['import-backlog', '--team', 'EUC', '--timezone', 'UTC', join(dir, 'euc.csv'), '--data-dir', dataDir], { ...process.env, OPSFOLD_SIMULATE: 'false' });
    assert.equal(imported.code, 0, imported.stderr);
    // No allowed lateness: a window is final once the watermark passes its end, so the final stream has something to send.
    service = await startServiceProcess(dataDir, { env: { OPSFOLD_API_TOKEN: TOKEN, BACKLOG_TIMEZONE: 'UTC', OPSFOLD_SSE_MAX_CLIENTS: '1', WINDOW_ALLOWED_LATENESS_SECONDS: '0' } });
  });

  after(async () => {
    if (service) await stopServiceProcess(service);
    await rm(dir, { recursive: true, force: true });
  });

  it('POST /v1/spoc: 202 with a rejection, the README\'s body 202 with none, 400 and 401 error objects', async () => {
    const metric = (vm: string, t: number, value: number) => ({ timestamp: t, MaskedTenantId: 'T0+oa/0==', MaskedVMName: vm, PerfType: 'win_cpu', PerfName: 'percent_processor_time', PerfValue: value });
    const body = { metrics: [metric('vm/0=', minute, 10), metric('vm/1=', minute + 1, 30), { ...metric('vm/2=', minute, 1), PerfValue: 'twelve' }] };
    const first = await check('/v1/spoc', '/v1/spoc', 202, { method: 'POST', body: JSON.stringify(body), headers: { 'Idempotency-Key': 'openapi-1' } }) as Json;
    assert.equal(first.accepted, 2);
    assert.equal((first.rejected as Json[])[0].index, 2);
    const again = await check('/v1/spoc', '/v1/spoc', 202, { method: 'POST', body: JSON.stringify(body), headers: { 'Idempotency-Key': 'openapi-1' } }) as Json;
    assert.equal(again.duplicate, true);

    // What the gate refuses beyond the fields' types: each rejected with the reason the document's examples show.
    const gated = { metrics: [
      { ...metric('vm/0=', minute, 1), PerfType: 'gate_test' }, metric('vm/0=', minute * 1000, 1), metric('vm/0=', minute, 1e301),
      { ...metric('/'.repeat(256), minute, 1), MaskedTenantId: '/'.repeat(256) }, { ...metric('vm/0=', minute, 1), PerfType: '%'.repeat(200) },
    ] };
    const gatedAnswer = await check('/v1/spoc', '/v1/spoc', 202, { method: 'POST', body: JSON.stringify(gated) }) as { accepted: number; rejected: { index: number; reason: string }[] };
    assert.equal(gatedAnswer.accepted, 1);
    assert.deepEqual(gatedAnswer.rejected.map((r) => r.index), [1, 2, 3, 4]);
    const reasons = gatedAnswer.rejected.map((r) => r.reason);
    const documented = ((doc.components.schemas as Record<string, Json>).IngestAnswer as { properties: { rejected: { items: { properties: { reason: { description: string } } } } } })
      .properties.rejected.items.properties.reason.description;
    assert.match(reasons[0], /^timestamp \d+ looks like epoch milliseconds \(.+\): send epoch seconds$/);
    assert.equal(reasons[1], 'PerfValue 1e+301 is beyond ±1e300, the largest magnitude whose window sums stay finite');
    assert.match(reasons[2], /^MaskedTenantId and MaskedVMName take 1536 characters of a table key once escaped; together they may take at most 494 /);
    assert.match(reasons[3], /^PerfType and PerfName take 623 characters of a table key once escaped \(as PerfType.PerfName\); together they may take at most 495 /);
    assert.ok(documented.includes(reasons[1]), 'the document shows the value reason as it is');
    for (const reason of reasons.slice(1)) assert.ok(documented.includes(reason.split(/\d/)[0]), `the document's reasons show "${reason}"`);

    const readme = await readmeSpocBody();
    assertValid({ $ref: '#/components/schemas/SpocMessage' }, readme, 'the README\'s SPOC message');
    const fromReadme = await check('/v1/spoc', '/v1/spoc', 202, { method: 'POST', body: JSON.stringify(readme), headers: { 'content-type': 'application/json' } });
    assert.deepEqual(fromReadme, { accepted: 1, rejected: [] });

    await check('/v1/spoc', '/v1/spoc', 400, { method: 'POST', body: '{"metrics":' });
    await check('/v1/spoc', '/v1/spoc', 400, { method: 'POST', body: '{"metric":[]}' });
    await check('/v1/spoc', '/v1/spoc', 413, { method: 'POST', body: JSON.stringify({ metrics: [], pad: 'x'.repeat(300 * 1024) }) });
    await check('/v1/spoc', '/v1/spoc', 401, { method: 'POST', body: JSON.stringify(body), headers: { authorization: 'Bearer wrong' } });
  });

  it('every JSON read route answers as documented once the window is in (200, 400, 401)', async () => {
    const q = `key=${KEY}&minutes=10&to=${minute}`;
    const data = await eventually('the posted window in get-data', async () => {
      const answer = await call(`/v1/get-data?${q}`);
      return answer.status === 200 && ((answer.body as { data: unknown[] }).data.length > 0) && answer.body;
    }, 60_000) as { data: Json[] };
    assert.equal(data.data[0].timestamp, minute);
    await check('/v1/get-data', `/v1/get-data?${q}&aggregationInterval=5&aggregationBy=max`, 200);
    const p95 = await check('/v1/get-data', `/v1/get-data?${q}&aggregationBy=p95`, 200) as { data: Json[] };
    // Of two values (10, 30) the p95 is the one at rank ⌊0.95·1⌋ = 0.
    assert.deepEqual([p95.data[0].value, p95.data[0].vms, p95.data[0].expectedVms], [10, 2, 0]);
    const tenant = await check('/v1/get-tenant-data', `/v1/get-tenant-data?${q}&tenant=${encodeURIComponent('T0+oa/0==')}&vm=${encodeURIComponent('vm/0=')}`, 200) as { data: Json[] };
    assert.equal(tenant.data[0].average, 20);
    const tenantP99 = await check('/v1/get-tenant-data', `/v1/get-tenant-data?${q}&tenant=${encodeURIComponent('T0+oa/0==')}&vm=${encodeURIComponent('vm/0=')}&aggregationBy=p99`, 200) as { data: Json[] };
    assert.deepEqual([tenantP99.data[0].value, tenantP99.data[0].average], [10, 10]);
    for (const by of ['avg', 'max', 'p95']) {
      const top = await check('/v1/top', `/v1/top?${q}&by=${by}&n=1`, 200) as { data: Json[] };
      assert.deepEqual(top.data.map((r) => [r.vm, r.value]), [['vm/1=', 30]], by);
    }
    const keys = await check('/v1/keys', '/v1/keys', 200) as { keys: Json[] };
    assert.ok(keys.keys.some((k) => k.key === KEY));
    const tenants = await check('/v1/tenants', '/v1/tenants', 200) as { tenants: Json[] };
    assert.ok(tenants.tenants.some((t) => t.tenant === 'T0+oa/0=='));
    const rejects = await eventually('the rejected metric in /v1/rejects', async () => {
      const answer = await call('/v1/rejects');
      return answer.status === 200 && (answer.body as { rejects: unknown[] }).rejects.length > 0 && answer.body;
    }, 30_000);
    assertValid(responseSchema('/v1/rejects', 'get', 200), rejects, '200 of /v1/rejects');
    // The README's message (2022) came after this minute's metrics: far behind the watermark, so late.
    const late = await eventually('the README\'s metric in /v1/late', async () => {
      const answer = await call('/v1/late?key=win_service.WinDefend');
      return answer.status === 200 && (answer.body as { late: unknown[] }).late.length > 0 && answer.body;
    }, 30_000);
    assertValid(responseSchema('/v1/late', 'get', 200), late, '200 of /v1/late');
    await check('/v1/quarantine', '/v1/quarantine?projection=windows', 200);
    const teams = await eventually('the imported team in /v1/backlog/teams', async () => {
      const answer = await call('/v1/backlog/teams');
      return answer.status === 200 && (answer.body as { teams: unknown[] }).teams.length > 0 && answer.body;
    }, 30_000);
    assertValid(responseSchema('/v1/backlog/teams', 'get', 200), teams, '200 of /v1/backlog/teams');
    const backlog = await check('/v1/backlog', '/v1/backlog?team=EUC&from=2024-03-01', 200) as { data: Json[] };
    assert.deepEqual(backlog.data.map((d) => d.count), [30, 35]);
    const csv = await call('/v1/backlog?team=EUC&format=csv');
    assert.equal(csv.status, 200);
    assert.match(csv.type, /^text\/csv/);
    assert.ok(doc.paths['/v1/backlog'].get.responses && ((doc.paths['/v1/backlog'].get.responses as Record<string, Json>)['200'].content as Json)['text/csv']);

    const bad: [string, string][] = [
      ['/v1/get-data', `/v1/get-data?${q}&minutes=0`], ['/v1/get-data', '/v1/get-data?minutes=5'], ['/v1/get-data', `/v1/get-data?${q}&aggregationBy=p75`],
      ['/v1/get-tenant-data', `/v1/get-tenant-data?${q}`], ['/v1/top', `/v1/top?${q}&by=min`], ['/v1/keys', '/v1/keys?x=1'], ['/v1/tenants', '/v1/tenants?x=1'],
      ['/v1/rejects', '/v1/rejects?limit=abc'], ['/v1/late', '/v1/late?key='], ['/v1/quarantine', '/v1/quarantine?projection=nope'],
      ['/v1/backlog', '/v1/backlog?team=EUC&from=2024-13-01'], ['/v1/backlog/teams', '/v1/backlog/teams?team=EUC'],
      ['/v1/stream/windows', '/v1/stream/windows?tenant=T0'],
    ];
    for (const [path, url] of bad) {
      const body = await check(path, url, 400) as { error: Json };
      assert.equal(body.error.code, 'invalid_parameter', url);
      assert.equal(typeof body.error.parameter, 'string', url);
    }
    const streamBadId = await check('/v1/stream/windows', '/v1/stream/windows', 400, { headers: { 'Last-Event-ID': 'abc' } }) as { error: Json };
    assert.equal(streamBadId.error.parameter, 'Last-Event-ID');
    for (const path of ['/v1/get-data', '/v1/get-tenant-data', '/v1/top', '/v1/keys', '/v1/tenants', '/v1/rejects', '/v1/late', '/v1/quarantine', '/v1/backlog', '/v1/backlog/teams', '/v1/stream/windows']) {
      await check(path, path, 401, { headers: { authorization: '' } });
    }
    const denied = await fetch(`${service!.base}/v1/keys`);
    assert.equal(denied.status, 401);
    assert.match(denied.headers.get('www-authenticate') ?? '', /^Bearer\b/);
    await denied.body?.cancel();
  });

  it('window events (emit=changes and emit=final) are WindowEvents; a final one says so, once, with its id, and get-data then calls its bucket final', async () => {
    const windowEvent = validatorFor({ $ref: '#/components/schemas/WindowEvent' });
    const changes = await SseClient.connect(`${service!.base}/v1/stream/windows?key=${KEY}`, { ...auth, 'Last-Event-ID': '1' });
    await changes.until((c) => c.windows().some((w) => w.windowStart === minute), 30_000);
    changes.close();
    for (const w of changes.windows()) {
      assert.ok(windowEvent(w), `${JSON.stringify(w)}: ${JSON.stringify(windowEvent.errors)}`);
      assert.equal(w.final, false);
    }
    const finals = await eventually('the stream slot free again', async () => {
      const client = await SseClient.connect(`${service!.base}/v1/stream/windows?key=${KEY}&grouping=cross&emit=final`, auth);
      if (client.status === 200) return client;
      client.close();
      return undefined;
    });
    // The watermark (the newest event time minus 60 s) passes the posted minute's end: its windows are final at once (no allowed lateness).
    const later = { metrics: [{ timestamp: minute + 120, MaskedTenantId: 'T0+oa/0==', MaskedVMName: 'vm/9=', PerfType: 'openapi', PerfName: 'later', PerfValue: 1 }] };
    assert.equal((await call('/v1/spoc', { method: 'POST', body: JSON.stringify(later) })).status, 202);
    await finals.until((c) => c.windowCount > 0, 30_000);
    finals.close();
    const [final] = finals.windows();
    assert.ok(windowEvent(final), JSON.stringify(windowEvent.errors));
    // Cross-tenant windows of the minute by key: gate_test.percent_processor_time, then this key (rank 1).
    // vm/0= and vm/1= reported in the minute, none of them in the hour before.
    assert.deepEqual(final, { id: minute * 1e6 + 1, key: KEY, windowStart: minute, count: 2, sum: 40, min: 10, max: 30, avg: 20, revision: 1, vms: 2, expectedVms: 0, final: true });
    assert.equal(finals.frames.find((f) => f.event === 'window')?.id, String(minute * 1e6 + 1));
    const data = await eventually('the minute final in get-data', async () => {
      const answer = await call(`/v1/get-data?key=${KEY}&minutes=1&to=${minute}`);
      return (answer.body as { data: Json[] }).data[0]?.final === true && answer.body;
    }, 30_000);
    assertValid(responseSchema('/v1/get-data', 'get', 200), data, '200 of get-data');
  });

  it('/v1/stream/windows is text/event-stream (503 beyond the client cap); /healthz, /metrics and /openapi.json answer as documented', async () => {
    const controller = new AbortController();
    const stream = await eventually('the stream slot free again', async () => {
      const res = await fetch(`${service!.base}/v1/stream/windows?key=${KEY}`, { headers: auth, signal: controller.signal });
      if (res.status === 200) return res;
      await res.body?.cancel();
      return undefined;
    });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.ok(((doc.paths['/v1/stream/windows'].get.responses as Record<string, Json>)['200'].content as Json)['text/event-stream']);
    // OPSFOLD_SSE_MAX_CLIENTS is 1: a second stream meanwhile is refused with the documented 503.
    const refused = await check('/v1/stream/windows', '/v1/stream/windows', 503) as { error: Json };
    assert.equal(refused.error.code, 'too_many_clients');
    controller.abort();
    await stream.body?.cancel().catch(() => undefined);

    const health = await eventually('a healthy service', async () => {
      const answer = await call('/healthz');
      return answer.status === 200 && answer;
    }, 30_000);
    assertValid(responseSchema('/healthz', 'get', 200), health.body, '200 of /healthz');
    assert.deepEqual((health.body as Json).problems, []);
    const metrics = await call('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain/);
    assert.ok(((doc.paths['/metrics'].get.responses as Record<string, Json>)['200'].content as Json)['text/plain']);
    const served = await check('/openapi.json', '/openapi.json', 200);
    assert.deepEqual(served, doc);
  });

  it('a failing /healthz (503) still matches the Health schema', async () => {
    // The embedded Azurite's process killed alone: storage problems until it is restarted.
    const before = (await call('/healthz')).body as { storage: { pid?: number } };
    assert.equal(typeof before.storage.pid, 'number');
    process.kill(before.storage.pid!, 'SIGKILL');
    const failing = await eventually('a 503 from /healthz', async () => {
      const answer = await call('/healthz');
      return answer.status === 503 && answer;
    }, 30_000);
    assertValid(responseSchema('/healthz', 'get', 503), failing.body, '503 of /healthz');
    assert.equal((failing.body as Json).status, 'failing');
    assert.ok(((failing.body as Json).problems as string[]).length > 0);
  });
});
