import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import { tableName } from '../../projections/projectionTables';
import { windowsProjection } from '../../projections/windowsProjection';
import { eventually } from '../support/eventually';
import { health, isRunning, killServiceProcesses, procInfo, startServiceProcess, stopServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { expectedWindows, loadWindows, postMessage, sameWindows } from '../support/spocLoad';

interface StorageHealth {
  kind: string;
  running: boolean;
  pid: number | null;
  port: number;
  restarts: number;
  lastExit: string | null;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

describe('supervised storage and /healthz', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'opsfold-health-')); });
  after(async () => {
    await killServiceProcesses();
    await rm(dir, { recursive: true, force: true });
  });

  const start = (data: string, env?: Record<string, string>) => startServiceProcess(data, { env });
  const stop = async (service: ServiceProcess) => assert.equal((await stopServiceProcess(service)).code, 0, service.stderr());

  /** Kills the embedded Azurite alone and waits for the service to have restarted it: /healthz 503 meanwhile, then 200. */
  async function killAzurite(service: ServiceProcess, restartsBefore: number, postMeanwhile: number[]): Promise<{ before: StorageHealth; after: StorageHealth; failing: string[] }> {
    const first = await health(service.base);
    assert.equal(first.status, 200);
    const before = first.body.storage as StorageHealth;
    assert.equal(procInfo(before.pid!)?.ppid, service.child.pid, 'the pid /healthz gives is the service\'s child');
    process.kill(before.pid!, 'SIGKILL');
    // Appends do not need the storage: acknowledged while it is down, folded once it is back.
    for (const i of postMeanwhile) assert.equal(await postMessage(service.base, i), 202);
    const failing = await eventually('/healthz 503 while Azurite is down', async () => {
      const h = await health(service.base);
      return h.status === 503 && h.body.status === 'failing' && h.body.problems;
    });
    const after = await eventually('/healthz 200 with Azurite restarted', async () => {
      const h = await health(service.base);
      const storage = h.body.storage as StorageHealth;
      return h.status === 200 && storage.restarts === restartsBefore + 1 && storage;
    }, 30_000);
    return { before, after, failing };
  }

  it('the embedded Azurite killed alone is restarted on the same data and port, twice; data posted meanwhile shows up in get-data', async () => {
    const service = await start(join(dir, 'killed'));
    for (const i of range(0, 5)) assert.equal(await postMessage(service.base, i), 202);
    await eventually('messages 0-4 in the windows', async () => sameWindows(await loadWindows(service.base), expectedWindows(range(0, 5))));

    const { before, after, failing } = await killAzurite(service, 0, range(5, 10));
    assert.ok(failing.some((p) => p === `storage: the embedded Azurite (pid ${before.pid}) exited on SIGKILL; restarting it on port ${before.port}`), failing.join('; '));
    assert.equal(after.port, before.port, 'the same port: every table client stays valid');
    assert.notEqual(after.pid, before.pid);
    assert.ok(isRunning(after.pid!) && !isRunning(before.pid!));
    assert.equal(after.lastExit, `the embedded Azurite (pid ${before.pid}) exited on SIGKILL`);
    await eventually('messages 0-9 in the windows, once each', async () => sameWindows(await loadWindows(service.base), expectedWindows(range(0, 10))), 30_000);

    const second = await killAzurite(service, 1, range(10, 15));
    assert.equal(second.after.restarts, 2);
    await eventually('messages 0-14 in the windows, once each', async () => sameWindows(await loadWindows(service.base), expectedWindows(range(0, 15))), 30_000);
    assert.match(service.stderr(), /exited on SIGKILL; restarting it on the same data and port \d+\n/);
    assert.match(service.stderr(), /the embedded Azurite runs again \(pid \d+, restart 2\)/);
    await stop(service);
    assert.ok(!isRunning(second.after.pid!), 'the restarted Azurite stops with the service');
  });

  it('/healthz is 503 with the reason while the storage is unreachable, and 200 again once it is back; its other fields stay', async () => {
    const location = join(dir, 'outage-tables');
    let tables = await EmbeddedAzurite.start({ location });
    const port = tables.tablePort;
    try {
      const service = await start(join(dir, 'outage'), { TABLES_CONNECTION_STRING: tables.tableConnectionString });
      const ok = await health(service.base);
      assert.equal(ok.status, 200);
      assert.deepEqual([ok.body.status, ok.body.problems, ok.body.storage], ['ok', [], { kind: 'tables' }]);

      await tables.stop();
      const down = await eventually('/healthz 503', async () => {
        const h = await health(service.base);
        return h.status === 503 && h;
      });
      assert.equal(down.body.status, 'failing');
      assert.match(down.body.problems.join('\n'), /^storage: unreachable: Table Storage: list tables failed \(ECONNREFUSED\)/m);
      assert.deepEqual(Object.keys(down.body).filter((k) => k in ok.body), Object.keys(ok.body), 'every field of a healthy answer is there');

      tables = await EmbeddedAzurite.start({ location, tablePort: port });
      const back = await eventually('/healthz 200 again', async () => {
        const h = await health(service.base);
        return h.status === 200 && h;
      });
      assert.deepEqual([back.body.status, back.body.problems], ['ok', []]);
      await stop(service);
    } finally {
      await tables.stop();
    }
  });

  it('/healthz is 503 when a projector fails, and names it', async () => {
    const tables = await EmbeddedAzurite.start({ location: join(dir, 'failing-tables') });
    try {
      const service = await start(join(dir, 'failing'), { TABLES_CONNECTION_STRING: tables.tableConnectionString });
      assert.equal(await postMessage(service.base, 0), 202);
      await eventually('message 0 in the windows', async () => sameWindows(await loadWindows(service.base), expectedWindows([0])));
      // The windows projection's cross-tenant table goes away under the service: its next write cannot succeed.
      await TableStorageStore.fromConnectionString(tables.tableConnectionString).dropTable(tableName(windowsProjection.tables.minute, { prefix: 'opsfold', version: 1 }));
      assert.equal(await postMessage(service.base, 1), 202);
      const failing = await eventually('/healthz 503', async () => {
        const h = await health(service.base);
        return h.status === 503 && h;
      });
      assert.equal(failing.body.status, 'failing');
      assert.match(failing.body.problems.join('\n'), /^windows projector failing: .*opsfoldMinuteV1/m);
      await stop(service);
    } finally {
      await tables.stop();
    }
  });
});
