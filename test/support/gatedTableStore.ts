import type { BlockLayout, BlockTable, RowTable, TableStore } from '../../src/core/ports';

/**
 * A TableStore whose chosen tables can be held: while held, every read and write of them waits
 * until `release`. A projector that must write one stops where it is, so a test sees it behind
 * the log without racing it. Other tables go straight through.
 */
export class GatedTableStore implements TableStore {
  private gate?: { held: (table: string) => boolean; reads: boolean; opened: Promise<void>; open: () => void };

  /** The store behind the gate: what a second process would see. */
  constructor(readonly inner: TableStore) {}

  /** From now on, the tables `held` names wait until `release` (their writes only, with `reads: false`). */
  hold(held: (table: string) => boolean, { reads = true }: { reads?: boolean } = {}): void {
    this.release();
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    this.gate = { held, reads, opened, open };
  }

  release(): void {
    this.gate?.open();
    this.gate = undefined;
  }

  async blockTable(name: string, layout?: BlockLayout): Promise<BlockTable> {
    const table = await this.inner.blockTable(name, layout);
    const pass = this.pass(name);
    const read = this.pass(name, 'read');
    return {
      write: async (blocks) => pass().then(() => table.write(blocks)),
      read: async (partition, row) => read().then(() => table.read(partition, row)),
      readRange: async (partition, fromRow, toRow) => read().then(() => table.readRange(partition, fromRow, toRow)),
      checkKeys: table.checkKeys?.bind(table),
    };
  }

  async rowTable(name: string, layout?: BlockLayout): Promise<RowTable> {
    const table = await this.inner.rowTable(name, layout);
    const pass = this.pass(name);
    const read = this.pass(name, 'read');
    return {
      upsert: async (rows) => pass().then(() => table.upsert(rows)),
      get: async (partition, row) => read().then(() => table.get(partition, row)),
      list: async (options) => read().then(() => table.list(options)),
      delete: async (partition, row) => pass().then(() => table.delete(partition, row)),
      checkKeys: table.checkKeys?.bind(table),
    };
  }

  listTables(prefix: string): Promise<string[]> {
    return this.inner.listTables(prefix);
  }

  dropTable(name: string): Promise<void> {
    return this.inner.dropTable(name);
  }

  /** Resolves at once, or when the gate opens if table `name` is held now. */
  private pass(name: string, kind: 'read' | 'write' = 'write'): () => Promise<void> {
    return async () => {
      const gate = this.gate;
      if (gate?.held(name) && (kind === 'write' || gate.reads)) await gate.opened;
    };
  }
}
