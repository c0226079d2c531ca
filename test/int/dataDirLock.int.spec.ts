import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataDirLock } from '../../src/adapters/dataDirLock/DataDirLock';
import { eventually } from '../support/eventually';
import { procInfo } from '../support/serviceProcess';

const LOCK_MODULE = join(__dirname, '../../src/adapters/dataDirLock/DataDirLock');

/** Node code that takes the lock of `dir` (in the form of `platform`), says so on stdout, and then keeps running. */
const holderScript = (dir: string, platform = process.platform) => `
  const { DataDirLock } = require(${JSON.stringify(LOCK_MODULE)});
  DataDirLock.tryAcquire(${JSON.stringify(dir)}, () => ({ pid: process.pid, who: 'holder' }), { platform: ${JSON.stringify(platform)} }).then((lock) => {
    console.log(lock ? 'held' : 'refused');
    setInterval(() => undefined, 1000);
  });`;

/** The environment without node:test's marker, which would make a plain `node -e` act as a test file. */
function withoutTestRunner(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _, ...rest } = env;
  return rest;
}

/** Waits for the line the holder prints. */
function said(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) resolve(text.trim());
    });
    child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before it said anything`)));
  });
}

describe('DataDirLock: a data dir held by one live process, released by the operating system', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'opsfold-lock-')); });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('a second taker is refused while the first holds it and is told who holds it; after release it can be taken', async () => {
    const data = join(dir, 'plain');
    const first = await DataDirLock.tryAcquire(data, () => ({ pid: 1234, tablePort: 5678 }));
    assert.ok(first);
    assert.equal(await DataDirLock.tryAcquire(data, () => ({})), undefined);
    assert.deepEqual(await DataDirLock.holder(data), { pid: 1234, tablePort: 5678 });
    await first.release();
    assert.equal(await DataDirLock.holder(data), undefined);
    const second = await DataDirLock.tryAcquire(data, () => ({ pid: 2 }));
    assert.ok(second);
    await second.release();
  });

  it('two spellings of one dir (a symlink) are one lock; another dir is another lock', async () => {
    const data = join(dir, 'real');
    await mkdir(data, { recursive: true });
    await symlink(data, join(dir, 'link'));
    const lock = await DataDirLock.tryAcquire(data, () => ({ pid: 1 }));
    assert.ok(lock);
    assert.equal(await DataDirLock.tryAcquire(join(dir, 'link'), () => ({})), undefined);
    const other = await DataDirLock.tryAcquire(join(dir, 'other'), () => ({}));
    assert.ok(other);
    await Promise.all([lock.release(), other.release()]);
  });

  it('the lock of a process killed with SIGKILL is free as soon as the process has ended, while its pid is still a zombie nobody reaps', async () => {
    const data = join(dir, 'zombie');
    // sh starts the holder in the background and becomes `sleep`, which never reaps it: killed, the holder stays a zombie.
    const sh = spawn('/bin/sh', ['-c', `"$0" -e "$1" & echo $! >&2; exec sleep 300`, process.execPath, holderScript(data)], {
      stdio: ['ignore', 'pipe', 'pipe'], env: withoutTestRunner(process.env),
    });
    children.push(sh);
    const pid = await new Promise<number>((resolve) => sh.stderr!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    assert.equal(await said(sh), 'held');
    assert.equal(await DataDirLock.tryAcquire(data, () => ({})), undefined, 'held by a live process');
    assert.deepEqual(await DataDirLock.holder(data), { pid, who: 'holder' });

    process.kill(pid, 'SIGKILL');
    // The pid shows as a zombie once its main thread has ended; its sockets go with its last thread, a moment later.
    await eventually('the lock free', async () => (await DataDirLock.holder(data).catch(() => 'going')) === undefined);
    assert.equal(procInfo(pid)?.state, 'Z', 'the holder is still a zombie');
    assert.doesNotThrow(() => process.kill(pid, 0), 'its pid still answers kill(pid, 0), as a pid check would see it');
    const lock = await DataDirLock.acquire(data, () => ({}), 0);
    assert.ok(lock instanceof DataDirLock);
    await lock.release();
  });

  it('acquire says who holds the lock when a live process holds it', async () => {
    const data = join(dir, 'held');
    const held = await DataDirLock.tryAcquire(data, () => ({ pid: 42 }));
    assert.ok(held);
    assert.deepEqual(await DataDirLock.acquire(data, () => ({}), 0), { heldBy: { pid: 42 } });
    await held.release();
  });
  it('as a socket file (macOS, the BSDs): a file left by a SIGKILL is stale, since nobody listens on it, and is replaced; a live holder is not', async () => {
    const data = join(dir, 'file');
    const form = { platform: 'darwin' as const };
    const holder = spawn(process.execPath, ['-e', holderScript(data, 'darwin')], { stdio: ['ignore', 'pipe', 'inherit'], env: withoutTestRunner(process.env) });
    children.push(holder);
    assert.equal(await said(holder), 'held');
    assert.ok((await readdir(data)).includes('.opsfold.sock'));
    assert.equal(await DataDirLock.tryAcquire(data, () => ({}), form), undefined, 'someone listens on it');
    assert.deepEqual(await DataDirLock.holder(data, 5000, form), { pid: holder.pid, who: 'holder' });

    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    assert.ok((await readdir(data)).includes('.opsfold.sock'), 'the crash left the socket file');
    assert.equal(await DataDirLock.holder(data, 5000, form), undefined, 'refused: nobody holds it');
    const lock = await DataDirLock.acquire(data, () => ({ pid: 7 }), 0, form);
    assert.ok(lock instanceof DataDirLock);
    assert.deepEqual(await DataDirLock.holder(data, 5000, form), { pid: 7 });
    await lock.release();
    assert.ok(!(await readdir(data)).includes('.opsfold.sock'), 'a release leaves no file');
  });
});
