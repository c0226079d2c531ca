import { odata, TableClient, TableServiceClient, type TableServiceClientOptions } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { InvalidInputError, StorageError } from '../../core/errors';
import type { BlockLayout, BlockTable, RowTable, TableStore } from '../../core/ports';
import { TableStorageBlockTable } from './TableStorageBlockTable';
import { TableStorageRowTable } from './TableStorageRowTable';
import { isNotFound, toStorageError } from './toStorageError';
import { validateTableName } from './validateTableName';
import { withRetry, type RetryOptions } from './withRetry';

export interface TableStorageStoreOptions {
  /** Allow plain http; on by default when the table endpoint is http on 127.0.0.1, localhost or ::1. */
  allowInsecureConnection?: boolean;
  /** Put before every table name (e.g. a deployment or test run); `listTables` strips it again. */
  tablePrefix?: string;
  /** Partitions written in parallel by one `write` / `upsert`. */
  partitionConcurrency?: number;
  /** Backoff for retriable failures (5xx, timeouts, network). */
  retry?: RetryOptions;
}

const LOOPBACK_HTTP = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/i;

/** The table endpoint a connection string names (the emulator's for `UseDevelopmentStorage=true`). */
function tableEndpointOf(connectionString: string): string | undefined {
  if (/UseDevelopmentStorage=true/i.test(connectionString)) return 'http://127.0.0.1:10002/devstoreaccount1';
  return /(?:^|;)\s*TableEndpoint=([^;]+)/i.exec(connectionString)?.[1]?.trim();
}

/**
 * `TableStore` on Azure Table Storage (or Azurite). Tables are created on first use (once per
 * store); names follow Table Storage's rule and a bad one is refused with a message that says so.
 *
 * @example
 * const store = TableStorageStore.fromConnectionString(azurite.tableConnectionString, { tablePrefix: 'v2' });
 * const minutes = await store.blockTable('minuteAverages');
 */
export class TableStorageStore implements TableStore {
  private readonly tables = new Map<string, Promise<{ client: TableClient; created: boolean }>>();

  private constructor(
    private readonly service: TableServiceClient,
    private readonly clientFor: (table: string) => TableClient,
    private readonly tablePrefix: string,
    private readonly tableOptions: { partitionConcurrency: number; retry: RetryOptions; allowInsecureConnection: boolean },
  ) {}

  static fromConnectionString(connectionString: string, options: TableStorageStoreOptions = {}): TableStorageStore {
    const allowInsecureConnection =
      options.allowInsecureConnection ?? LOOPBACK_HTTP.test(tableEndpointOf(connectionString) ?? '');
    // withRetry is our one retry loop; the SDK's would multiply its attempts.
    const clientOptions: TableServiceClientOptions = { allowInsecureConnection, retryOptions: { maxRetries: 0 } };
    return TableStorageStore.create(
      TableServiceClient.fromConnectionString(connectionString, clientOptions),
      (table) => TableClient.fromConnectionString(connectionString, table, clientOptions),
      { ...options, allowInsecureConnection },
    );
  }

  /** A storage account's tables reached with a token credential (DefaultAzureCredential: managed identity in Azure). */
  static fromEndpoint(endpoint: string, credential: TokenCredential, options: TableStorageStoreOptions = {}): TableStorageStore {
    const allowInsecureConnection = options.allowInsecureConnection ?? LOOPBACK_HTTP.test(endpoint);
    const clientOptions: TableServiceClientOptions = { allowInsecureConnection, retryOptions: { maxRetries: 0 } };
    return TableStorageStore.create(
      new TableServiceClient(endpoint, credential, clientOptions),
      (table) => new TableClient(endpoint, table, credential, clientOptions),
      { ...options, allowInsecureConnection },
    );
  }

