import { odata, type TableClient } from '@azure/data-tables';
import { InvalidInputError } from '../../core/errors';
import type { BlockTable, StoredBlock } from '../../core/ports';
import {
  assertBlockRow, blockKeys, blockRowKey, fromBlockEntities, lastRowKeyOf, mainRowKeyOf, MAX_ROW, ROW_DIGITS, toBlockEntities,
  type BlockEntityGroup, type BlockKeyLayout, type EncodedBlock,
} from './blockEntities';
import { mapConcurrently } from '../../core/mapConcurrently';
import { packTransactions, type SizedAction } from './packTransactions';
import { submitTransaction } from './submitTransaction';
import { isNotFound } from './toStorageError';
import { withRetry, type RetryOptions } from './withRetry';

export interface BlockTableOptions {
  /** Partitions written in parallel by one `write`; Azurite is not built for many concurrent clients. */
  partitionConcurrency?: number;
  /** Backoff for retriable failures. */
  retry?: RetryOptions;
  /** Plain http allowed (the client's own setting, which transactions sent by submitTransaction follow). */
  allowInsecureConnection?: boolean;
  /** How many leading components of a block's partition form the PartitionKey (the rest prefix the RowKey). */
  partitionDepth?: number;
  /** Hash those components into this many PartitionKeys instead (see BlockLayout); 1 to 1000. */
  partitionBuckets?: number;
  /** The table was created empty for this object (a rebuild): a block it never wrote has no pages to clean up. */
  createdEmpty?: boolean;
}

/** Page counts remembered per block, so a rewrite need not look for stale overflow pages; bounded. */
const MAX_KNOWN_PAGES = 200_000;

/**
 * `BlockTable` on one Azure table: PartitionKey = encodePartition(block.partition), RowKey = the
 * row zero-padded to 12 digits (plus `~NNN` overflow pages for large data, see blockEntities), or
 * as the layout moves the partition's components between them (blockKeys).
 * Writes are replace-mode upserts in transactions of one partition; reads are one range query.
 */
export class TableStorageBlockTable implements BlockTable {
  private readonly partitionConcurrency: number;
  private readonly retry: RetryOptions;
  private readonly layout: BlockKeyLayout;
  private readonly allowInsecureConnection: boolean;
  /** `PartitionKey\u0000RowKey` → pages the stored block has, as this table last wrote or read it. */
  private readonly knownPages = new Map<string, number>();
  /** Pages assumed for a block not in `knownPages` (cleared when the map is full, so not for tables created empty). */
  private unknownPages: number;

  constructor(
    private readonly client: TableClient,
    { partitionConcurrency = 4, retry = {}, partitionDepth = Infinity, partitionBuckets, createdEmpty = false, allowInsecureConnection = false }: BlockTableOptions = {},
  ) {
    if (partitionBuckets !== undefined && !(Number.isInteger(partitionBuckets) && partitionBuckets >= 1 && partitionBuckets <= 1000)) {
      throw new InvalidInputError(`partitionBuckets must be an integer from 1 to 1000, got ${partitionBuckets}`, { parameter: 'partitionBuckets' });
    }
    this.unknownPages = createdEmpty ? 0 : Infinity;
    this.partitionConcurrency = partitionConcurrency;
    this.retry = retry;
    this.layout = { depth: partitionDepth, buckets: partitionBuckets ?? 0 };
    this.allowInsecureConnection = allowInsecureConnection;
  }

  async write(blocks: readonly StoredBlock[]): Promise<void> {
    const byPartition = new Map<string, Map<string, EncodedBlock>>();
    for (const block of blocks) {
      const encoded = toBlockEntities(block, this.layout);
      const rows = byPartition.get(encoded.partitionKey) ?? new Map<string, EncodedBlock>();
      rows.set(encoded.rowKey, encoded); // the last write of a block wins, as it would one by one
      byPartition.set(encoded.partitionKey, rows);
    }
    await mapConcurrently([...byPartition], this.partitionConcurrency, ([partitionKey, rows]) =>
      this.writePartition(partitionKey, [...rows.values()].sort((a, b) => (a.rowKey < b.rowKey ? -1 : a.rowKey > b.rowKey ? 1 : 0))),
    );
  }

  checkKeys(partition: readonly string[], row: number): void {
    assertBlockRow(row);
    blockKeys(partition, this.layout);
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
    const { partitionKey, rowPrefix } = blockKeys(partition, this.layout);
    const filter = odata`PartitionKey eq ${partitionKey} and RowKey ge ${blockRowKey(from, rowPrefix)} and RowKey le ${lastRowKeyOf(to, rowPrefix)}`;
    return withRetry(`read blocks of ${this.client.tableName}`, async () => {
      const groups = new Map<number, BlockEntityGroup>();
      for await (const entity of this.client.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
        const rowKey = entity.rowKey as string;
        const row = Number(rowKey.slice(rowPrefix.length, rowPrefix.length + ROW_DIGITS));
        const group = groups.get(row) ?? { overflow: [] };
        if (rowKey.length === rowPrefix.length + ROW_DIGITS) {
          group.main = entity;
          this.remember(partitionKey, rowKey, Number(entity.pages));
        }
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
        ...(stale.get(block.rowKey) ?? []).map((rowKey): SizedAction => ({
          action: ['delete', { partitionKey, rowKey }],
          bytes: 300,
        })),
      ]);
      try {
        for (const actions of packTransactions(units)) {
          const submit = (): Promise<void> => submitTransaction(this.client, actions, { allowInsecureConnection: this.allowInsecureConnection });
          await withRetry(`write blocks to ${this.client.tableName}`, submit, this.retry);
        }
        for (const block of blocks) this.remember(partitionKey, block.rowKey, block.pages);
        return;
      } catch (error) {
        if (attempt > 1 || stale.size === 0 || !isNotFound(error)) throw error;
      }
    }
  }

  /**
   * RowKeys of overflow pages that the new versions of `blocks` no longer use, by main RowKey.
   * Blocks whose stored page count this table knows and that do not shrink need no query.
   */
  private async staleOverflowKeys(partitionKey: string, blocks: readonly EncodedBlock[]): Promise<Map<string, string[]>> {
    const newPages = new Map(blocks.map((block) => [block.rowKey, block.pages]));
    const unsure = blocks.filter((block) => !((this.knownPages.get(`${partitionKey}\u0000${block.rowKey}`) ?? this.unknownPages) <= block.pages));
    if (unsure.length === 0) return new Map();
    const first = unsure[0].rowKey;
    const last = `${unsure[unsure.length - 1].rowKey}~999`;
    const filter = odata`PartitionKey eq ${partitionKey} and RowKey gt ${first} and RowKey le ${last} and page ge ${1}`;
    return withRetry(`find overflow pages in ${this.client.tableName}`, async () => {
      const stale = new Map<string, string[]>();
      const query = this.client.listEntities<{ page: number }>({ queryOptions: { filter, select: ['RowKey', 'page'] } });
      for await (const entity of query) {
        const rowKey = entity.rowKey as string;
        const main = mainRowKeyOf(rowKey);
        const pages = newPages.get(main);
        if (pages !== undefined && Number(entity.page) >= pages) stale.set(main, [...(stale.get(main) ?? []), rowKey]);
      }
      return stale;
    }, this.retry);
  }

  private remember(partitionKey: string, rowKey: string, pages: number): void {
    if (this.knownPages.size >= MAX_KNOWN_PAGES) {
      this.knownPages.clear();
      this.unknownPages = Infinity; // forgotten blocks may have pages again
    }
    this.knownPages.set(`${partitionKey}\u0000${rowKey}`, pages);
  }
}
