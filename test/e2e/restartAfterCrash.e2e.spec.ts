import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { eventually } from '../support/eventually';
import { BIN, health, isRunning, killServiceProcesses, procInfo, startServiceProcess, stopServiceProcess } from '../support/serviceProcess';
import { expectedWindows, loadWindows, postMessage, sameWindows } from '../support/spocLoad';

const run = promisify(execFile);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

describe('a crash never blocks the restart: the data dir is held by a lock the operating system releases', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'opsfold-restart-')); });
  after(async () => {
    await killServiceProcesses();
    await rm(dir, { recursive: true, force: true });
  });

  const serviceFile = async (data: string) => JSON.parse(await readFile(join(data, 'service.json'), 'utf8')) as { pid: number; tablePort?: number };

  it('kill -9, then start at once on the same data dir, while the old pid is a zombie nobody reaps: it starts, and every acknowledged metric is there once', async () => {
    const data = join(dir, 'zombie');
    // sh starts the service in the background and becomes `sleep`, which never reaps it: killed, the service stays a zombie.
    const first = await startServiceProcess(data, { command: ['/bin/sh', '-c', '"$0" "$@" & exec sleep 300', process.execPath, BIN, 'start', '--port', '0', '--no-simulate', '--data-dir', data] });
    const { pid } = await serviceFile(data);
    assert.equal(procInfo(pid)?.ppid, first.child.pid, 'the service is a child of sleep');
    const azurite = ((await health(first.base)).body.storage as { pid: number }).pid;
    for (const i of range(0, 6)) assert.equal(await postMessage(first.base, i), 202);

    process.kill(pid, 'SIGKILL');
    await eventually('the service a zombie', () => procInfo(pid)?.state === 'Z');
    assert.equal((await serviceFile(data)).pid, pid, 'its service.json is left behind');
    assert.doesNotThrow(() => process.kill(pid, 0), 'and its pid still answers kill(pid, 0)');

    const second = await startServiceProcess(data);
    assert.equal(procInfo(pid)?.state, 'Z', 'started while the old one was still a zombie');
    await eventually('the old Azurite gone with the old service (its IPC channel closed)', () => !isRunning(azurite));
    await eventually('messages 0-5 in the windows, once each', async () => sameWindows(await loadWindows(second.base), expectedWindows(range(0, 6))), 30_000);
    assert.equal((await stopServiceProcess(second)).code, 0, second.stderr());
  });

  it('with TABLES_CONNECTION_STRING: kill -9, then a service.json naming a live unrelated process (a pid reused, as in a container): start at once succeeds', async () => {
    const tables = await EmbeddedAzurite.start({ location: join(dir, 'reused-tables') });
    try {
      const data = join(dir, 'reused');
      const env = { TABLES_CONNECTION_STRING: tables.tableConnectionString };
      const first = await startServiceProcess(data, { env });
      for (const i of range(0, 4)) assert.equal(await postMessage(first.base, i), 202);
      process.kill(-first.pgid, 'SIGKILL');
      await first.exited;
      // The pid is now this test's: alive, and not a service.
      await writeFile(join(data, 'service.json'), JSON.stringify({ pid: process.pid, host: '127.0.0.1', tablePort: tables.tablePort }));

      const second = await startServiceProcess(data, { env });
      await eventually('messages 0-3 in the windows, once each', async () => sameWindows(await loadWindows(second.base), expectedWindows(range(0, 4))), 30_000);
      assert.equal((await serviceFile(data)).pid, second.child.pid, 'service.json names the new service');
      assert.equal((await stopServiceProcess(second)).code, 0, second.stderr());
    } finally {
      await tables.stop();
    }
  });

  it('a second service on a data dir in use is refused with the first one\'s pid', async () => {
    const data = join(dir, 'busy');
    const first = await startServiceProcess(data);
    const { pid } = await serviceFile(data);
    await assert.rejects(run(process.execPath, [BIN, 'start', '--port', '0', '--no-simulate', '--data-dir', data]), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.stderr, new RegExp(`a service \\(pid ${pid}\\) already runs on the data dir`));
      return true;
    });
    assert.equal((await health(first.base)).status, 200, 'the first one goes on');
    assert.equal((await stopServiceProcess(first)).code, 0, first.stderr());
  });
});