  private static create(service: TableServiceClient, clientFor: (table: string) => TableClient, options: TableStorageStoreOptions): TableStorageStore {
    const { tablePrefix = '', partitionConcurrency = 4, retry = {}, allowInsecureConnection = false } = options;
    if (tablePrefix !== '' && !/^[A-Za-z][A-Za-z0-9]*$/.test(tablePrefix)) {
      throw new InvalidInputError(
        `invalid table prefix ${JSON.stringify(tablePrefix)}: it must start with a letter and hold only letters and digits`,
        { parameter: 'tablePrefix' },
      );
    }
    return new TableStorageStore(service, clientFor, tablePrefix, { partitionConcurrency, retry, allowInsecureConnection });
  }

  async blockTable(name: string, layout: BlockLayout = {}): Promise<BlockTable> {
    const table = await this.table(name);
    // Only the first block table object on a table this store created may rely on it having started empty.
    const createdEmpty = table.created;
    table.created = false;
    return new TableStorageBlockTable(table.client, { ...this.tableOptions, ...layout, createdEmpty });
  }

  async rowTable(name: string, layout: BlockLayout = {}): Promise<RowTable> {
    if (layout.partitionBuckets !== undefined) {
      throw new InvalidInputError(`partitionBuckets is a layout of block tables, not of the row table ${name}`, { parameter: 'partitionBuckets' });
    }
    const { client } = await this.table(name);
    return new TableStorageRowTable(client, { ...this.tableOptions, ...layout });
  }

  async listTables(prefix: string): Promise<string[]> {
    const full = this.tablePrefix + prefix;
    // Table names are letters and digits only, so '{' sorts after every name that starts with `full`.
    const filter = full === '' ? undefined : odata`TableName ge ${full} and TableName lt ${full + '{'}`;
    return withRetry('list tables', async () => {
      const names: string[] = [];
      for await (const table of this.service.listTables({ queryOptions: { filter } })) {
        if (table.name?.startsWith(full)) names.push(table.name.slice(this.tablePrefix.length));
      }
      return names.sort();
    }, this.tableOptions.retry);
  }

  async dropTable(name: string): Promise<void> {
    const full = this.fullName(name);
    this.tables.delete(full);
    try {
      await withRetry(`drop table ${full}`, () => this.service.deleteTable(full), this.tableOptions.retry);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /**
   * One cheap request (a page of at most one table name), not retried: resolves when the service
   * answers within `timeoutMs`, else throws a StorageError saying what went wrong (for health checks).
   */
  async probe(timeoutMs = 2000): Promise<void> {
    const abortSignal = AbortSignal.timeout(timeoutMs);
    try {
      await this.service.listTables({ abortSignal }).byPage({ maxPageSize: 1 }).next();
    } catch (error) {
      if (abortSignal.aborted) throw new StorageError(`Table Storage did not answer within ${timeoutMs} ms`, { cause: error });
      throw toStorageError(error, 'list tables');
    }
  }

  /**
   * Forgets which tables exist, so each is created again on its next use: after a storage that lost
   * its last writes (an embedded Azurite restarted from its last save) may have lost tables too.
   */
  forgetTables(): void {
    this.tables.clear();
  }

  private fullName(name: string): string {
    if (typeof name !== 'string' || name === '') validateTableName(name);
    return validateTableName(this.tablePrefix + name);
  }

  /**
   * The client of a table, creating the table the first time (a failed creation is tried again
   * next time); `created` when this call made it, so it started empty.
   */
  private table(name: string): Promise<{ client: TableClient; created: boolean }> {
    const full = this.fullName(name);
    let table = this.tables.get(full);
    if (table === undefined) {
      let status = 0;
      const create = () => this.service.createTable(full, { onResponse: (response) => (status = response.status) });
      table = withRetry(`create table ${full}`, create, this.tableOptions.retry).then(() => ({
        client: this.clientFor(full),
        created: status === 201 || status === 204,
      }));
      table.catch(() => this.tables.delete(full));
      this.tables.set(full, table);
    }
    return table;
  }
}
