/**
 * An in-memory TableStore (Maps only), for benchmarks and tests that want the projectors
 * without Table Storage. Blocks and rows are copied on the way in and out.
 */
import type { BlockTable, Row, RowTable, StoredBlock, TableStore } from '../../src/core/ports';

const partitionKey = (partition: readonly string[]): string => JSON.stringify(partition);

export class MemoryBlockTable implements BlockTable {
  /** partition key → row → block */
  private readonly partitions = new Map<string, Map<number, StoredBlock>>();

  async write(blocks: readonly StoredBlock[]): Promise<void> {
    for (const block of blocks) {
      const key = partitionKey(block.partition);
      let rows = this.partitions.get(key);
      if (!rows) this.partitions.set(key, (rows = new Map()));
      rows.set(block.row, { ...block, partition: [...block.partition] });
    }
  }

  async read(partition: readonly string[], row: number): Promise<StoredBlock | undefined> {
    const block = this.partitions.get(partitionKey(partition))?.get(row);
    return block && { ...block, partition: [...block.partition] };
  }

  async readRange(partition: readonly string[], fromRow: number, toRow: number): Promise<StoredBlock[]> {
    const rows = this.partitions.get(partitionKey(partition));
    if (!rows) return [];
    return [...rows.values()]
      .filter((b) => b.row >= fromRow && b.row <= toRow)
      .sort((a, b) => a.row - b.row)
      .map((b) => ({ ...b, partition: [...b.partition] }));
  }

  get size(): number {
    let n = 0;
    for (const rows of this.partitions.values()) n += rows.size;
    return n;
  }
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class MemoryRowTable implements RowTable {
  /** partition key → row key → row */
  private readonly partitions = new Map<string, Map<string, Row>>();

  async upsert(rows: readonly Row[]): Promise<void> {
    for (const row of rows) {
      const key = partitionKey(row.partition);
      let map = this.partitions.get(key);
      if (!map) this.partitions.set(key, (map = new Map()));
      map.set(row.row, copyRow(row));
    }
  }

  async get(partition: readonly string[], row: string): Promise<Row | undefined> {
    const found = this.partitions.get(partitionKey(partition))?.get(row);
    return found && copyRow(found);
  }

  async list(options: { partition?: readonly string[]; fromRow?: string; toRow?: string; limit?: number } = {}): Promise<Row[]> {
    const { partition, fromRow, toRow, limit } = options;
    const maps = partition !== undefined
      ? [this.partitions.get(partitionKey(partition))].filter((m): m is Map<string, Row> => m !== undefined)
      : [...this.partitions.values()];
    const rows = maps
      .flatMap((m) => [...m.values()])
      .filter((r) => (fromRow === undefined || r.row >= fromRow) && (toRow === undefined || r.row <= toRow))
      .sort((a, b) => compare(partitionKey(a.partition), partitionKey(b.partition)) || compare(a.row, b.row));
    return (limit === undefined ? rows : rows.slice(0, limit)).map(copyRow);
  }

  async delete(partition: readonly string[], row: string): Promise<void> {
    const key = partitionKey(partition);
    const map = this.partitions.get(key);
    if (!map) return;
    map.delete(row);
    if (map.size === 0) this.partitions.delete(key);
  }
}

function copyRow(row: Row): Row {
  return { partition: [...row.partition], row: row.row, fields: { ...row.fields } };
}

export class MemoryTableStore implements TableStore {
  private readonly tables = new Map<string, MemoryBlockTable | MemoryRowTable>();

  async blockTable(name: string): Promise<BlockTable> {
    return this.table(name, MemoryBlockTable);
  }

  async rowTable(name: string): Promise<RowTable> {
    return this.table(name, MemoryRowTable);
  }

  async listTables(prefix: string): Promise<string[]> {
    return [...this.tables.keys()].filter((n) => n.startsWith(prefix)).sort(compare);
  }

  async dropTable(name: string): Promise<void> {
    this.tables.delete(name);
  }

  private table<T extends MemoryBlockTable | MemoryRowTable>(name: string, kind: new () => T): T {
    const existing = this.tables.get(name);
    if (existing === undefined) {
      const created = new kind();
      this.tables.set(name, created);
      return created;
    }
    if (!(existing instanceof kind)) throw new Error(`table ${name} exists as another kind of table`);
    return existing;
  }
}
