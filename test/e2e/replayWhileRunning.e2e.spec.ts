import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from '../support/eventually';
import { BIN, killServiceProcesses, startServiceProcess, stopServiceProcess } from '../support/serviceProcess';

const KEY = 'win_cpu.percent';
const T0 = 1_700_000_000 - (1_700_000_000 % 60);
const run = promisify(execFile);

/** Minute m of tenant t: value 100·t + m, so each minute's cross-tenant average is known here. */
const metricsOf = (minutes: number) => [0, 1, 2].flatMap((t) => Array.from({ length: minutes }, (_, m) => ({
  timestamp: T0 + m * 60 + 5, MaskedTenantId: `tenant/${t}`, MaskedVMName: `vm#${t}`, PerfType: 'win_cpu', PerfName: 'percent', PerfValue: 100 * t + m,
})));

describe('opsfold replay while the service runs', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'opsfold-switch-')); });
  after(async () => {
    await killServiceProcesses();
    await rm(dir, { recursive: true, force: true });
  });

  it('rebuilds through the service\'s own Azurite, the service switches to the new version, answers stay the same and the old tables go', async () => {
    const data = join(dir, 'data');
    const service = await startServiceProcess(data);
    const minutes = 5;
    const post = await fetch(`${service.base}/v1/spoc`, { method: 'POST', body: JSON.stringify({ metrics: metricsOf(minutes) }), headers: { 'content-type': 'application/json' } });
    assert.equal(post.status, 202);
    const url = `${service.base}/v1/get-data?key=${encodeURIComponent(KEY)}&minutes=${minutes}&to=${T0 + (minutes - 1) * 60}`;
    const expected = Array.from({ length: minutes }, (_, m) => ({ t: T0 + m * 60, avg: (m + (100 + m) + (200 + m)) / 3, count: 3 }));
    const read = async () => ((await (await fetch(url)).json()) as { data: { timestamp: number; value: number; count: number }[] }).data
      .map(({ timestamp, value, count }) => ({ t: timestamp, avg: value, count }));
    const before = await eventually('the windows', async () => {
      const rows = await read();
      return rows.length === minutes && rows.every((r) => r.count === 3) && rows;
    }, 15_000);
    assert.deepEqual(before, expected);

    const replay = await run(process.execPath, [BIN, 'replay', '--projection', 'windows', '--data-dir', data]);
    assert.match(replay.stderr, /running service \(pid \d+\) switches to it/);
    assert.equal((JSON.parse(replay.stdout.trim()) as { version: number }).version, 2);

    const health = await eventually('the switch', async () => {
      const h = (await (await fetch(`${service.base}/healthz`)).json()) as { versions: { windows: number } };
      return h.versions.windows === 2 && h;
    }, 15_000);
    assert.equal(health.versions.windows, 2);
    assert.deepEqual(await read(), expected);
    assert.match(service.stderr(), /windows projection switched from v1 to v2/);

    // New data after the switch lands in the new version.
    const late = { metrics: [{ timestamp: T0 + 5, MaskedTenantId: 'tenant/9', MaskedVMName: 'vm', PerfType: 'win_cpu', PerfName: 'percent', PerfValue: 1 }] };
    assert.equal((await fetch(`${service.base}/v1/spoc`, { method: 'POST', body: JSON.stringify(late) })).status, 202);
    await eventually('the revision', async () => (await read())[0].count === 4, 15_000);

    // Only one Azurite ever ran on the data dir: the rebuild used the service's.
    await stopServiceProcess(service);
    assert.ok(!(await readdir(data)).includes('service.json'), 'the service removes its file on a clean stop');
  });
});
