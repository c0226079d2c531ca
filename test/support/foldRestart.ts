/**
 * A fold stopped and resumed as a projector is after a crash, against blocks kept in a map: the
 * blocks written at a checkpoint and after it, the resumed fold reading back what a restart reads
 * (loadRecentWindows, then each record's blocks), to compare with a fold that never stopped.
 */
import { WindowFolder, type FolderCheckpoint, type WindowOptions } from '../../projections/WindowFolder';
import { MinuteBlocks, decodeBlock } from '../../projections/minuteBlocks';
import { loadRecentWindows } from '../../projections/loadRecentWindows';
import { vmCatalogRows } from '../../projections/vmCatalog';
import type { BlockTable, Row, StoredBlock } from '../../src/core/ports';
import { feed, sorted, type Folded, type TestRecord } from './metricBuilders';

export type Table = Map<string, StoredBlock>;
const tableKey = (grouping: string, partition: readonly string[], row: number) => JSON.stringify([grouping, partition, row]);

export function write(table: Table, folder: WindowFolder, through: number): void {
  for (const b of folder.cross.takeDirty(through)) table.set(tableKey('minute', b.partition, b.row), b);
  for (const b of folder.perVm.takeDirty(through)) table.set(tableKey('vmMinute', b.partition, b.row), b);
}

/** Every window in the table, with its aggregates, revision and VM counts (and the minutes with VMs expected only). */
export function contents(table: Table): [string, (number | undefined)[]][] {
  const out = new Map<string, (number | undefined)[]>();
  for (const [k, block] of table) {
    const [grouping] = JSON.parse(k) as [string];
    for (const [sub, windows] of decodeBlock(block, { expectedOnly: true })) {
      for (const w of windows) out.set(`${grouping}|${block.partition.join('|')}|${sub}|${w.windowStart}`, [w.count, w.sum, w.min, w.max, w.revision, w.vms, w.expectedVms]);
    }
  }
  return sorted(out);
}

/** One grouping of the table as a BlockTable, to read from. */
function blockTable(table: Table, grouping: string): BlockTable {
  const read = (partition: readonly string[], row: number) => table.get(tableKey(grouping, partition, row));
  return {
    write: async () => undefined,
    read: async (partition, row) => read(partition, row),
    readRange: async (partition, fromRow, toRow) => [...table.values()]
      .filter((b) => JSON.stringify(b.partition) === JSON.stringify(partition) && b.row >= fromRow && b.row <= toRow && read(partition, b.row) === b)
      .sort((a, b) => a.row - b.row),
  };
}

/** The catalog rows a flush would have written: each key's and each VM's newest window in the table. */
function catalogOf(table: Table): Row[] {
  const keys = new Map<string, number>();
  const vms = new Map<string, Map<string, Map<string, number>>>();
  for (const [k, block] of table) {
    const [grouping] = JSON.parse(k) as [string];
    for (const [sub, windows] of decodeBlock(block)) {
      const newest = Math.max(...windows.map((w) => w.windowStart));
      if (grouping === 'minute') keys.set(block.partition[0], Math.max(keys.get(block.partition[0]) ?? -Infinity, newest));
      else {
        const [tenant, vm] = block.partition;
        if (!vms.has(tenant)) vms.set(tenant, new Map());
        if (!vms.get(tenant)!.has(vm)) vms.get(tenant)!.set(vm, new Map());
        const byKey = vms.get(tenant)!.get(vm)!;
        byKey.set(sub, Math.max(byKey.get(sub) ?? -Infinity, newest));
      }
    }
  }
  return [
    ...[...keys].map(([key, newest]): Row => ({ partition: ['key'], row: key, fields: { key, newest } })),
    ...[...vms].flatMap(([tenant, byVm]) => vmCatalogRows(tenant, byVm)),
  ];
}

export const lateIds = (folded: Folded) => new Set(folded.late.map((l) => `${l.position}:${l.index}`));

export function uninterrupted(recs: TestRecord[], options: WindowOptions): { table: Table; folded: Folded } {
  const folder = new WindowFolder(options, new MinuteBlocks('minute', true), new MinuteBlocks('vmMinute', true));
  const folded = feed(folder, recs);
  folded.windows.push(...folder.closeAll());
  const table: Table = new Map();
  write(table, folder, recs[recs.length - 1].next);
  return { table, folded };
}

/**
 * Runs records 0..checkpointAt, writes blocks and takes the checkpoint, runs on to crashAt and
 * writes blocks again (no checkpoint), then crashes; a new folder resumes from the checkpoint.
 */
export async function crashAndResume(recs: TestRecord[], options: WindowOptions, checkpointAt: number, crashAt: number): Promise<{ table: Table; folded: Folded }> {
  const table: Table = new Map();
  const before = new WindowFolder(options, new MinuteBlocks('minute', true), new MinuteBlocks('vmMinute', true));
  const folded = feed(before, recs.slice(0, checkpointAt + 1));
  write(table, before, recs[checkpointAt].next);
  // Stored as JSON, like the projector's checkpoint row (a -Infinity comes back as null).
  const checkpoint = JSON.parse(JSON.stringify(before.checkpoint())) as FolderCheckpoint;
  const resumeFrom = before.resumePosition(recs[checkpointAt].next);
  feed(before, recs.slice(checkpointAt + 1, crashAt + 1), folded);
  write(table, before, recs[crashAt].next);

  const after = new WindowFolder(options, new MinuteBlocks('minute', false), new MinuteBlocks('vmMinute', false), checkpoint);
  const tables = { minute: blockTable(table, 'minute'), vmMinute: blockTable(table, 'vmMinute') };
  await loadRecentWindows(after, tables, catalogOf(table));
  for (const r of recs.filter((rec) => rec.position >= resumeFrom)) {
    for (const { grouping, partition, slot, from } of after.blocksToLoad(r.metrics)) {
      if (from) after.loadKeyFrom(partition[0], slot, await tables[grouping].readRange(partition, slot, Number.MAX_SAFE_INTEGER));
      else (grouping === 'minute' ? after.cross : after.perVm).load(partition, slot, table.get(tableKey(grouping, partition, slot)));
    }
    feed(after, [r], folded);
  }
  folded.windows.push(...after.closeAll());
  write(table, after, recs[recs.length - 1].next);
  return { table, folded };
}

