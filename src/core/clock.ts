/**
 * Time as a dependency: what long-running loops (the backlog scheduler) read and wait on, so that
 * tests can run them across days in a few milliseconds with a clock of their own.
 */
export interface Clock {
  /** Epoch ms. */
  now(): number;
  /** Calls `callback` once, about `delayMs` later; the handle cancels it. */
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The machine's clock; its timers do not keep the process alive on their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Calls `callback` every `intervalMs` of `clock` until the returned function is called (a
 * scheduler's interval, on a clock that tests can move by hand).
 */
export function every(clock: Clock, intervalMs: number, callback: () => void): () => void {
  let stopped = false;
  let handle: unknown;
  const arm = () => {
    handle = clock.setTimeout(() => {
      if (stopped) return;
      arm();
      callback();
    }, intervalMs);
  };
  arm();
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}
