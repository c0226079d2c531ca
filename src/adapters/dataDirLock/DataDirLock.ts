import { createHash } from 'node:crypto';
import { mkdir, realpath, unlink } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageError } from '../../core/errors';

/** Longest socket file path every Unix takes (macOS: 104 bytes with the terminator). */
const MAX_SOCKET_PATH = 100;

/**
 * Holds a data dir for one process with a lock the operating system releases when that process
 * dies, and tells whoever asks who holds it.
 *
 * Why a listening socket: Node has no flock(2), and a pid in a file cannot say whether its process
 * lives: after a `kill -9` the pid may be a zombie, or belong to another process (in a container the
 * service gets the same small pid at every start). A listening Unix domain socket is held by the
 * kernel for as long as the process has it open, which ends when the process exits, however it exits:
 * - Linux: a socket in the abstract namespace (a name starting with "\0", here derived from the
 *   data dir's real path, so two spellings of one dir are one lock). Nothing is left on disk.
 *   Abstract names belong to a network namespace: containers with their own network that share a
 *   data dir volume do not see each other's lock.
 * - Windows: a named pipe, released by the system likewise.
 * - other Unix (macOS, BSD): a socket file in the data dir. The file outlives a crash, but nobody
 *   listens on it any more, so a connect is refused (ECONNREFUSED): it is stale and replaced. (Two
 *   processes replacing one stale file at the very same moment could both win; a crash followed by
 *   two simultaneous starts is the only way there.)
 * The holder answers every connection with one JSON line (`describe()`), e.g. its pid and the port
 * of its embedded Azurite: asking the lock is how other commands find the running service.
 *
 * @example
 * const lock = await DataDirLock.tryAcquire('./data', () => ({ pid: process.pid }));
 * if (!lock) console.log('held by', await DataDirLock.holder('./data'));
 * // …
 * await lock?.release();
 */
/** Which form of the lock to use: the platform's own (tests pick the socket file, which Linux has too). */
export interface LockForm {
  platform?: NodeJS.Platform;
}

export class DataDirLock {
  private released = false;

  private constructor(private readonly server: Server, private readonly socketFile: string | undefined) {}

  /**
   * Takes the lock of `dir`, or says who holds it. A holder that does not answer is going away (a
   * process killed a moment ago may still hold its sockets for a few milliseconds while its threads
   * end, though its pid already shows as a zombie): it is waited for, up to `waitMs`.
   */
  static async acquire(dir: string, describe: () => unknown, waitMs = 5000, form: LockForm = {}): Promise<DataDirLock | { heldBy: unknown }> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const lock = await DataDirLock.tryAcquire(dir, describe, form);
      if (lock) return lock;
      const heldBy = await DataDirLock.holder(dir, 1000, form).catch(() => undefined);
      if (heldBy !== undefined || Date.now() > deadline) return { heldBy };
      await sleep(50);
    }
  }

  /** Takes the lock of `dir` (created if missing), or undefined when a process holds it. */
  static async tryAcquire(dir: string, describe: () => unknown, form: LockForm = {}): Promise<DataDirLock | undefined> {
    await mkdir(dir, { recursive: true });
    const { address, file } = await lockAddress(dir, form.platform);
    for (let attempt = 0; ; attempt++) {
      const server = createServer((socket) => {
        socket.on('error', () => undefined); // an asker that hung up early
        socket.end(`${JSON.stringify(describe())}\n`);
      });
      server.unref(); // the lock alone keeps no process alive
      const error = await listen(server, address);
      if (error === undefined) return new DataDirLock(server, file ? address : undefined);
      if (error.code !== 'EADDRINUSE') {
        throw new StorageError(`cannot take the lock of the data dir ${dir} (${address}): ${error.message}`, { retriable: false, cause: error });
      }
      // Held; unless it is a socket file that nobody listens on any more (left by a crash): that is replaced, once.
      if (!file || attempt > 0 || (await answersConnect(address))) return undefined;
      await unlink(address).catch(() => undefined);
    }
  }

  /**
   * What the holder of `dir`'s lock says about itself, or undefined when no process holds it.
   * Throws when a process holds it but does not answer (its event loop is stuck).
   */
  static async holder(dir: string, timeoutMs = 5000, form: LockForm = {}): Promise<unknown> {
    let address: string;
    try {
      address = (await lockAddress(dir, form.platform)).address;
    } catch {
      return undefined; // no such dir: nobody holds it
    }
    return new Promise((resolve, reject) => {
      const socket = connect(address);
      let text = '';
      let connected = false;
      socket.setEncoding('utf8');
      socket.setTimeout(timeoutMs, () => {
        socket.destroy();
        reject(new StorageError(`the process holding the data dir ${dir} does not answer`, { retriable: true }));
      });
      socket.on('connect', () => (connected = true));
      socket.on('data', (chunk: string) => (text += chunk));
      // Refused or missing: nobody holds it. Reset after connecting: its holder is going away, and may still hold it a moment.
      socket.on('error', (error) => (connected ? reject(new StorageError(`the process holding the data dir ${dir} went away while asked`, { retriable: true, cause: error })) : resolve(undefined)));
      socket.on('end', () => {
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new StorageError(`the process holding the data dir ${dir} answered something else than its description`, { retriable: true }));
        }
      });
    });
  }

  /** Lets the lock go (the process's exit does as much). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    // A socket file: Node removes it on close; also make sure, so no stale file is left for the next start.
    if (this.socketFile !== undefined) await unlink(this.socketFile).catch(() => undefined);
  }
}

/** Where the lock of `dir` lives (see the class comment); `file` when it is a socket file on disk. */
async function lockAddress(dir: string, platform = process.platform): Promise<{ address: string; file: boolean }> {
  const id = createHash('sha256').update(await realpath(dir)).digest('hex').slice(0, 40);
  if (platform === 'linux') return { address: `\0opsfold-${id}`, file: false };
  if (platform === 'win32') return { address: `\\\\.\\pipe\\opsfold-${id}`, file: false };
  const inDir = join(dir, '.opsfold.sock');
  return { address: inDir.length <= MAX_SOCKET_PATH ? inDir : join(tmpdir(), `opsfold-${id}.sock`), file: true };
}

function listen(server: Server, address: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const onError = (error: NodeJS.ErrnoException) => resolve(error);
    server.once('error', onError);
    server.listen(address, () => {
      server.off('error', onError);
      resolve(undefined);
    });
  });
}

function answersConnect(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(address);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
