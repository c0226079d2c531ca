import type { BlockTable, TableStore } from '../src/core/ports';
import { windowEvent, WINDOW_SECONDS, windowStartOf, type WindowEvent } from '../src/core/windowMath';
import { decodeBlock, slotStartOf } from '../projections/minuteBlocks';
import { scopeOfPartition } from '../projections/projectionCatalog';
import { openMerged } from '../projections/projectionTables';
import { windowsProjection } from '../projections/windowsProjection';
import type { ProjectionVersions } from './projectionVersions';

export interface CrossTenantFinalsOptions {
  tables: TableStore;
  versions: ProjectionVersions;
  tablePrefix: string;
  /** The active windows version (0: none yet). */
  version: () => number;
  /** The log's partitions; undefined until known. */
  partitions: () => readonly string[] | undefined;
  /** Told each cross-tenant window once it is final, whole (`final: true`): by window start, then key. */
  told: (window: WindowEvent) => void;
  /** Window starts told per pass at most, so that a long way behind is caught up pass by pass. */
  maxMinutesPerPass?: number;
}

/**
 * The final notices of cross-tenant windows where each log partition folds a share of them (Event
 * Hubs): a window is final once every partition's final bound (its checkpoint's) has passed it,
 * and then every share is in the tables, so it is told merged over the partitions' stored blocks.
 * One place tells them for all (whoever runs `pass`: the instance owning the first partition), and
 * records how far it has told (ProjectionVersions.finalTold) after telling: a crash in between tells
 * the last pass again (at least once; a notice is identified by key, window start and `final`). The
 * first pass of a version begins where the partitions' bound then is.
 *
 * @example
 * const finals = new CrossTenantFinals({ tables, versions, tablePrefix, version: () => 3, partitions: () => ['0', '1'], told: publish });
 * setInterval(() => void finals.pass(), 1000);
 */
export class CrossTenantFinals {
  constructor(private readonly options: CrossTenantFinalsOptions) {}

  /** Tells the windows that became final since the last pass (of any instance). */
  async pass(): Promise<void> {
    const { versions, tables, tablePrefix, told } = this.options;
    const version = this.options.version();
    const partitions = this.options.partitions();
    if (!version || !partitions || partitions.length === 0) return;
    const checkpoints = await Promise.all(partitions.map((id) => versions.checkpoint('windows', version, scopeOfPartition(id))));
    // A partition without a final bound yet may still bring a share of any window.
    const bound = Math.min(...checkpoints.map((c) => c?.finalThrough ?? -Infinity));
    if (!Number.isFinite(bound)) return;
    // Before the first pass, telling begins where the partitions' live runs began (Checkpoint.finalFrom): at the start for
    // a version folded live from its first record, where the rebuild ended for a rebuilt one.
    const from = (await versions.finalTold('windows', version)) ?? Math.min(...checkpoints.map((c) => (c!.finalFrom === null ? -Infinity : c!.finalFrom ?? bound)));
    if (bound <= from) return;
    // The window starts whose end lies in (from, bound]: from the first not final at `from` on (the oldest one held, from the start).
    const lastFinal = windowStartOf(bound) - WINDOW_SECONDS;
    if (Number.isFinite(from) && windowStartOf(from) > lastFinal) return versions.saveFinalTold('windows', version, bound);
    const opened = { prefix: tablePrefix, version, scopes: partitions.map(scopeOfPartition) };
    const [catalog, minute] = await Promise.all([openMerged(tables, windowsProjection.tables.catalog, opened), openMerged(tables, windowsProjection.tables.minute, opened)]);
    const keys = (await catalog.list({ partition: ['key'] })).map((r) => ({ key: r.row, newest: Number(r.fields.newest) })).sort((a, b) => compareText(a.key, b.key));
    const first = Number.isFinite(from) ? windowStartOf(from) : await oldestStart(minute, keys.map((k) => k.key), lastFinal);
    const last = Math.min(lastFinal, first + ((this.options.maxMinutesPerPass ?? 60) - 1) * WINDOW_SECONDS);
    if (last >= first) {
      const byStart = new Map<number, WindowEvent[]>();
      for (const { key } of keys.filter((k) => k.newest >= first)) {
        for (const block of await minute.readRange([key], slotStartOf(first), slotStartOf(last))) {
          for (const w of decodeBlock(block).get('') ?? []) {
            if (w.windowStart < first || w.windowStart > last) continue;
            const final = windowEvent(w, key, w.windowStart, w.revision);
            // The partitions' VM counts, added by the merge (each tenant lives in one partition).
            if (w.vms !== undefined) {
              final.vms = w.vms;
              final.expectedVms = w.expectedVms ?? 0;
            }
            final.final = true;
            byStart.set(w.windowStart, [...(byStart.get(w.windowStart) ?? []), final]);
          }
        }
      }
      for (const ws of [...byStart.keys()].sort((a, b) => a - b)) for (const w of byStart.get(ws)!) told(w);
    }
    await versions.saveFinalTold('windows', version, last >= first ? Math.min(bound, last + WINDOW_SECONDS) : bound);
  }
}

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The oldest cross-tenant window start of any key up to `through` (read once, at a version's first pass); Infinity when none. */
async function oldestStart(minute: BlockTable, keys: readonly string[], through: number): Promise<number> {
  let oldest = Infinity;
  for (const key of keys) {
    const [block] = await minute.readRange([key], 0, slotStartOf(through));
    for (const w of block ? decodeBlock(block).get('') ?? [] : []) oldest = Math.min(oldest, w.windowStart);
  }
  return oldest;
}
