import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BIN, startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { eventually } from '../support/eventually';

const run = promisify(execFile);

/** Three hours ago, on an hour boundary: inside the gate's bounds, aligned to every window below a day. */
const T0 = Math.floor(Date.now() / 3_600_000) * 3600 - 3 * 3600;
const REGIONS = ['westeurope', 'eastus', null];
const SIZES = ['D4s', 'E8s'];
const TENANTS = ['wYAVC3oWQU+ozhgAAg5f/w==6378', 'Zk9/q+Lm0w==#?'];
const KEYS = [['win_cpu', 'percent_processor_time'], ['win_mem', 'available_mb'], ['lnx_cpu', 'user']];

interface Sent { t: number; tenant: string; vm: string; perfType: string; perfName: string; value: number; region: string | null; size: string }

/** Deterministic metrics over `minutes` from `start`: 2 tenants × 3 VMs × 3 keys a minute, values spread over three decades. */
function traffic(start: number, minutes: number, seed: number): Sent[] {
  const out: Sent[] = [];
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let minute = 0; minute < minutes; minute++) {
    for (const tenant of TENANTS) {
      for (let v = 0; v < 3; v++) {
        for (const [perfType, perfName] of KEYS) {
          out.push({ t: start + minute * 60 + Math.floor(rnd() * 60), tenant, vm: `vm/${v}+=`, perfType, perfName, value: Math.round(10 ** (rnd() * 3) * 100) / 100, region: REGIONS[v], size: SIZES[(v + minute) % 2] });
        }
      }
    }
  }
  return out;
}

const spoc = (sent: Sent[]) => ({
  metrics: sent.map((m) => ({
    timestamp: m.t, MaskedTenantId: m.tenant, MaskedVMName: m.vm, PerfType: m.perfType, PerfName: m.perfName, PerfValue: m.value,
    Region: m.region, MachineSize: m.size, SiteName: null, ResourcePoolName: null,
  })),
});

/** DESIGN §7 computed here, apart from opsfold's code: exact count/sum/min/max, distinct pairs, and the exact quantile's bounds. */
function expected(sent: Sent[], size: number, groupOf: (m: Sent) => (string | null)[], keep: (m: Sent) => boolean) {
  const windows = new Map<string, { windowStart: number; group: (string | null)[]; values: number[]; pairs: Set<string> }>();
  for (const m of sent.filter(keep)) {
    const windowStart = Math.floor(m.t / size) * size;
    const group = groupOf(m);
    const id = `${windowStart}|${JSON.stringify(group)}`;
    const w = windows.get(id) ?? { windowStart, group, values: [], pairs: new Set<string>() };
    w.values.push(m.value);
    w.pairs.add(`${m.tenant}|${m.vm}`);
    windows.set(id, w);
  }
  // Ascending by window start, then by group: field by field, a metric without the field (null) first (the README says so).
  const byGroup = (a: (string | null)[], b: (string | null)[]): number => {
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) return a[i] === null ? -1 : b[i] === null ? 1 : a[i]! < b[i]! ? -1 : 1;
    }
    return 0;
  };
  return [...windows.values()].sort((a, b) => a.windowStart - b.windowStart || byGroup(a.group, b.group));
}

const quantileBounds = (values: number[], q: number): [number, number] => {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = q * (sorted.length - 1);
  return [sorted[Math.floor(rank)] * 0.99, sorted[Math.ceil(rank)] * 1.01];
};

interface Datum { windowStart: number; group: Record<string, string | null>; revision: number; [a: string]: unknown }

async function read(base: string, name: string, query = ''): Promise<{ status: number; body: { data: Datum[]; groupBy: string[]; window: string } }> {
  const res = await fetch(`${base}/v1/projections/${name}?from=${T0}&to=${T0 + 86_400}${query}`);
  return { status: res.status, body: (await res.json()) as { data: Datum[]; groupBy: string[]; window: string } };
}

/** The answer's windows against the computation: exact but for the quantiles, within 1% of the exact one. */
function assertMatches(data: Datum[], want: ReturnType<typeof expected>, groupBy: string[], check: { avg?: boolean; sum?: boolean; p95?: boolean; p50?: boolean }): void {
  assert.deepEqual(data.map((d) => [d.windowStart, groupBy.map((f) => d.group[f])]), want.map((w) => [w.windowStart, w.group]));
  data.forEach((d, i) => {
    const w = want[i];
    const sum = w.values.reduce((a, b) => a + b, 0);
    assert.equal(d.vms, w.pairs.size, `vms of ${d.windowStart}`);
    if ('count' in d) assert.equal(d.count, w.values.length);
    if (check.avg) assert.ok(Math.abs((d.avg as number) - sum / w.values.length) < 1e-9 * sum, `avg of ${d.windowStart}`);
    if (check.sum) assert.ok(Math.abs((d.sum as number) - sum) < 1e-9 * sum, `sum of ${d.windowStart} ${JSON.stringify(d.group)}: ${String(d.sum)} vs ${sum} (${w.values.length} values)`);
    if ('min' in d) assert.equal(d.min, Math.min(...w.values));
    if ('max' in d) assert.equal(d.max, Math.max(...w.values));
    for (const [a, q] of [['p95', 0.95], ['p50', 0.5]] as const) {
      if (!check[a]) continue;
      const [low, high] = quantileBounds(w.values, q);
      assert.ok((d[a] as number) >= low && (d[a] as number) <= high, `${a} of ${d.windowStart}: ${String(d[a])} not in [${low}, ${high}]`);
    }
  });
}

