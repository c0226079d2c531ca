import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { eventually } from '../support/eventually';
import { health, isRunning, killServiceProcesses, livingInGroup, procInfo, startServiceProcess, stopServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { expectedWindows, loadWindows, postMessage, sameWindows, SpocLoad } from '../support/spocLoad';

type Target = 'group' | 'service';

/**
 * The pid of the service's embedded Azurite, from /healthz, checked against /proc: a child of the
 * service (unless npm and sh stand between), in a process group of its own.
 */
async function azuritePid(service: ServiceProcess, childOfSpawned = true): Promise<number> {
  const { pid } = (await health(service.base)).body.storage as { pid: number };
  const info = procInfo(pid);
  assert.ok(info && info.state !== 'Z', `Azurite (pid ${pid}) runs`);
  if (childOfSpawned) assert.equal(info.ppid, service.child.pid, 'Azurite is a child of the service');
  assert.notEqual(info.pgid, service.pgid, 'Azurite is not in the service\'s process group, so a signal to the group does not reach it');
  return pid;
}

/** Sends `signal` to the service's whole process group or to the service alone, then waits until every process of it is gone. */
async function signalAndWait(service: ServiceProcess, signal: NodeJS.Signals, target: Target, azurite: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  process.kill(target === 'group' ? -service.pgid : service.child.pid!, signal);
  // The promise is "within 10 s": every process of the group, and the Azurite child in its own group.
  await eventually('every process of the service gone', () => livingInGroup(service.pgid).length === 0 && !isRunning(azurite), 10_000);
  return service.exited;
}

describe('SIGINT and SIGTERM stop the service and every process of it', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'opsfold-stops-')); });
  after(async () => {
    await killServiceProcesses();
    await rm(dir, { recursive: true, force: true });
  });


  for (const [signal, target] of [['SIGINT', 'group'], ['SIGTERM', 'service']] as const) {
    it(`idle: ${signal} to the ${target === 'group' ? 'whole process group' : 'service alone'} ends it cleanly (exit 0), its Azurite too`, async () => {
      const data = join(dir, `idle-${signal}`);
      const service = await startServiceProcess(data);
      const azurite = await azuritePid(service);
      const exit = await signalAndWait(service, signal, target, azurite);
      assert.deepEqual(exit, { code: 0, signal: null }, service.stderr());
      assert.match(service.stderr(), new RegExp(`${signal}: stopping[^]*stopped\\n`));
      assert.doesNotMatch(service.stderr(), /Warning/, 'no Node warning (e.g. MaxListenersExceededWarning) from start to stop');
    });
  }

  for (const [signal, target] of [['SIGTERM', 'group'], ['SIGINT', 'service']] as const) {
    it(`under load: ${signal} to the ${target === 'group' ? 'whole process group' : 'service alone'} ends it cleanly, and after a restart every acknowledged metric is counted once`, async () => {
      const data = join(dir, `load-${signal}`);
      const service = await startServiceProcess(data);
      const azurite = await azuritePid(service);
      const load = new SpocLoad(service.base);
      await eventually('a first batch of acknowledged messages', () => load.acknowledged.size >= 40);
      const exit = await signalAndWait(service, signal, target, azurite);
      await load.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, service.stderr());
      assert.ok(load.acknowledged.size >= 40);

      const again = await startServiceProcess(data);
      // A client sends again what it got no answer for: appended once, or answered as a duplicate.
      for (const i of load.unanswered) assert.equal(await postMessage(again.base, i), 202);
      const want = expectedWindows(load.sent);
      const got = await eventually('the windows of every message, exact', async () => {
        const windows = await loadWindows(again.base);
        return sameWindows(windows, want) && windows;
      }, 30_000);
      assert.deepEqual(got.map((w) => w.count), want.map((w) => w.count));
      const exitAgain = await signalAndWait(again, 'SIGTERM', 'group', await azuritePid(again));
      assert.equal(exitAgain.code, 0, again.stderr());
    });
  }

  it('npm start: Ctrl-C (SIGINT to the group of npm, sh and the service) stops the service cleanly and ends every process', async () => {
    const data = join(dir, 'npm');
    const service = await startServiceProcess(data, { command: ['npm', 'start', '--', '--port', '0', '--no-simulate', '--data-dir', data] });
    const azurite = await azuritePid(service, false);
    await signalAndWait(service, 'SIGINT', 'group', azurite);
    // npm ends itself with the signal it forwarded; the service said it stopped cleanly.
    assert.match(service.stderr(), /SIGINT: stopping[^]*opsfold: stopped\n/);
    assert.doesNotMatch(service.stderr(), /again: stopping at once/);
  });
  /** A service on Table Storage the test owns (TABLES_CONNECTION_STRING), which it then takes away: the final flush cannot be written. */
  async function serviceWithStorageGone(name: string): Promise<{ data: string; azurite: { location: string; port: number }; service: ServiceProcess }> {
    const data = join(dir, name);
    const location = join(dir, `${name}-tables`);
    const tables = await EmbeddedAzurite.start({ location });
    const service = await startServiceProcess(data, { env: { TABLES_CONNECTION_STRING: tables.tableConnectionString } });
    assert.equal(await postMessage(service.base, 0), 202);
    await eventually('message 0 in the windows', async () => sameWindows(await loadWindows(service.base), expectedWindows([0])));
    await tables.stop();
    // Acknowledged, so in the log; the projector folds it and cannot write it.
    assert.equal(await postMessage(service.base, 1), 202);
    await eventually('the service failing on its storage', async () => (await health(service.base)).body.problems.some((p) => p.startsWith('storage: unreachable')));
    return { data, azurite: { location, port: tables.tablePort }, service };
  }

  /** The storage back on its port, a service on it again: both acknowledged messages are in the windows, once. */
  async function bothMessagesAfterRestart(data: string, azurite: { location: string; port: number }): Promise<void> {
    const tables = await EmbeddedAzurite.start({ location: azurite.location, tablePort: azurite.port });
    try {
      const again = await startServiceProcess(data, { env: { TABLES_CONNECTION_STRING: tables.tableConnectionString } });
      await eventually('messages 0 and 1 in the windows, once each', async () => sameWindows(await loadWindows(again.base), expectedWindows([0, 1])), 30_000);
      assert.equal((await stopServiceProcess(again)).code, 0, again.stderr());
    } finally {
      await tables.stop();
    }
  }

  it('with the storage unreachable, one SIGINT still ends the service within 10 s (the final flush has a deadline), and nothing acknowledged is lost', async () => {
    const { data, azurite, service } = await serviceWithStorageGone('outage');
    process.kill(-service.pgid, 'SIGINT');
    await eventually('every process of the service gone', () => livingInGroup(service.pgid).length === 0, 10_000);
    assert.deepEqual(await service.exited, { code: 0, signal: null });
    assert.match(service.stderr(), /the final flush did not finish within 4 s; what it did not write is folded again from the log at the next start/);
    await bothMessagesAfterRestart(data, azurite);
  });

  it('a second signal during the stop ends the service at once, with 130 for SIGINT, and nothing acknowledged is lost', async () => {
    const { data, azurite, service } = await serviceWithStorageGone('second');
    process.kill(-service.pgid, 'SIGTERM');
    // The final flush waits for the storage (up to its deadline): the second signal comes meanwhile.
    await eventually('the stop under way', () => /SIGTERM: stopping/.test(service.stderr()));
    process.kill(-service.pgid, 'SIGINT');
    await eventually('every process of the service gone', () => livingInGroup(service.pgid).length === 0, 10_000);
    assert.deepEqual(await service.exited, { code: 130, signal: null });
    assert.match(service.stderr(), /SIGINT again: stopping at once\n/);
    assert.doesNotMatch(service.stderr(), /final flush did not finish|opsfold: stopped/, 'it did not wait for the stop');
    await bothMessagesAfterRestart(data, azurite);
  });
});
