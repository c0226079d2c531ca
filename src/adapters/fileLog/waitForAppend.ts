import * as path from 'node:path';

/** Per log directory in this process: a counter of commits and the followers waiting for the next. */
interface DirChanges {
  generation: number;
  wakers: Set<() => void>;
}

const dirs = new Map<string, DirChanges>();

function changesOf(dir: string): DirChanges {
  const key = path.resolve(dir);
  let changes = dirs.get(key);
  if (!changes) {
    changes = { generation: 0, wakers: new Set() };
    dirs.set(key, changes);
  }
  return changes;
}

/** The number of commits to `dir` by this process so far; pass it to `waitForAppend`. */
export function appendGeneration(dir: string): number {
  return changesOf(dir).generation;
}

/** Wakes every follower of `dir` in this process (any FileLog instance on it). */
export function notifyAppend(dir: string): void {
  const changes = changesOf(dir);
  changes.generation++;
  for (const wake of [...changes.wakers]) wake();
}

/**
 * Resolves when this process commits to `dir` after `seenGeneration` (at once if it already has),
 * after `timeoutMs` (the poll that notices other processes), or when a signal aborts. Never rejects.
 */
export function waitForAppend(dir: string, seenGeneration: number, timeoutMs: number, signals: readonly (AbortSignal | undefined)[]): Promise<void> {
  const changes = changesOf(dir);
  if (changes.generation !== seenGeneration || signals.some((s) => s?.aborted)) return Promise.resolve();
  return new Promise((resolve) => {
    const wake = (): void => {
      clearTimeout(timer);
      changes.wakers.delete(wake);
      for (const signal of signals) signal?.removeEventListener('abort', wake);
      resolve();
    };
    const timer = setTimeout(wake, timeoutMs);
    changes.wakers.add(wake);
    for (const signal of signals) signal?.addEventListener('abort', wake, { once: true });
  });
}
