import type { TableEntity } from '@azure/data-tables';
import { InvalidInputError, StorageError } from '../../core/errors';
import type { StoredBlock } from '../../core/ports';
import type { SizedAction } from './packTransactions';
import { assertKeyLength, bucketKey, encodePartition, PARTITION_SEPARATOR } from './keyEncoding';

/**
 * How a block maps onto entities. The main entity (RowKey = row, 12 digits) holds `pages`,
 * `chars` (the data's length, to check reassembly), `appliedThrough` (Edm.Double: exact for any
 * integer up to 2^53) and the first `d0, d1, …` chunks of the data; when one entity would grow
 * past ~900 KB the data goes on in overflow entities `<row>~001`, `<row>~002`, … that repeat
 * `appliedThrough` (so a half-rewritten block is detected) and carry their `page` number.
 */

export const ROW_DIGITS = 12;
export const MAX_ROW = 10 ** ROW_DIGITS - 1;
/** A string property holds at most 32K UTF-16 characters; stay below. */
export const CHUNK_CHARS = 30_000;
/** An entity may hold 1 MiB (Azure counts 2 bytes a character; Azurite the UTF-8 JSON body). */
export const PAGE_BUDGET_BYTES = 900 * 1024;
/** Overflow pages are numbered with 3 digits. */
export const MAX_PAGES = 1000;
/** Properties of an entity besides the data chunks, and room for the system ones. */
const MAX_CHUNKS_PER_PAGE = 240;
const ENTITY_OVERHEAD_BYTES = 400;

export const blockRowKey = (row: number, prefix = ''): string => prefix + String(row).padStart(ROW_DIGITS, '0');
export const overflowRowKey = (row: number, page: number, prefix = ''): string => `${blockRowKey(row, prefix)}~${String(page).padStart(3, '0')}`;
/** The largest RowKey a block's entities can have. */
export const lastRowKeyOf = (row: number, prefix = ''): string => overflowRowKey(row, MAX_PAGES - 1, prefix);
/** The main entity's RowKey of any of a block's entities (overflow pages end in `~NNN`). */
export const mainRowKeyOf = (rowKey: string): string => (/~\d{3}$/.test(rowKey) ? rowKey.slice(0, -4) : rowKey);

/**
 * Where a block's id goes: the first `depth` components of its partition form the PartitionKey,
 * the rest (if any) prefix the RowKey (`vm|000001699999200`). A shallower PartitionKey puts many
 * small blocks into one partition, so one transaction writes up to 100 of them. With `buckets`,
 * the PartitionKey is instead the bucket those components hash to (`b07`) and the whole partition
 * prefixes the RowKey (`tenant|vm|000001699999200`).
 */
export interface BlockKeys {
  partitionKey: string;
  /** Encoded components not in the PartitionKey and `|`, or '' when the whole partition is the PartitionKey. */
  rowPrefix: string;
}

/** A block table's layout (see BlockLayout): `buckets` 0 for none. */
export interface BlockKeyLayout {
  depth: number;
  buckets: number;
}

export function blockKeys(partition: readonly string[], { depth, buckets }: BlockKeyLayout): BlockKeys {
  const cut = Math.min(Math.max(1, depth), partition.length);
  let partitionKey = encodePartition(partition.slice(0, cut));
  assertKeyLength(partitionKey, `partition ${JSON.stringify(partition)}`);
  let rowPrefix = cut < partition.length ? encodePartition(partition.slice(cut)) + PARTITION_SEPARATOR : '';
  if (buckets > 0) {
    rowPrefix = partitionKey + PARTITION_SEPARATOR + rowPrefix;
    partitionKey = bucketKey(partitionKey, buckets);
  }
  assertKeyLength(rowPrefix + 'x'.repeat(ROW_DIGITS + 4), `block id ${JSON.stringify(partition)}`);
  return { partitionKey, rowPrefix };
}

/** Throws unless `row` is an integer block row number that fits in the 12-digit RowKey. */
export function assertBlockRow(row: number): void {
  if (!Number.isSafeInteger(row) || row < 0 || row > MAX_ROW) {
    throw new InvalidInputError(`block row must be an integer from 0 to ${MAX_ROW}, got ${row}`);
  }
}

/** A block turned into entities: main entity first, then the overflow pages. */
export interface EncodedBlock {
  partitionKey: string;
  row: number;
  /** RowKey of the main entity. */
  rowKey: string;
  /** Upserts: overflow pages first, the main entity last (a reader trusts the main entity). */
  upserts: SizedAction[];
  pages: number;
}

/** Characters that JSON.stringify writes as they are, one UTF-8 byte each (block data is usually all of them). */
const PLAIN_JSON = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** Bytes of `text` as a JSON string in a UTF-8 body (quotes included). */
const utf8JsonBytes = (text: string): number => (PLAIN_JSON.test(text) ? text.length + 2 : Buffer.byteLength(JSON.stringify(text), 'utf8'));

