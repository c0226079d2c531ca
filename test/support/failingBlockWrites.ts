import type { BlockTable, StoredBlock, TableStore } from '../../src/core/ports';

/**
 * A store whose block writes fail whenever `failure` names an error for them (the table's name
 * and the blocks): an outage, or one refused write. Everything else goes straight through.
 */
export function failingBlockWrites(inner: TableStore, failure: (table: string, blocks: readonly StoredBlock[]) => Error | undefined): TableStore {
  return {
    listTables: (prefix) => inner.listTables(prefix),
    dropTable: (name) => inner.dropTable(name),
    rowTable: (name, layout) => inner.rowTable(name, layout),
    async blockTable(name, layout): Promise<BlockTable> {
      const table = await inner.blockTable(name, layout);
      return {
        read: (partition, row) => table.read(partition, row),
        readRange: (partition, from, to) => table.readRange(partition, from, to),
        async write(blocks) {
          const error = failure(name, blocks);
          if (error) throw error;
          await table.write(blocks);
        },
      };
    },
  };
}
