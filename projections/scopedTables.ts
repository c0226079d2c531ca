import type { BlockTable, Row, RowTable, StoredBlock } from '../src/core/ports';
import { mergeBlocks } from './minuteBlocks';
import { readVmCatalog, VM_CATALOG_PARTITION } from './vmCatalog';

/**
 * Read-side views over the tables of several scopes. On Event Hubs every log partition folds
 * its own share of the cross-tenant windows into tables of its own (`…P0`, `…P1`, …), each
 * written only by the processor that owns the partition, so no two writers race on a row;
 * readers merge the partial windows here. With the file log there is one scope and these
 * views are plain pass-throughs.
 */
export class MergedBlockTable implements BlockTable {
  constructor(private readonly tables: readonly BlockTable[]) {}

  async write(): Promise<void> {
    throw new Error('a merged view of several scopes is read-only');
  }

  async read(partition: readonly string[], row: number): Promise<StoredBlock | undefined> {
    const [block] = await this.readRange(partition, row, row);
    return block;
  }

  async readRange(partition: readonly string[], fromRow: number, toRow: number): Promise<StoredBlock[]> {
    if (this.tables.length === 1) return this.tables[0].readRange(partition, fromRow, toRow);
    const byRow = new Map<number, StoredBlock[]>();
    for (const blocks of await Promise.all(this.tables.map((t) => t.readRange(partition, fromRow, toRow)))) {
      for (const block of blocks) byRow.set(block.row, [...(byRow.get(block.row) ?? []), block]);
    }
    return [...byRow.keys()].sort((a, b) => a - b).map((row) => mergeBlocks(byRow.get(row)!));
  }
}

/**
 * The rows of several scopes' tables as one read-only table, in (partition, row) order. A row
 * present in more than one scope (a counter key every partition saw) is combined by `merge`.
 */
export class UnionRowTable implements RowTable {
  constructor(private readonly tables: readonly RowTable[], private readonly merge: (a: Row, b: Row) => Row = (a) => a) {}

  async upsert(): Promise<void> {
    throw new Error('a merged view of several scopes is read-only');
  }

  async delete(): Promise<void> {
    throw new Error('a merged view of several scopes is read-only');
  }

  async get(partition: readonly string[], row: string): Promise<Row | undefined> {
    const found = (await Promise.all(this.tables.map((t) => t.get(partition, row)))).filter((r): r is Row => r !== undefined);
    return found.length === 0 ? undefined : found.reduce(this.merge);
  }

  async list(options: { partition?: readonly string[]; fromRow?: string; toRow?: string; limit?: number } = {}): Promise<Row[]> {
    if (this.tables.length === 1) return this.tables[0].list(options);
    const merged = new Map<string, Row>();
    for (const rows of await Promise.all(this.tables.map((t) => t.list(options)))) {
      for (const row of rows) {
        const id = JSON.stringify([row.partition, row.row]);
        const seen = merged.get(id);
        merged.set(id, seen ? this.merge(seen, row) : row);
      }
    }
    const ordered = [...merged.values()].sort((a, b) => compare(a.partition.join('\u0000'), b.partition.join('\u0000')) || compare(a.row, b.row));
    return options.limit === undefined ? ordered : ordered.slice(0, options.limit);
  }
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * One catalog row from the same row of several scopes: a counter key's with the newest window of
 * any; a tenant's VMs (should a tenant's events have been folded by two scopes) all of them, each
 * key with its newest window.
 */
export function newerCatalogRow(a: Row, b: Row): Row {
  if (a.partition[0] !== VM_CATALOG_PARTITION) return Number(b.fields.newest) > Number(a.fields.newest) ? b : a;
  const vms = readVmCatalog([a, b]).get(a.partition[1]) ?? new Map<string, Map<string, number>>();
  const merged = Object.fromEntries([...vms].map(([vm, newest]) => [vm, Object.fromEntries(newest)]));
  return { ...a, fields: { ...a.fields, vms: JSON.stringify(merged) } };
}
