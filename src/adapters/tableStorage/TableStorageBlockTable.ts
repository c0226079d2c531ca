import { odata, type TableClient } from '@azure/data-tables';
import type { BlockTable, StoredBlock } from '../../core/ports';
import {
  assertBlockRow, blockRowKey, fromBlockEntities, lastRowKeyOf, MAX_ROW, ROW_DIGITS, toBlockEntities,
  type BlockEntityGroup, type EncodedBlock,
} from './blockEntities';
import { assertKeyLength, encodePartition } from './keyEncoding';
import { mapConcurrently } from './mapConcurrently';
import { packTransactions, type SizedAction } from './packTransactions';
import { isNotFound } from './toStorageError';
import { withRetry, type RetryOptions } from './withRetry';

export interface BlockTableOptions {
  /** Partitions written in parallel by one `write`; Azurite is not built for many concurrent clients. */
  partitionConcurrency?: number;
  /** Backoff for retriable failures. */
  retry?: RetryOptions;
}

/**
 * `BlockTable` on one Azure table: PartitionKey = encodePartition(block.partition), RowKey = the
 * row zero-padded to 12 digits (plus `~NNN` overflow pages for large data, see blockEntities).
 * Writes are replace-mode upserts in transactions of one partition; reads are one range query.
 */
export class TableStorageBlockTable implements BlockTable {
  private readonly partitionConcurrency: number;
  private readonly retry: RetryOptions;

  constructor(
    private readonly client: TableClient,
    { partitionConcurrency = 4, retry = {} }: BlockTableOptions = {},
  ) {
    this.partitionConcurrency = partitionConcurrency;
    this.retry = retry;
  }

  async write(blocks: readonly StoredBlock[]): Promise<void> {
    const byPartition = new Map<string, Map<number, EncodedBlock>>();
    for (const block of blocks) {
      const encoded = toBlockEntities(block);
      const rows = byPartition.get(encoded.partitionKey) ?? new Map<number, EncodedBlock>();
      rows.set(encoded.row, encoded); // the last write of a row wins, as it would one by one
      byPartition.set(encoded.partitionKey, rows);
    }
    await mapConcurrently([...byPartition], this.partitionConcurrency, ([partitionKey, rows]) =>
      this.writePartition(partitionKey, [...rows.values()].sort((a, b) => a.row - b.row)),
    );
  }

  async read(partition: readonly string[], row: number): Promise<StoredBlock | undefined> {
    assertBlockRow(row);
    const [block] = await this.readRange(partition, row, row);
    return block;
  }

  async readRange(partition: readonly string[], fromRow: number, toRow: number): Promise<StoredBlock[]> {
    const from = Math.max(0, Math.ceil(fromRow));
    const to = Math.min(MAX_ROW, Math.floor(toRow));
    if (Number.isNaN(from) || Number.isNaN(to) || from > to) return [];
    const partitionKey = encodePartition(partition);
    assertKeyLength(partitionKey, `partition ${JSON.stringify(partition)}`);
    const filter = odata`PartitionKey eq ${partitionKey} and RowKey ge ${blockRowKey(from)} and RowKey le ${lastRowKeyOf(to)}`;
    return withRetry(`read blocks of ${this.client.tableName}`, async () => {
      const groups = new Map<number, BlockEntityGroup>();
      for await (const entity of this.client.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
        const rowKey = entity.rowKey as string;
        const row = Number(rowKey.slice(0, ROW_DIGITS));
        const group = groups.get(row) ?? { overflow: [] };
        if (rowKey.length === ROW_DIGITS) group.main = entity;
        else group.overflow.push(entity);
        groups.set(row, group);
      }
      return [...groups]
        .filter(([, group]) => group.main !== undefined) // orphan pages of a write that never finished
        .sort(([a], [b]) => a - b)
        .map(([row, group]) => fromBlockEntities(partition, row, group));
    }, this.retry);
  }

  /**
   * Writes one partition's blocks. Overflow pages beyond a block's new page count are deleted in
   * the same transaction as its main entity; they are found by one query first. Should a delete
   * meet a page that vanished meanwhile (404 fails the whole transaction), the write starts over once.
   */
  private async writePartition(partitionKey: string, blocks: readonly EncodedBlock[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const stale = await this.staleOverflowKeys(partitionKey, blocks);
      const units = blocks.map((block): SizedAction[] => [
        ...block.upserts,
        ...(stale.get(block.row) ?? []).map((rowKey): SizedAction => ({
          action: ['delete', { partitionKey, rowKey }],
          bytes: 300,
        })),
      ]);
      try {
        for (const actions of packTransactions(units)) {
          const submit = (): Promise<unknown> => this.client.submitTransaction(actions);
          await withRetry(`write blocks to ${this.client.tableName}`, submit, this.retry);
        }
        return;
      } catch (error) {
        if (attempt > 1 || stale.size === 0 || !isNotFound(error)) throw error;
      }
    }
  }

  /** RowKeys of overflow pages that the new versions of `blocks` no longer use, by row. */
  private async staleOverflowKeys(partitionKey: string, blocks: readonly EncodedBlock[]): Promise<Map<number, string[]>> {
    const newPages = new Map(blocks.map((block) => [block.row, block.pages]));
    const first = blockRowKey(blocks[0].row);
    const last = lastRowKeyOf(blocks[blocks.length - 1].row);
    const filter = odata`PartitionKey eq ${partitionKey} and RowKey gt ${first} and RowKey le ${last} and page ge ${1}`;
    return withRetry(`find overflow pages in ${this.client.tableName}`, async () => {
      const stale = new Map<number, string[]>();
      const query = this.client.listEntities<{ page: number }>({ queryOptions: { filter, select: ['RowKey', 'page'] } });
      for await (const entity of query) {
        const rowKey = entity.rowKey as string;
        const row = Number(rowKey.slice(0, ROW_DIGITS));
        const pages = newPages.get(row);
        if (pages !== undefined && Number(entity.page) >= pages) stale.set(row, [...(stale.get(row) ?? []), rowKey]);
      }
      return stale;
    }, this.retry);
  }
}
