import { odata, type TableClient } from '@azure/data-tables';
import { InvalidInputError } from '../../core/errors';
import type { Row, RowTable } from '../../core/ports';
import { assertKeyLength, encodeKeyPart, encodePartition } from './keyEncoding';
import { mapConcurrently } from './mapConcurrently';
import { packTransactions, type SizedAction } from './packTransactions';
import { fromRowEntity, toRowUpsert } from './rowEntities';
import { isNotFound } from './toStorageError';
import { withRetry, type RetryOptions } from './withRetry';

export interface RowTableOptions {
  /** Partitions written in parallel by one `upsert`. */
  partitionConcurrency?: number;
  /** Backoff for retriable failures. */
  retry?: RetryOptions;
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

  constructor(
    private readonly client: TableClient,
    { partitionConcurrency = 4, retry = {} }: RowTableOptions = {},
  ) {
    this.partitionConcurrency = partitionConcurrency;
    this.retry = retry;
  }

  async upsert(rows: readonly Row[]): Promise<void> {
    const byPartition = new Map<string, Map<string, SizedAction>>();
    for (const row of rows) {
      const upsert = toRowUpsert(row);
      const { partitionKey, rowKey } = upsert.action[1];
      const partition = byPartition.get(partitionKey) ?? new Map<string, SizedAction>();
      partition.set(rowKey, upsert); // one action per entity in a transaction; the last one wins
      byPartition.set(partitionKey, partition);
    }
    await mapConcurrently([...byPartition.values()], this.partitionConcurrency, async (partition) => {
      for (const actions of packTransactions([...partition.values()].map((upsert) => [upsert]))) {
        const submit = (): Promise<unknown> => this.client.submitTransaction(actions);
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
    if (partition !== undefined) conditions.push(odata`PartitionKey eq ${encodePartition(partition)}`);
    if (fromRow !== undefined) conditions.push(odata`RowKey ge ${encodeKeyPart(fromRow)}`);
    if (toRow !== undefined) conditions.push(odata`RowKey le ${encodeKeyPart(toRow)}`);
    const filter = conditions.length > 0 ? conditions.join(' and ') : undefined;
    const maxPageSize = Math.min(limit ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE);
    return withRetry(`list rows of ${this.client.tableName}`, async () => {
      const rows: Row[] = [];
      const pages = this.client.listEntities<Record<string, unknown>>({ queryOptions: { filter } }).byPage({ maxPageSize });
      for await (const page of pages) {
        for (const entity of page) {
          if (limit !== undefined && rows.length >= limit) return rows;
          rows.push(fromRowEntity(entity));
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

  private keysOf(partition: readonly string[], row: string): [string, string] {
    const keys: [string, string] = [encodePartition(partition), encodeKeyPart(row)];
    assertKeyLength(keys[0], `partition ${JSON.stringify(partition)}`);
    assertKeyLength(keys[1], `row ${JSON.stringify(row)}`);
    return keys;
  }
}
