import { setTimeout as sleep } from 'node:timers/promises';
import { OpsfoldError } from '../../core/errors';
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
 */
export class PatientTableStore implements TableStore {
  constructor(private readonly inner: TableStore, private readonly options: PatienceOptions = {}) {}

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
      try {
        return await run();
      } catch (error) {
        if (!(error instanceof OpsfoldError) || !error.retriable) throw error;
        this.options.onRetry?.(error, attempt, operation);
        await sleep(Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt - 1, 16)));
      }
    }
  }
}