function splitIntoChunks(data: string): string[] {
  const chunks: string[] = [];
  for (let start = 0; start < data.length; ) {
    let end = Math.min(start + CHUNK_CHARS, data.length);
    const last = data.charCodeAt(end - 1);
    if (end < data.length && last >= 0xd800 && last <= 0xdbff) end--; // keep surrogate pairs whole
    chunks.push(data.slice(start, end));
    start = end;
  }
  return chunks.length > 0 ? chunks : [''];
}

interface Page {
  chunks: string[];
  /** Toward the entity limit: the larger of Azure's (2 bytes a character) and Azurite's (UTF-8 JSON) count. */
  cost: number;
  /** UTF-8 bytes in the request body, toward the transaction limit. */
  bytes: number;
}

function groupIntoPages(chunks: readonly string[]): Page[] {
  const pages: Page[] = [];
  let page: Page = { chunks: [], cost: 0, bytes: 0 };
  for (const chunk of chunks) {
    const bytes = utf8JsonBytes(chunk) + 16;
    const cost = Math.max(2 * chunk.length, bytes) + 16;
    const full = page.cost + cost > PAGE_BUDGET_BYTES || page.chunks.length >= MAX_CHUNKS_PER_PAGE;
    if (page.chunks.length > 0 && full) {
      pages.push(page);
      page = { chunks: [], cost: 0, bytes: 0 };
    }
    page.chunks.push(chunk);
    page.cost += cost;
    page.bytes += bytes;
  }
  pages.push(page);
  return pages;
}

/** Splits a block into the entities that store it. */
export function toBlockEntities(block: StoredBlock, layout: BlockKeyLayout = { depth: Infinity, buckets: 0 }): EncodedBlock {
  assertBlockRow(block.row);
  if (typeof block.data !== 'string') throw new InvalidInputError('block data must be a string');
  if (!Number.isFinite(block.appliedThrough)) {
    throw new InvalidInputError(`block appliedThrough must be a finite number, got ${block.appliedThrough}`);
  }
  const { partitionKey, rowPrefix } = blockKeys(block.partition, layout);
  const pages = groupIntoPages(splitIntoChunks(block.data));
  if (pages.length > MAX_PAGES) {
    throw new InvalidInputError(`block data of ${block.data.length} characters needs more than ${MAX_PAGES} entities`);
  }
  const appliedThrough = { value: block.appliedThrough, type: 'Double' as const };
  const entities = pages.map((page, index): SizedAction => {
    const entity: TableEntity = index === 0
      ? { partitionKey, rowKey: blockRowKey(block.row, rowPrefix), pages: pages.length, chars: block.data.length, appliedThrough }
      : { partitionKey, rowKey: overflowRowKey(block.row, index, rowPrefix), page: index, appliedThrough };
    page.chunks.forEach((chunk, i) => (entity[`d${i}`] = chunk));
    return { action: ['upsert', entity, 'Replace'], bytes: page.bytes + ENTITY_OVERHEAD_BYTES + 2 * partitionKey.length };
  });
  return { partitionKey, row: block.row, rowKey: blockRowKey(block.row, rowPrefix), pages: pages.length, upserts: [...entities.slice(1), entities[0]] };
}

/** A block's entities as read back: the main entity and the overflow pages, in any order. */
export interface BlockEntityGroup {
  main?: Record<string, unknown>;
  overflow: Record<string, unknown>[];
}

const chunksOf = (entity: Record<string, unknown>): string => {
  let text = '';
  for (let i = 0; typeof entity[`d${i}`] === 'string'; i++) text += entity[`d${i}`] as string;
  return text;
};

/** Reassembles a block; throws a retriable `StorageError` when its pages do not belong together. */
export function fromBlockEntities(partition: readonly string[], row: number, group: BlockEntityGroup): StoredBlock {
  const main = group.main!;
  const pages = Number(main.pages);
  const appliedThrough = Number(main.appliedThrough);
  const byPage = new Map(group.overflow.map((entity) => [Number(entity.page), entity]));
  let data = chunksOf(main);
  for (let page = 1; page < pages; page++) {
    const entity = byPage.get(page);
    if (entity === undefined || Number(entity.appliedThrough) !== appliedThrough) {
      throw tornBlock(partition, row, `page ${page} of ${pages} is missing or from another write`);
    }
    data += chunksOf(entity);
  }
  if (data.length !== Number(main.chars)) {
    throw tornBlock(partition, row, `reassembled ${data.length} characters, expected ${main.chars}`);
  }
  return { partition: [...partition], row, data, appliedThrough };
}

const tornBlock = (partition: readonly string[], row: number, detail: string): StorageError =>
  new StorageError(`Table Storage: block ${JSON.stringify(partition)} row ${row} is incomplete (${detail}); ` +
    'a concurrent rewrite is the usual reason', { retriable: true });
