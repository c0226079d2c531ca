import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../support/eventually';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { referenceTop, type ReferenceBy, type VmValues } from '../support/topReference';

const KEY = 'win_cpu.percent_processor_time';
const OTHER = 'win_mem.available_mb';
const M0 = 1_700_000_040; // a minute boundary long past: windows close by idle time
const MINUTES = 20;
const TENANTS = ['wYAVC3oWQU+ozhgAAg5f/w==637841132085596403', 'Zk9/q+Lm0w==#?\'99', 'T2'];
const q = encodeURIComponent;

/**
 * Three tenants of three VMs, 20 minutes of KEY: one value a minute, except that VM (t, v) skips the
 * minutes where (m + t + v) % 6 is 0 and sends three values (min, mean, max) in minutes divisible by 5;
 * OTHER is sent too, larger, so that a ranking mixing keys would show.
 */
function fleet(): VmValues[] {
  const out: VmValues[] = [];
  TENANTS.forEach((tenant, t) => {
    for (let v = 0; v < 3; v++) {
      const minutes = Array.from({ length: MINUTES }, (_, m) => {
        if ((m + t + v) % 6 === 0) return [];
        const base = ((t * 31 + v * 17 + m * 7) % 40) + 10 * t + v / 2;
        return m % 5 === 0 ? [base - 3, base, base + 3] : [base];
      });
      out.push({ tenant, vm: `vm/${v}+=`, minutes });
    }
  });
  return out;
}

function messages(vms: readonly VmValues[]): string[] {
  const bodies: string[] = [];
  for (let m = 0; m < MINUTES; m++) {
    const metrics = vms.flatMap((v) => v.minutes[m].flatMap((value, s) => [KEY, OTHER].map((key) => {
      const dot = key.indexOf('.');
      return { timestamp: M0 + m * 60 + 5 + 10 * s, MaskedTenantId: v.tenant, MaskedVMName: v.vm, PerfType: key.slice(0, dot), PerfName: key.slice(dot + 1), PerfValue: key === KEY ? value : value + 1000 };
    })));
    bodies.push(JSON.stringify({ metrics }));
  }
  return bodies;
}

/** The reference over the minutes [from, to] of the fleet. */
function expected(vms: readonly VmValues[], by: ReferenceBy, n: number, from: number, to: number) {
  return referenceTop(vms.map((v) => ({ ...v, minutes: v.minutes.slice(from, to + 1) })), by, n);
}

describe('GET /v1/top on a running service', () => {
  let dir: string;
  let service: ServiceProcess;
  const vms = fleet();
  const get = async (query: string) => {
    const res = await fetch(`${service.base}/v1/top?${query}`);
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-top-'));
    service = await startServiceProcess(join(dir, 'data'));
    for (const body of messages(vms)) {
      const res = await fetch(`${service.base}/v1/spoc`, { method: 'POST', body });
      assert.equal(res.status, 202, await res.text());
    }
  });

  after(async () => {
    process.kill(-service.pgid, 'SIGTERM');
    await service.exited;
    await rm(dir, { recursive: true, force: true });
  });

  it('answers the n VMs with the highest avg, max or p95 of their single values, as computed here from the values sent', async () => {
    // By default: by avg, the 10 highest, over the 60 minutes ending at the key's newest window (all 20 sent).
    const all = await eventually('every window of the fleet in /v1/top', async () => {
      const { status, body } = await get(`key=${KEY}`);
      return status === 200 && body.data.reduce((n: number, r: { count: number }) => n + r.count, 0) === vms.flatMap((v) => v.minutes.flat()).length && body;
    }, 60_000);
    assert.deepEqual(all, { key: KEY, minutes: 60, by: 'avg', data: expected(vms, 'avg', 10, 0, MINUTES - 1) });
    assert.equal(all.data.length, 9);

    assert.deepEqual((await get(`key=${KEY}&minutes=5&by=max&n=3`)).body, { key: KEY, minutes: 5, by: 'max', data: expected(vms, 'max', 3, 15, 19) });
    const to = new Date((M0 + 12 * 60 + 59) * 1000).toISOString(); // floored to minute 12
    // A window of three values keeps a sketch (its values within 1%, as get-tenant-data's p95): each VM's p95 within 1% of the exact one.
    const p95 = (await get(`key="${KEY}"&minutes=15&by="p95"&to=${q(to)}`)).body;
    const exactP95 = expected(vms, 'p95', 10, 0, 12);
    assert.deepEqual([p95.key, p95.minutes, p95.by, p95.data.length], [KEY, 15, 'p95', exactP95.length]);
    for (const row of p95.data as { tenant: string; vm: string; value: number; count: number }[]) {
      const exact = exactP95.find((r) => r.tenant === row.tenant && r.vm === row.vm)!;
      assert.equal(row.count, exact.count);
      assert.ok(Math.abs(row.value - exact.value) <= 0.01 * Math.abs(exact.value), `${row.tenant} ${row.vm}: ${row.value} against ${exact.value}`);
    }
    assert.deepEqual(p95.data.map((r: { value: number }) => r.value), p95.data.map((r: { value: number }) => r.value).sort((a: number, b: number) => b - a));
    assert.deepEqual((await get(`key=${KEY}&minutes=8&n=4&by=avg&to=${M0 + 9 * 60}`)).body, { key: KEY, minutes: 8, by: 'avg', data: expected(vms, 'avg', 4, 2, 9) });
    // Another key is another ranking.
    assert.deepEqual((await get(`key=${OTHER}&minutes=20&n=1&by=max`)).body.data[0].value, expected(vms, 'max', 1, 0, 19)[0].value + 1000);
    assert.deepEqual((await get('key=no.such&minutes=15')).body, { key: 'no.such', minutes: 15, by: 'avg', data: [] });
  });

  it('refuses bad parameters with a 400 naming the parameter', async () => {
    const cases: [string, string][] = [
      ['minutes=15', 'key'], [`key=${KEY}&minutes=0`, 'minutes'], [`key=${KEY}&minutes=1441`, 'minutes'], [`key=${KEY}&minutes=1.5`, 'minutes'],
      [`key=${KEY}&n=0`, 'n'], [`key=${KEY}&n=1001`, 'n'], [`key=${KEY}&by=median`, 'by'], [`key=${KEY}&by=min`, 'by'],
      [`key=${KEY}&to=2023-02-30`, 'to'], [`key=${KEY}&top=3`, 'top'], [`key=${KEY}&n=3&n=4`, 'n'],
    ];
    for (const [query, parameter] of cases) {
      const { status, body } = await get(query);
      assert.equal(status, 400, query);
      assert.equal(body.error.code, 'invalid_parameter', query);
      assert.equal(body.error.parameter, parameter, query);
      assert.match(body.error.message, new RegExp(parameter), query);
    }
  });
});
