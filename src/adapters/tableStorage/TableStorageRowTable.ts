import { odata, type TableClient } from '@azure/data-tables';
import { InvalidInputError } from '../../core/errors';
import type { Row, RowTable } from '../../core/ports';
import { assertKeyLength, encodeKeyPart } from './keyEncoding';
import { mapConcurrently } from '../../core/mapConcurrently';
import { packTransactions, type SizedAction } from './packTransactions';
import { fromRowEntity, rowKeys, toRowUpsert } from './rowEntities';
import { submitTransaction } from './submitTransaction';
import { isNotFound } from './toStorageError';
import { withRetry, type RetryOptions } from './withRetry';

export interface RowTableOptions {
  /** Partitions written in parallel by one `upsert`. */
  partitionConcurrency?: number;
  /** Backoff for retriable failures. */
  retry?: RetryOptions;
  /** Plain http allowed (the client's own setting, which transactions sent by submitTransaction follow). */
  allowInsecureConnection?: boolean;
  /** How many leading components of a row's partition form the PartitionKey (see rowKeys). */
  partitionDepth?: number;
}

export interface ListRowsOptions {
  partition?: readonly string[];
  /** Inclusive lower bound of the row key. */
  fromRow?: string;
  /** Inclusive upper bound of the row key. */
  toRow?: string;
  limit?: number;
}

/** Server pages hold at most 1000 entities. */
const MAX_PAGE_SIZE = 1000;

/**
 * `RowTable` on one Azure table: PartitionKey = encodePartition(row.partition), RowKey =
 * encodeKeyPart(row.row), fields as properties (numbers as Edm.Double). Rows come back ordered
 * by their encoded keys, which is raw string order unless keys hold escaped characters.
 */
export class TableStorageRowTable implements RowTable {
  private readonly partitionConcurrency: number;
  private readonly retry: RetryOptions;
  private readonly depth: number;
  private readonly allowInsecureConnection: boolean;

  constructor(
    private readonly client: TableClient,
    { partitionConcurrency = 4, retry = {}, partitionDepth = Infinity, allowInsecureConnection = false }: RowTableOptions = {},
  ) {
    this.allowInsecureConnection = allowInsecureConnection;
    this.partitionConcurrency = partitionConcurrency;
    this.retry = retry;
    this.depth = partitionDepth;
  }

  async upsert(rows: readonly Row[]): Promise<void> {
    const byPartition = new Map<string, Map<string, SizedAction>>();
    for (const row of rows) {
      const upsert = toRowUpsert(row, this.depth);
      const { partitionKey, rowKey } = upsert.action[1];
      const partition = byPartition.get(partitionKey) ?? new Map<string, SizedAction>();
      partition.set(rowKey, upsert); // one action per entity in a transaction; the last one wins
      byPartition.set(partitionKey, partition);
    }
    await mapConcurrently([...byPartition.values()], this.partitionConcurrency, async (partition) => {
      for (const actions of packTransactions([...partition.values()].map((upsert) => [upsert]))) {
        const submit = (): Promise<void> => submitTransaction(this.client, actions, { allowInsecureConnection: this.allowInsecureConnection });
        await withRetry(`upsert rows into ${this.client.tableName}`, submit, this.retry);
      }
    });
  }

  async get(partition: readonly string[], row: string): Promise<Row | undefined> {
    const [partitionKey, rowKey] = this.keysOf(partition, row);
    try {
      const entity = await withRetry(`get a row of ${this.client.tableName}`, () =>
        this.client.getEntity<Record<string, unknown>>(partitionKey, rowKey), this.retry,
      );
      return fromRowEntity(entity);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async list({ partition, fromRow, toRow, limit }: ListRowsOptions = {}): Promise<Row[]> {
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
      throw new InvalidInputError(`limit must be a non-negative integer, got ${limit}`, { parameter: 'limit' });
    }
    if (limit === 0) return [];
    const conditions: string[] = [];
    let prefix = '';
    if (partition !== undefined) {
      const keys = rowKeys(partition, '', this.depth);
      prefix = keys.rowPrefix;
      conditions.push(odata`PartitionKey eq ${keys.partitionKey}`);
      // `|` + 1 is `}`: the rows of this logical partition are the RowKeys between `prefix` and that.
      if (prefix !== '' && fromRow === undefined) conditions.push(odata`RowKey ge ${prefix}`);
      if (prefix !== '' && toRow === undefined) conditions.push(odata`RowKey lt ${prefix.slice(0, -1) + '}'}`);
    }
    if (fromRow !== undefined) conditions.push(odata`RowKey ge ${prefix + encodeKeyPart(fromRow)}`);
    if (toRow !== undefined) conditions.push(odata`RowKey le ${prefix + encodeKeyPart(toRow)}`);
    const wanted = partition === undefined ? undefined : JSON.stringify(partition);
    const filter = conditions.length > 0 ? conditions.join(' and ') : undefined;
    const maxPageSize = Math.min(limit ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE);
    return withRetry(`list rows of ${this.client.tableName}`, async () => {
      const rows: Row[] = [];
      const pages = this.client.listEntities<Record<string, unknown>>({ queryOptions: { filter } }).byPage({ maxPageSize });
      for await (const page of pages) {
        for (const entity of page) {
          if (limit !== undefined && rows.length >= limit) return rows;
          const row = fromRowEntity(entity);
          // A shallow layout keeps deeper logical partitions in the same storage partition: skip those.
          if (wanted === undefined || JSON.stringify(row.partition) === wanted) rows.push(row);
        }
        if (limit !== undefined && rows.length >= limit) return rows;
      }
      return rows;
    }, this.retry);
  }

  async delete(partition: readonly string[], row: string): Promise<void> {
    const [partitionKey, rowKey] = this.keysOf(partition, row);
    try {
      const remove = (): Promise<unknown> => this.client.deleteEntity(partitionKey, rowKey);
      await withRetry(`delete a row of ${this.client.tableName}`, remove, this.retry);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  checkKeys(partition: readonly string[], row: string): void {
    this.keysOf(partition, row);
  }

  private keysOf(partition: readonly string[], row: string): [string, string] {
    const { partitionKey, rowKey } = rowKeys(partition, row, this.depth);
    const keys: [string, string] = [partitionKey, rowKey];
    assertKeyLength(keys[0], `partition ${JSON.stringify(partition)}`);
    assertKeyLength(keys[1], `row ${JSON.stringify(row)}`);
    return keys;
  }
}
