import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from '../support/eventually';
import { BIN, killServiceProcesses, startServiceProcess, stopServiceProcess } from '../support/serviceProcess';

/** The newest minute posted: now, so the service's time checks take it as it is. */
const NOW = Math.floor(Date.now() / 60_000) * 60;
/** Two hours before it: far beyond the allowed lateness (WINDOW_ALLOWED_LATENESS_SECONDS, 1800). */
const OLD = NOW - 7200;
const TENANT_A = 'wYAVC3oWQU+ozhgAAg5f/w==637841132085596403';
const TENANT_B = "Zk9/q+Lm0w==#?'99";

const spoc = (timestamp: number, tenant: string, vm: string, type: string, name: string, value: number) =>
  ({ timestamp, MaskedTenantId: tenant, MaskedVMName: vm, PerfType: type, PerfName: name, PerfValue: value, SiteName: null });

async function post(base: string, metrics: Record<string, unknown>[]): Promise<void> {
  const res = await fetch(`${base}/v1/spoc`, { method: 'POST', body: JSON.stringify({ metrics }), headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 202, await res.text());
}

async function getLate(base: string, query = ''): Promise<{ status: number; body: { late: Record<string, unknown>[] } }> {
  const res = await fetch(`${base}/v1/late${query}`);
  return { status: res.status, body: (await res.json()) as { late: Record<string, unknown>[] } };
}

async function cliLate(dataDir: string, ...args: string[]): Promise<Record<string, unknown>[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [BIN, 'late', '--data-dir', dataDir, ...args]);
  return stdout.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function foldedPosition(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^opsfold_folded_position_bytes (\d+)$/m.exec(text)?.[1] ?? NaN);
}

describe('the late-events ledger of a running service', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'opsfold-late-')); });
  after(async () => {
    await killServiceProcesses();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists metrics far older than the allowed lateness, exactly, by `opsfold late` and GET /v1/late, and once after a kill -9', async () => {
    const dataDir = join(dir, 'data');
    const first = await startServiceProcess(dataDir);
    // Given a new minute (the watermark: NOW - 60 s of out-of-order tolerance), folded: the next record starts where the fold is.
    await post(first.base, [spoc(NOW + 5, TENANT_A, 'vm/1', 'win_cpu', 'percent', 50)]);
    const position = await eventually('the new minute folded', async () => ((await foldedPosition(first.base)) > 0 ? foldedPosition(first.base) : false));
    // When a tenant's metrics two hours older come in one message (one log record), beside one within the allowed lateness (10 minutes old)
    await post(first.base, [
      spoc(OLD, TENANT_A, 'vm/1', 'win_cpu', 'percent', 11.5),
      spoc(OLD + 61, TENANT_A, "vm'2#", 'win_disk', 'free_space', 12),
      spoc(NOW - 600, TENANT_A, 'vm/1', 'win_cpu', 'percent', 99),
      spoc(OLD + 3, TENANT_A, 'vm/3', 'win_cpu', 'percent', -4.25),
    ]);

    // Then the ledger holds the three far older ones, with the watermark they met and where they are in the log, and not the fourth.
    const expected = [
      { key: 'win_cpu.percent', tenant: TENANT_A, vm: 'vm/1', t: OLD, value: 11.5, watermark: NOW + 5 - 60, position, index: 0 },
      { key: 'win_disk.free_space', tenant: TENANT_A, vm: "vm'2#", t: OLD + 61, value: 12, watermark: NOW + 5 - 60, position, index: 1 },
      { key: 'win_cpu.percent', tenant: TENANT_A, vm: 'vm/3', t: OLD + 3, value: -4.25, watermark: NOW + 5 - 60, position, index: 3 },
    ];
    const listed = await eventually('the late metrics listed', async () => {
      const { body } = await getLate(first.base);
      return body.late.length >= 3 && body.late;
    });
    assert.deepEqual(listed, expected);
    assert.deepEqual(await cliLate(dataDir), expected);
    // Filters and limit, over HTTP and on the command line.
    assert.deepEqual((await getLate(first.base, `?key=win_cpu.percent&tenant=${encodeURIComponent(TENANT_A)}`)).body.late, [expected[0], expected[2]]);
    assert.deepEqual((await getLate(first.base, '?limit=2')).body.late, expected.slice(0, 2));
    assert.deepEqual((await getLate(first.base, `?tenant=${encodeURIComponent(TENANT_B)}`)).body.late, []);
    assert.deepEqual(await cliLate(dataDir, '--key', 'win_disk.free_space'), [expected[1]]);
    assert.deepEqual(await cliLate(dataDir, '--tenant', TENANT_A, '--limit', '2'), expected.slice(0, 2));
    const bad = await getLate(first.base, '?limit=0');
    assert.equal(bad.status, 400);
    assert.equal((bad.body as unknown as { error: { parameter: string } }).error.parameter, 'limit');
    assert.equal((await getLate(first.base, '?key=')).status, 400);
    const doc = (await (await fetch(`${first.base}/openapi.json`)).json()) as { paths: Record<string, { get: { parameters: { name: string }[] } }> };
    assert.deepEqual(doc.paths['/v1/late'].get.parameters.map((p) => p.name), ['projection', 'limit', 'key', 'tenant']);

    // When the service is killed and started again (it folds again from its last checkpoint), and one more comes
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startServiceProcess(dataDir);
    await post(second.base, [spoc(OLD + 120, TENANT_B, 'vm/9', 'win_mem', 'used', 7)]);

    // Then each is listed once, the new one last.
    const again = await eventually('the fourth late metric listed', async () => {
      const { body } = await getLate(second.base);
      return body.late.length >= 4 && body.late;
    });
    assert.equal(again.length, 4);
    assert.deepEqual(again.slice(0, 3), expected);
    assert.deepEqual({ ...again[3], position: 0 }, { key: 'win_mem.used', tenant: TENANT_B, vm: 'vm/9', t: OLD + 120, value: 7, watermark: NOW + 5 - 60, position: 0, index: 0 });
    assert.ok(Number(again[3].position) > position);
    assert.deepEqual(await cliLate(dataDir), again);
    assert.deepEqual(await cliLate(dataDir, '--tenant', TENANT_B), [again[3]]);
    await stopServiceProcess(second);
  });
});
