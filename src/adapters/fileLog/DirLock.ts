import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { StorageError } from '../../core/errors';

export interface DirLockOptions {
  /** A lock older than this is presumed abandoned even if its pid looks alive (e.g. another host's pid). */
  staleMs: number;
  /** Longest pause between two attempts while another process holds the lock. */
  maxBackoffMs?: number;
}

/**
 * A lock file shared by the processes appending to one directory. Created with `wx`
 * (atomic create-if-absent) holding `pid\ntoken`; removed on release. A lock whose pid is
 * gone (ESRCH) or that is older than `staleMs` is broken. Breaking is serialised through a
 * second `.break` file so two breakers cannot both remove the lock, one of them a fresh one.
 */
export class DirLock {
  private readonly token = randomBytes(8).toString('hex');
  private readonly content = `${process.pid}\n${this.token}\n`;
  private acquiredAtMs = 0;
  private held = false;

  constructor(readonly path: string, private readonly options: DirLockOptions) {}

  async withLock<T>(work: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await work();
    } finally {
      await this.release();
    }
  }

  async acquire(): Promise<void> {
    let backoffMs = 1;
    for (;;) {
      if (await this.tryCreate()) return;
      if (!(await this.breakIfStale())) {
        await sleep(backoffMs * (0.5 + Math.random()));
        backoffMs = Math.min(backoffMs * 2, this.options.maxBackoffMs ?? 20);
      }
    }
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    // Only a lock held past staleMs can have been broken and re-taken by someone else.
    if (Date.now() - this.acquiredAtMs >= this.options.staleMs && (await readOrUndefined(this.path)) !== this.content) return;
    await fs.unlink(this.path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw new StorageError(`cannot remove the lock ${this.path}: ${error.message}`, { cause: error });
    });
  }

  private async tryCreate(): Promise<boolean> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.path, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new StorageError(`cannot create the lock ${this.path} (is the directory writable?): ${(error as Error).message}`, { cause: error });
    }
    try {
      await handle.writeFile(this.content);
    } catch (cause) {
      await handle.close();
      await fs.unlink(this.path).catch(() => undefined);
      throw new StorageError(`cannot write the lock ${this.path}: ${(cause as Error).message}`, { cause });
    }
    await handle.close();
    this.held = true;
    this.acquiredAtMs = Date.now();
    return true;
  }

  /** Removes the lock if it is stale; true when it is gone (retry at once). */
  private async breakIfStale(): Promise<boolean> {
    const lockPath = this.path;
    const observed = await readOrUndefined(lockPath);
    if (observed === undefined) return true;
    if (!(await this.isStale(lockPath, observed))) return false;
    const breakPath = `${this.path}.break`;
    try {
      await fs.writeFile(breakPath, this.content, { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // Someone else is breaking it; or died doing so, and then their .break file is stale in turn.
      await this.removeIfStale(breakPath);
      return false;
    }
    try {
      if ((await readOrUndefined(lockPath)) === observed) await fs.unlink(lockPath).catch(() => undefined);
    } finally {
      await fs.unlink(breakPath).catch(() => undefined);
    }
    return true;
  }

  /** For the short-lived .break file; a race here needs a breaker to die mid-break. */
  private async removeIfStale(file: string): Promise<void> {
    const observed = await readOrUndefined(file);
    if (observed !== undefined && (await this.isStale(file, observed)) && (await readOrUndefined(file)) === observed) {
      await fs.unlink(file).catch(() => undefined);
    }
  }

  private async isStale(lockPath: string, content: string): Promise<boolean> {
    const pid = Number.parseInt(content, 10);
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) return true;
    try {
      const { mtimeMs } = await fs.stat(lockPath);
      return Date.now() - mtimeMs > this.options.staleMs;
    } catch {
      return false;
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

async function readOrUndefined(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StorageError(`cannot read the lock ${file}: ${(error as Error).message}`, { cause: error });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
