/**
 * The fold into memory, as a process (cliBench.ts runs it on the log `opsfold ingest` wrote):
 *
 *   node dist/test/bench/foldIntoMemory.js DATA_DIR
 *
 * The windows projection's fold of the whole file log, exactly as `opsfold replay` folds it (the
 * same Projector and WindowsFold: the log read in batches from disk, each record decoded and its
 * metrics folded into the cross-tenant and per-VM one-minute windows, VM counts and sketches, each
 * sealed slot's blocks encoded as they are written) with no storage behind it: the blocks it writes
 * are counted and let go, and no window-event history is kept. Prints one JSON line: the fold's own
 * seconds (from the log opened to the last block taken; Node's start, the module loading and the
 * opening of the log, which checks the tail of its last segment, are not in it: `openSeconds`) and the CPU time the process spent meanwhile (its garbage collector's threads too),
 * the metrics and windows folded and the bytes of blocks written.
 */
import path from 'node:path';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { loadSettings } from '../../src/config/settings';
import type { BlockTable, RowTable, StoredBlock, TableStore } from '../../src/core/ports';
import { metaTable } from '../../projections/projectionCatalog';
import { windowsProjection } from '../../projections/windowsProjection';
import { rebuildFlushIntervalMs } from '../../src/rebuildProjection';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { Projector } from '../../streams/Projector';
import { MemoryTableStore } from '../support/memoryTableStore';

/** Blocks written are counted and dropped (a fresh rebuild reads none back); rows are kept in memory. */
class CountingBlockTable implements BlockTable {
  blocks = 0;
  bytes = 0;
  async write(blocks: readonly StoredBlock[]): Promise<void> {
    this.blocks += blocks.length;
    for (const b of blocks) this.bytes += b.data.length;
  }
  async read(): Promise<StoredBlock | undefined> {
    return undefined;
  }
  async readRange(): Promise<StoredBlock[]> {
    return [];
  }
}

class FoldOnlyStore implements TableStore {
  private readonly rows = new MemoryTableStore();
  readonly written: CountingBlockTable[] = [];
  async blockTable(): Promise<BlockTable> {
    const table = new CountingBlockTable();
    this.written.push(table);
    return table;
  }
  rowTable(name: string): Promise<RowTable> {
    return this.rows.rowTable(name);
  }
  listTables(prefix: string): Promise<string[]> {
    return this.rows.listTables(prefix);
  }
  dropTable(name: string): Promise<void> {
    return this.rows.dropTable(name);
  }
}

async function main(dataDir: string): Promise<void> {
  const settings = loadSettings({ tablePrefix: 'bench', dataDir }, {}).settings;
  const tables = new FoldOnlyStore();
  const opening = process.hrtime.bigint();
  const log = await FileLog.open(path.join(dataDir, 'log'));
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  try {
    const versions = new ProjectionVersions(await tables.rowTable(metaTable(settings.tablePrefix)));
    const projector = new Projector({
      projection: windowsProjection, config: { windows: settings }, log, tables, versions, tablePrefix: settings.tablePrefix,
      version: 1, flushIntervalMs: rebuildFlushIntervalMs(settings), follow: false, blockingReads: true,
    });
    const stats = await projector.run();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    const bytes = tables.written.reduce((sum, t) => sum + t.bytes, 0);
    process.stdout.write(`${JSON.stringify({ seconds, openSeconds: Number(started - opening) / 1e9, cpuSeconds: (used.user + used.system) / 1e6, metrics: stats.metrics, windows: stats.windowsEmitted, blockBytes: bytes })}\n`);
  } finally {
    await log.close();
  }
}

main(process.argv[2]).catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
