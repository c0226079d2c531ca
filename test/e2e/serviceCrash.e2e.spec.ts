import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../support/eventually';
import { killServiceProcesses, startServiceProcess, stopServiceProcess } from '../support/serviceProcess';

const KEY = 'win_cpu.percent';
const T0 = 1_700_000_000 - (1_700_000_000 % 60);

/** Message i: one metric per (tenant, minute) for tenants a/b+ and c#?, values chosen here. */
function message(i: number): { metrics: Record<string, unknown>[] } {
  return {
    metrics: ["a/b+=", "c#?'"].map((tenant, j) => ({
      timestamp: T0 + (i % 6) * 60 + j, MaskedTenantId: tenant, MaskedVMName: 'vm/1', PerfType: 'win_cpu', PerfName: 'percent', PerfValue: i * 10 + j,
    })),
  };
}

async function post(base: string, i: number): Promise<number> {
  const res = await fetch(`${base}/v1/spoc`, { method: 'POST', body: JSON.stringify(message(i)), headers: { 'content-type': 'application/json', 'idempotency-key': `m${i}` } });
  return res.status;
}

async function totals(base: string): Promise<{ count: number }> {
  const res = await fetch(`${base}/v1/get-data?key=${encodeURIComponent(KEY)}&minutes=10&to=${T0 + 9 * 60}`);
  const body = (await res.json()) as { data: { count: number }[] };
  return { count: body.data.reduce((s, d) => s + d.count, 0) };
}

describe('the service survives kill -9 right after a 202', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'opsfold-crash-')); });
  after(async () => {
    await killServiceProcesses();
    await rm(dir, { recursive: true, force: true });
  });

  it('after a restart every acknowledged metric is counted exactly once, and a retried message is a duplicate', async () => {
    const first = await startServiceProcess(join(dir, 'data'));
    for (let i = 0; i < 6; i++) assert.equal(await post(first.base, i), 202);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await startServiceProcess(join(dir, 'data'));
    // The client did not see the last answer and retries: same key, nothing appended.
    const retry = await fetch(`${second.base}/v1/spoc`, { method: 'POST', body: JSON.stringify(message(5)), headers: { 'idempotency-key': 'm5' } });
    assert.equal(retry.status, 202);
    assert.equal(((await retry.json()) as { duplicate?: boolean }).duplicate, true);
    for (let i = 6; i < 12; i++) assert.equal(await post(second.base, i), 202);

    const expected = 12 * 2;
    const got = await eventually(`${expected} metrics counted`, async () => {
      const { count } = await totals(second.base);
      return count >= expected && count;
    }, 30_000);
    assert.equal(got, expected);
    // Per minute: values i*10 + j for i ≡ minute (mod 6); the average of minute 0 is computed here.
    const res = await fetch(`${second.base}/v1/get-data?key=${encodeURIComponent(KEY)}&minutes=6&to=${T0 + 5 * 60}`);
    const body = (await res.json()) as { data: { timestamp: number; value: number; count: number }[] };
    const minute0 = [0, 1, 60, 61];
    assert.deepEqual(body.data[0], { ...body.data[0], timestamp: T0, count: 4 });
    assert.ok(Math.abs(body.data[0].value - minute0.reduce((a, b) => a + b) / 4) < 1e-9);
    // Caught up: every projection's consumer lag is 0 bytes, as /metrics and /healthz show it.
    const lag = await eventually('the consumer lag gauges at 0', async () => {
      const text = await (await fetch(`${second.base}/metrics`)).text();
      assert.match(text, /^# TYPE opsfold_consumer_lag_bytes gauge$/m);
      const samples = text.split('\n').filter((line) => line.startsWith('opsfold_consumer_lag_bytes'));
      return samples.length === 3 && samples.every((line) => line.endsWith(' 0')) && samples;
    });
    assert.deepEqual(lag, ['windows', 'rejects', 'backlog'].map((p) => `opsfold_consumer_lag_bytes{projection="${p}"} 0`));
    const health = (await (await fetch(`${second.base}/healthz`)).json()) as { projector: { consumerLagBytes: unknown } };
    assert.deepEqual(health.projector.consumerLagBytes, { windows: 0, rejects: 0, backlog: 0 });
    await stopServiceProcess(second);
  });
});
