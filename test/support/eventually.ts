import { setTimeout as delay } from 'node:timers/promises';

/**
 * Polls `probe` until it returns a value other than `undefined` or `false`, and resolves with it.
 * Fails with `what` after `timeoutMs`: for waiting on asynchronous deliveries, never for timing.
 */
export async function eventually<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}
