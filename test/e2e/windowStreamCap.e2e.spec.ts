import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../support/eventually';
import { killServiceProcesses, startServiceProcess } from '../support/serviceProcess';
import { SseClient } from '../support/sseClient';

const T0 = 1_700_000_000 - (1_700_000_000 % 60);

/** A Prometheus sample's value from /metrics. */
async function metric(base: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('OPSFOLD_SSE_MAX_CLIENTS on the running service', () => {
  let dir: string;
  const clients: SseClient[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-sse-cap-'));
  });
  after(async () => {
    for (const c of clients) c.close();
    await killServiceProcesses();
    await rm(dir, { recursive: true, force: true });
  });

  it('with 2 streams open a third gets 503, Retry-After and the error object, counted in /metrics; once one leaves, a new one resumes', async () => {
    const service = await startServiceProcess(join(dir, 'data'), { env: { OPSFOLD_SSE_MAX_CLIENTS: '2' } });
    const { base } = service;
    const metrics = [0, 1, 2].map((i) => ({ timestamp: T0 + 5 + i, MaskedTenantId: 'T0+cap/a==1', MaskedVMName: `vm${i}`, PerfType: 'win_cpu', PerfName: 'percent', PerfValue: 10 + i }));
    assert.equal((await fetch(`${base}/v1/spoc`, { method: 'POST', body: JSON.stringify({ metrics }) })).status, 202);
    // 3 per-VM windows and the cross-tenant one, closed by idle time.
    const open = async () => {
      const c = await SseClient.connect(`${base}/v1/stream/windows?key=win_cpu.percent`, { 'Last-Event-ID': '0' });
      clients.push(c);
      return c;
    };
    const first = await open();
    const second = await open();
    assert.deepEqual([first.status, second.status], [200, 200]);
    await first.until((c) => c.windowCount === 4, 30_000);

    const refused = await fetch(`${base}/v1/stream/windows`);
    assert.equal(refused.status, 503);
    assert.match(refused.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.match(refused.headers.get('content-type') ?? '', /application\/json/);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'too_many_clients');
    assert.match(body.error.message, /OPSFOLD_SSE_MAX_CLIENTS/);
    assert.equal(await metric(base, 'opsfold_window_stream_rejected_total'), 1);
    assert.equal(await metric(base, 'opsfold_window_stream_clients'), 2);

    first.close();
    await eventually('the closed stream is gone', async () => (await metric(base, 'opsfold_window_stream_clients')) === 1);
    const third = await open();
    assert.equal(third.status, 200);
    await third.until((c) => c.windowCount === 4, 30_000);
    assert.deepEqual(third.windows().map((w) => w.id), first.windows().map((w) => w.id));
  });
});
