import { setTimeout as sleep } from 'node:timers/promises';
import { toStorageError } from './toStorageError';

export interface RetryOptions {
  /** Total tries, the first included. */
  attempts?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Runs `operation`, mapping its failure with `toStorageError`, and tries again with exponential
 * backoff (and jitter) while the error is `retriable`. The SDK's own retry is switched off on our
 * clients, so this loop is the only one.
 *
 * @example
 * const entity = await withRetry('get entity', () => client.getEntity(pk, rk));
 */
export async function withRetry<T>(
  operationName: string,
  operation: () => Promise<T>,
  { attempts = 5, initialDelayMs = 200, maxDelayMs = 5_000 }: RetryOptions = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      const mapped = toStorageError(error, operationName);
      if (!mapped.retriable || attempt >= attempts) throw mapped;
      const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
      await sleep(ceiling / 2 + Math.random() * (ceiling / 2));
    }
  }
}
