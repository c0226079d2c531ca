import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { OpsfoldError, StorageError } from '../../core/errors';
import type { BlockLayout, BlockTable, RowTable, TableStore } from '../../core/ports';

export interface PatienceOptions {
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Told of each failure that will be tried again (e.g. to log an outage once a while). */
  onRetry?: (error: OpsfoldError, attempt: number, operation: string) => void;
}

/**
 * A TableStore for the projectors of a long-running service: an operation that fails with a
 * retriable error (an outage: 5xx, timeouts, a refused connection) is tried again with
 * exponential backoff, without limit, so a projector waits for the storage to come back instead
 * of crashing or skipping (on Event Hubs the partition's events wait in the hub meanwhile).
 * Errors that are not retriable (a bad request) still fail at once. The read API keeps the
 * plain store, so that it answers 503 during an outage instead of hanging.
 *
 * `hold()` ends the patience: every call, waiting or to come, fails at once with a non-retriable
 * StorageError giving the reason, until `resume()`. The service holds the store when it stops and its
 * final flush has run out of time, and while its embedded Azurite restarts: a restarted Azurite may
 * have lost its last writes, so the projectors that made them must stop (and start again from their
 * stored checkpoints) instead of going on from their memory.
 */
export class PatientTableStore implements TableStore {
  /** Aborted, with the reason, while the store is held. */
  private holding = holdingSignal();

  constructor(private readonly inner: TableStore, private readonly options: PatienceOptions = {}) {}

  /** Fails every waiting call now, and every new one until `resume()`, with `reason`. */
  hold(reason: string): void {
    if (!this.holding.signal.aborted) this.holding.abort(new StorageError(reason, { retriable: false }));
  }

  resume(): void {
    if (this.holding.signal.aborted) this.holding = holdingSignal();
  }

  async blockTable(name: string, layout?: BlockLayout): Promise<BlockTable> {
    const table = await this.patiently(`open table ${name}`, () => this.inner.blockTable(name, layout));
    return {
      write: (blocks) => this.patiently(`write blocks to ${name}`, () => table.write(blocks)),
      read: (partition, row) => this.patiently(`read a block of ${name}`, () => table.read(partition, row)),
      readRange: (partition, from, to) => this.patiently(`read blocks of ${name}`, () => table.readRange(partition, from, to)),
      checkKeys: table.checkKeys?.bind(table),
    };
  }

  async rowTable(name: string, layout?: BlockLayout): Promise<RowTable> {
    const table = await this.patiently(`open table ${name}`, () => this.inner.rowTable(name, layout));
    return {
      upsert: (rows) => this.patiently(`write rows to ${name}`, () => table.upsert(rows)),
      get: (partition, row) => this.patiently(`read a row of ${name}`, () => table.get(partition, row)),
      list: (options) => this.patiently(`list rows of ${name}`, () => table.list(options)),
      delete: (partition, row) => this.patiently(`delete a row of ${name}`, () => table.delete(partition, row)),
      checkKeys: table.checkKeys?.bind(table),
    };
  }

  listTables(prefix: string): Promise<string[]> {
    return this.patiently('list tables', () => this.inner.listTables(prefix));
  }

  dropTable(name: string): Promise<void> {
    return this.patiently(`drop table ${name}`, () => this.inner.dropTable(name));
  }

  private async patiently<T>(operation: string, run: () => Promise<T>): Promise<T> {
    const { initialDelayMs = 500, maxDelayMs = 30_000 } = this.options;
    for (let attempt = 1; ; attempt++) {
      const held = this.holding.signal;
      held.throwIfAborted();
      try {
        return await untilAborted(run(), held);
      } catch (error) {
        if (!(error instanceof OpsfoldError) || !error.retriable) throw error;
        this.options.onRetry?.(error, attempt, operation);
        await sleep(Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt - 1, 16)), undefined, { signal: held }).catch(() => held.throwIfAborted());
      }
    }
  }
}

/**
 * Every call in flight listens to it (and stops listening when it settles): the projectors' many concurrent
 * reads are no leak, so Node's warning at 11 listeners is turned off for it.
 */
function holdingSignal(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** `work`, or the signal's reason as soon as it aborts (the request itself goes on; its answer is dropped). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined); // still settles after an abort: not an unhandled rejection
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