describe('projections analysts declare, against a spawned service', () => {
  let dir: string;
  let service: ServiceProcess | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-declared-'));
  });
  after(async () => {
    if (service) {
      process.kill(-service.pgid, 'SIGTERM');
      await service.exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('two definitions added to a service holding data become live, answer exactly, follow new data, and a replay answers the same; a bad one is refused naming its field', async () => {
    const data = join(dir, 'data');
    service = await startServiceProcess(data);
    const opsfold = (...args: string[]) => run(process.execPath, [BIN, ...args, '--data-dir', data]);
    const post = async (sent: Sent[]) => {
      const res = await fetch(`${service!.base}/v1/spoc`, { method: 'POST', body: JSON.stringify(spoc(sent)), headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 202);
      assert.deepEqual(((await res.json()) as { rejected: unknown[] }).rejected, []);
    };
    // Given a service holding 40 minutes of data
    const first = traffic(T0, 40, 7);
    for (let i = 0; i < first.length; i += 500) await post(first.slice(i, i + 500));

    // When two definitions are added with the CLI
    const byRegion = { name: 'cpu_by_region', where: { PerfType: ['win_cpu', 'lnx_cpu'] }, groupBy: ['Region'], window: '5m', aggregates: ['count', 'avg', 'min', 'max', 'p95', 'vms'] };
    const bySize = { name: 'by_size_key', groupBy: ['MachineSize', 'key'], window: '15m', aggregates: ['sum', 'p50', 'vms'] };
    for (const definition of [byRegion, bySize]) {
      const file = join(dir, `${definition.name}.json`);
      await writeFile(file, JSON.stringify(definition));
      const added = await opsfold('projection', 'add', file);
      assert.match(added.stdout, new RegExp(`"projection":"${definition.name}","version":1,`));
    }

    // Then both are live, listed by the API and the CLI
    const listed = (await (await fetch(`${service.base}/v1/projections`)).json()) as { projections: { name: string; status: string; version: number }[] };
    assert.deepEqual(listed.projections.map((p) => [p.name, p.status, p.version]), [['by_size_key', 'live', 1], ['cpu_by_region', 'live', 1]]);
    const cliList = (await opsfold('projection', 'list')).stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; status: string });
    assert.deepEqual(cliList.map((p) => [p.name, p.status]), [['by_size_key', 'live'], ['cpu_by_region', 'live']]);

    // And both answer exactly what the contract computes
    const region = (m: Sent) => [m.region];
    const sizeKey = (m: Sent) => [m.size, `${m.perfType}.${m.perfName}`];
    const cpu = (m: Sent) => m.perfType === 'win_cpu' || m.perfType === 'lnx_cpu';
    assertMatches((await read(service.base, 'cpu_by_region')).body.data, expected(first, 300, region, cpu), ['Region'], { avg: true, p95: true });
    assertMatches((await read(service.base, 'by_size_key')).body.data, expected(first, 900, sizeKey, () => true), ['MachineSize', 'key'], { sum: true, p50: true });
    // A filter per grouped field
    const east = (await read(service.base, 'cpu_by_region', '&Region=eastus')).body.data;
    assert.deepEqual([...new Set(east.map((d) => d.group.Region))], ['eastus']);

    // When new data arrives (the next 20 minutes), then both follow it
    const next = traffic(T0 + 40 * 60, 20, 11);
    await post(next);
    const all = [...first, ...next];
    const wantRegion = expected(all, 300, region, cpu);
    await eventually('cpu_by_region follows the new data', async () => {
      const got = (await read(service!.base, 'cpu_by_region')).body.data;
      return got.length === wantRegion.length && got.every((d, i) => d.count === wantRegion[i].values.length) && got;
    }, 30_000);
    const wantSize = expected(all, 900, sizeKey, () => true);
    await eventually('by_size_key follows the new data', async () => {
      const got = (await read(service!.base, 'by_size_key')).body.data;
      return got.length === wantSize.length && got.every((d, i) => d.vms === wantSize[i].pairs.size) && got;
    }, 30_000);
    const liveRegion = (await read(service.base, 'cpu_by_region')).body.data;
    assertMatches(liveRegion, wantRegion, ['Region'], { avg: true, p95: true });
    assertMatches((await read(service.base, 'by_size_key')).body.data, wantSize, ['MachineSize', 'key'], { sum: true, p50: true });

    // When every projection is replayed, then the declared ones answer the same (the service switched to version 2)
    const replay = await opsfold('replay', '--projection', 'cpu_by_region');
    assert.match(replay.stdout, /"projection":"cpu_by_region","version":2,/);
    await eventually('the service on cpu_by_region v2', async () => {
      const p = ((await (await fetch(`${service!.base}/v1/projections`)).json()) as { projections: { name: string; version: number }[] }).projections;
      return p.find((x) => x.name === 'cpu_by_region')?.version === 2;
    }, 30_000);
    const replayed = (await read(service.base, 'cpu_by_region')).body.data;
    assert.deepEqual(replayed.map(({ revision: _r, ...d }) => d), liveRegion.map(({ revision: _r, ...d }) => d));

    // And a bad definition is refused, naming its field, and nothing is added
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ ...byRegion, name: 'bad_one', groupBy: ['Region', 'Zone'] }));
    const refused = await opsfold('projection', 'add', bad).then(() => assert.fail('exit 0 for a bad definition'), (e: { code: number; stderr: string }) => e);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /groupBy\[1\]: "Zone" is not a field; one of key, PerfType/);
    assert.equal((await opsfold('projection', 'list')).stdout.trim().split('\n').length, 2);

    // And a dropped projection is gone from the API
    await opsfold('projection', 'drop', 'by_size_key');
    await eventually('by_size_key is gone', async () => (await read(service!.base, 'by_size_key')).status === 404);
  });

  it('a declared projection\'s late metrics are listed by opsfold late --projection and GET /v1/late?projection=, its quarantine by name; an unknown name is refused', async () => {
    // The service of the test above, with cpu_by_region live (v2).
    assert.ok(service, 'the service the first test started');
    const data = join(dir, 'data');
    const opsfold = (...args: string[]) => run(process.execPath, [BIN, ...args, '--data-dir', data]);
    // Two hours before the newest data: later than the allowed lateness (30 minutes) for every projection.
    const tooLate: Sent = { t: T0 - 7200 + 17, tenant: TENANTS[1], vm: 'vm/late', perfType: 'win_cpu', perfName: 'percent_processor_time', value: 42.5, region: 'eastus', size: 'D4s' };
    const res = await fetch(`${service.base}/v1/spoc`, { method: 'POST', body: JSON.stringify(spoc([tooLate])), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 202);
    const want = { key: 'win_cpu.percent_processor_time', tenant: tooLate.tenant, vm: tooLate.vm, t: tooLate.t, value: tooLate.value };
    const pick = (e: Record<string, unknown>) => ({ key: e.key, tenant: e.tenant, vm: e.vm, t: e.t, value: e.value });

    const api = await eventually('the late metric in cpu_by_region\'s ledger', async () => {
      const late = ((await (await fetch(`${service!.base}/v1/late?projection=cpu_by_region`)).json()) as { late: Record<string, unknown>[] }).late;
      return late.length > 0 && late;
    }, 30_000);
    assert.deepEqual(api.map(pick), [want]);
    const cli = (await opsfold('late', '--projection', 'cpu_by_region')).stdout.trim().split('\n').map((l) => pick(JSON.parse(l) as Record<string, unknown>));
    assert.deepEqual(cli, [want]);
    // The windows projection (the default) has it in its own ledger.
    assert.deepEqual((await opsfold('late')).stdout.trim().split('\n').map((l) => pick(JSON.parse(l) as Record<string, unknown>)), [want]);

    const quarantine = await fetch(`${service.base}/v1/quarantine?projection=cpu_by_region`);
    assert.equal(quarantine.status, 200);
    assert.deepEqual(await quarantine.json(), { quarantine: [] });
    assert.equal((await opsfold('quarantine', '--projection', 'cpu_by_region')).stdout, '');

    for (const route of ['late', 'quarantine']) {
      const refused = await fetch(`${service.base}/v1/${route}?projection=no_such`);
      assert.equal(refused.status, 400, route);
      assert.equal(((await refused.json()) as { error: { parameter: string } }).error.parameter, 'projection');
      const exit = await opsfold(route, '--projection', 'no_such').then(() => assert.fail(`opsfold ${route}: exit 0 for an unknown projection`), (e: { code: number; stderr: string }) => e);
      assert.equal(exit.code, 2);
      assert.match(exit.stderr, /no_such/);
    }
  });
});
