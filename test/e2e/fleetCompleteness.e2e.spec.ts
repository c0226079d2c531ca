import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../support/eventually';
import { killServiceProcesses, startServiceProcess, stopServiceProcess, type ServiceProcess } from '../support/serviceProcess';

const KEY = 'win_cpu.percent_processor_time';
const M0 = 1_700_000_040; // a minute boundary long past: windows close by idle time
const FLEET: Record<string, string[]> = {
  'wYAVC3oWQU+ozhgAAg5f/w==637841132085596403': ['Shared/fk6h+aYw==63784', 'SharedZZ==1', 'vm+3'],
  'Zk9/q+Lm0w==637841132085596999': ['Shared/fk6h+aYw==63784', 'b/2', 'b=3'],
  "T#C?'": ['c/1', 'c+2'],
};
const [A, B, C] = Object.keys(FLEET);

interface Sent {
  tenant: string;
  vm: string;
  t: number;
  value: number;
}

/** A tenant's VMs in minutes [from, to]: one value a minute, two in even minutes for its first VM. */
function minutes(tenant: string, from: number, to: number, vms = FLEET[tenant]): Sent[] {
  const out: Sent[] = [];
  for (let m = from; m <= to; m++) {
    vms.forEach((vm, v) => {
      const value = ((m * 17 + v * 29 + tenant.length * 7) % 97) + v / 4;
      out.push({ tenant, vm, t: M0 + m * 60 + 3 + v, value });
      if (v === 0 && m % 2 === 0) out.push({ tenant, vm, t: M0 + m * 60 + 40, value: value + 50 });
    });
  }
  return out;
}

interface Bucket {
  timestamp: number;
  value: number;
  count: number;
  vms: number;
  expectedVms: number;
}

/**
 * get-data's one-minute buckets as computed here from what was sent (DESIGN §8): count, vms (the
 * distinct tenant/VM pairs of the minute) and expectedVms (those of the hour before it), exact; p95
 * (the value at rank ⌊0.95·(n−1)⌋ of the minute's values sorted ascending), to compare within 1%.
 */
function reference(sent: readonly Sent[], from: number, to: number): Bucket[] {
  const pairs = (a: number, b: number) => new Set(sent.filter((s) => s.t >= a && s.t < b).map((s) => `${s.tenant} ${s.vm}`)).size;
  const out: Bucket[] = [];
  for (let m = from; m <= to; m++) {
    const start = M0 + m * 60;
    const values = sent.filter((s) => s.t >= start && s.t < start + 60).map((s) => s.value).sort((x, y) => x - y);
    if (values.length === 0) continue;
    out.push({ timestamp: start, value: values[Math.floor(0.95 * (values.length - 1))], count: values.length, vms: pairs(start, start + 60), expectedVms: pairs(start - 3600, start) });
  }
  return out;
}

describe('completeness and percentiles of get-data on a running service, with tenants reporting late', () => {
  let dir: string;
  let service: ServiceProcess;
  const sent: Sent[] = [];

  const post = async (metrics: Sent[]) => {
    const body = JSON.stringify({ metrics: metrics.map((s) => ({ timestamp: s.t, MaskedTenantId: s.tenant, MaskedVMName: s.vm, PerfType: 'win_cpu', PerfName: 'percent_processor_time', PerfValue: s.value })) });
    const res = await fetch(`${service.base}/v1/spoc`, { method: 'POST', body });
    assert.equal(res.status, 202, await res.text());
    sent.push(...metrics);
  };

  /** Waits until get-data over minutes [0, to] answers as the reference of what was sent, and returns its buckets. */
  const answersExactly = async (to: number): Promise<Bucket[]> => {
    const want = reference(sent, 0, to);
    let last = '';
    try {
      return await eventually(`get-data to minute ${to} as sent`, async () => {
        const res = await fetch(`${service.base}/v1/get-data?key=${KEY}&minutes=${to + 1}&to=${M0 + to * 60}&aggregationBy=p95`);
        const got = ((await res.json()) as { data: Bucket[] }).data;
        last = JSON.stringify(got.map((b) => [b.timestamp, b.count, b.vms, b.expectedVms]));
        if (got.length !== want.length || got.some((b, i) => b.timestamp !== want[i].timestamp || b.count !== want[i].count || b.vms !== want[i].vms || b.expectedVms !== want[i].expectedVms)) return undefined;
        return got;
      }, 60_000).then((got) => {
        got.forEach((b, i) => assert.ok(Math.abs(b.value - want[i].value) <= 0.01 * Math.abs(want[i].value), `p95 at ${b.timestamp}: ${b.value} against ${want[i].value}`));
        return got;
      });
    } catch (error) {
      throw new Error(`${(error as Error).message}; last answer [timestamp, count, vms, expectedVms]: ${last}; wanted ${JSON.stringify(want.map((b) => [b.timestamp, b.count, b.vms, b.expectedVms]))}`);
    }
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-fleet-'));
    service = await startServiceProcess(join(dir, 'data'));
  });

  after(async () => {
    await killServiceProcesses();
    await rm(dir, { recursive: true, force: true });
  });

  it('counts each minute\'s VMs and expected VMs exactly as tenants arrive late, across a restart, and its p95 within 1%', async () => {
    // Twenty minutes of the whole fleet, five minutes a message per tenant.
    for (let m = 0; m < 20; m += 5) for (const tenant of [A, B, C]) await post(minutes(tenant, m, m + 4));
    await answersExactly(19);

    // Tenant A is on time for minutes 20–24: the newest minutes hold 3 of the 8 VMs expected.
    await post(minutes(A, 20, 24));
    const partial = await answersExactly(24);
    assert.deepEqual(partial.slice(-5).map((b) => [b.vms, b.expectedVms]), Array(5).fill([3, 8]));

    // The service stops and starts again; then B's minutes come, 5 minutes late, and a VM of C never seen before, from minute 22.
    assert.equal((await stopServiceProcess(service)).code, 0);
    service = await startServiceProcess(join(dir, 'data'));
    await post(minutes(B, 20, 24));
    await post(minutes(C, 22, 24, ['c/new=']));
    const later = await answersExactly(24);
    assert.deepEqual(later.slice(-5).map((b) => [b.vms, b.expectedVms]), [[6, 8], [6, 8], [7, 8], [7, 9], [7, 9]]);

    // C's own minutes, last: every minute whole.
    await post(minutes(C, 20, 24));
    const whole = await answersExactly(24);
    assert.deepEqual(whole.slice(-5).map((b) => [b.vms, b.expectedVms]), [[8, 8], [8, 8], [9, 8], [9, 9], [9, 9]]);
  });

  it('buckets of five minutes carry the largest vms and expectedVms of their windows', async () => {
    const res = await fetch(`${service.base}/v1/get-data?key=${KEY}&minutes=25&to=${M0 + 24 * 60}&aggregationInterval=5`);
    const buckets = ((await res.json()) as { data: Bucket[] }).data;
    const perMinute = reference(sent, 0, 24);
    const byBucket = (i: number) => perMinute.filter((b) => Math.floor(b.timestamp / 300) === Math.floor(buckets[i].timestamp / 300));
    assert.ok(buckets.length >= 5);
    buckets.forEach((b, i) => {
      assert.equal(b.vms, Math.max(...byBucket(i).map((x) => x.vms)));
      assert.equal(b.expectedVms, Math.max(...byBucket(i).map((x) => x.expectedVms)));
    });
  });
});
