import { setImmediate as nextTurn } from 'node:timers/promises';
import type { WindowEvent } from '../src/core/windowMath';
import type { MinuteWindow } from './minuteBlocks';
import { SeriesRing } from './SeriesRing';
import type { TableWindowReads } from './TableWindowReads';
import { FleetFigures, type TopBy, type TopVm } from './topVms';
import { VmColumns } from './VmColumns';
import { rangeFrom, type WindowReads } from './WindowReads';

export interface RecentWindowsOptions {
  /** Where what is not held is read, and where a key's recent windows are read from once. */
  tables: TableWindowReads;
  /** The active windows version: a switch empties the cache (the new version's tables are read again). */
  version: () => number;
  /** How many minutes of each key's cross-tenant windows are held, back from its newest; 0: none (read from the tables). */
  crossMinutes: number;
  /** How many minutes of each key's per-VM windows are held, back from its newest; 0: none. */
  vmMinutes: number;
  /** Told when a background read of a key's per-VM windows failed (the next read tries again). */
  onError?: (error: unknown) => void;
}

/** A key's cross-tenant windows. */
interface CrossSeries {
  ring: SeriesRing;
  newest: number;
  /** Changes with every change of what is held (see `crossTenantStamp`). */
  stamp: number;
  /** The tables' windows of the span were read in: from here on the ring holds every window of its span. */
  filled: boolean;
  filling?: Promise<void>;
}

/** A key's per-VM windows. */
interface KeyVms {
  columns: VmColumns;
  filled: boolean;
  filling?: Promise<void>;
  /** Counts every change of what is held: a ranking computed at one generation holds until the next. */
  generation: number;
  /** The last rankings, by range, `by` and `n`, with the generation they were computed at. */
  ranked: Map<string, { generation: number; top: TopVm[] }>;
}

/** The last stamp given: stamps never repeat, across keys and versions. */
let stamps = 0;

/** Windows read in from the tables between two turns of the event loop (~5 ms of work). */
const FILL_WINDOWS_A_TURN = 4000;

/** Rankings remembered per key (a dashboard's few ranges): beyond, all are forgotten. */
const MAX_RANKINGS = 16;

/** What is held of one windows version. */
class VersionState {
  readonly cross = new Map<string, CrossSeries>();
  readonly perVm = new Map<string, KeyVms>();
  /** Each key's newest cross-tenant window as the catalog said when first asked (windows since come as events). */
  keyNewest?: Promise<Map<string, number>>;
  constructor(readonly version: number) {}
}

/** How many reads were answered from memory and how many from the tables. */
export interface RecentWindowsStats {
  memory: number;
  tables: number;
}

/**
 * A read-through cache of the recent windows, kept current by the fold: every window revision the
 * projector emits (the host's `windows$`) replaces what is held of that window, so a read of a
 * recent range needs no Table Storage round trip. What it holds of a key, it holds whole:
 * - every window revision since the cache began is applied as it is emitted (each carries the
 *   window's whole aggregate, so the last one seen is the window's value);
 * - the first read of a key reads the tables' windows of the span once (cross-tenant: that key's
 *   blocks; per-VM: the blocks of every VM the catalog lists for the key) and keeps each one no
 *   event has replaced: a window the tables hold and no event since names was written before the
 *   cache began (it subscribes before the projector starts), so the tables' copy is its value.
 * A range older than the span, or a key not read in yet, is read from the tables. The cache may
 * be ahead of the tables by a flush (it sees windows when they close, the tables when they are
 * written), never behind. One version at a time: when the active version changes, all is dropped.
 *
 * Only where one process folds the whole log (the file log): on Event Hubs an instance sees the
 * windows of the partitions it owns, not the others'.
 */
export class RecentWindows implements WindowReads {
  readonly stats: RecentWindowsStats = { memory: 0, tables: 0 };
  private state?: VersionState;

  constructor(private readonly options: RecentWindowsOptions) {}

  /** Takes one emitted window revision in (cheap: it runs inside the fold, for every window). */
  apply(w: WindowEvent): void {
    const state = this.current();
    if (w.tenant === undefined) {
      if (this.options.crossMinutes === 0) return;
      const series = this.crossOf(state, w.key);
      if (w.windowStart > series.newest) series.newest = w.windowStart;
      if (w.windowStart >= this.crossBoundary(series)) series.ring.set(w);
      series.stamp = ++stamps;
    } else {
      if (this.options.vmMinutes === 0) return;
      const vms = this.vmsOf(state, w.key);
      vms.columns.set(w.tenant, w.vm as string, w.windowStart, w.count, w.sum, w.min, w.max, w.revision, w.sketch);
      vms.generation++;
    }
  }

  async newestOfKey(key: string): Promise<number | undefined> {
    if (this.options.crossMinutes === 0) return this.options.tables.newestOfKey(key);
    const state = this.current();
    const fromCatalog = (await this.keyNewest(state)).get(key) ?? -Infinity;
    const newest = Math.max(fromCatalog, state.cross.get(key)?.newest ?? -Infinity);
    return Number.isFinite(newest) ? newest : undefined;
  }

  async crossTenant(key: string, end: number, minutes: number): Promise<MinuteWindow[]> {
    const from = rangeFrom(end, minutes);
    if (this.options.crossMinutes > 0) {
      const state = this.current();
      if (!(await this.known(state, key))) {
        this.stats.memory++;
        return [];
      }
      const series = this.crossOf(state, key);
      if (!series.filled) await (series.filling ??= this.fillCross(state, key, series));
      if (from >= this.crossBoundary(series)) {
        this.stats.memory++;
        return series.ring.windows(from, end);
      }
    }
    this.stats.tables++;
    return this.options.tables.crossTenant(key, end, minutes);
  }

  /**
   * While `crossTenant(key, end, minutes)` is answered from memory: a number that stays the same
   * exactly as long as that answer does (a window applied, the span read in or the version changed
   * gives another, never one given before); undefined when the range would be read from the tables.
   */
  crossTenantStamp(key: string, end: number, minutes: number): number | undefined {
    if (this.options.crossMinutes === 0) return undefined;
    const series = this.current().cross.get(key);
    if (series === undefined || !series.filled || rangeFrom(end, minutes) < this.crossBoundary(series)) return undefined;
    return series.stamp;
  }

  async newestOfVm(tenant: string, vm: string, key: string): Promise<number | undefined> {
    const vms = await this.filledVms(key);
    const newest = vms?.columns.newestOfVm(tenant, vm) ?? -Infinity;
    // A VM that has no window in the span is not held: the catalog knows where it ends.
    if (vms && newest >= vms.columns.boundary) return newest;
    return this.options.tables.newestOfVm(tenant, vm, key);
  }

  async perVm(tenant: string, vm: string, key: string, end: number, minutes: number): Promise<MinuteWindow[]> {
    const from = rangeFrom(end, minutes);
    const vms = await this.filledVms(key);
    if (vms && from >= vms.columns.boundary) {
      this.stats.memory++;
      const id = vms.columns.find(tenant, vm);
      return id === undefined ? [] : vms.columns.windowsOf(id, from, end);
    }
    this.stats.tables++;
    return this.options.tables.perVm(tenant, vm, key, end, minutes);
  }

  async top(key: string, end: number, minutes: number, by: TopBy, n: number): Promise<TopVm[]> {
    const from = rangeFrom(end, minutes);
    if (this.options.vmMinutes > 0) {
      const state = this.current();
      if (!(await this.known(state, key))) {
        this.stats.memory++;
        return [];
      }
      const vms = this.vmsOf(state, key);
      if (!vms.filled) await (vms.filling ??= this.fillVms(state, key, vms));
      const columns = vms.columns;
      if (from >= columns.boundary) {
        this.stats.memory++;
        // Many clients ask for the same ranking between two changes of the key's windows: computed once.
        const id = `${end}/${minutes}/${by}/${n}`;
        const known = vms.ranked.get(id);
        if (known?.generation === vms.generation) return known.top;
        const figures = new FleetFigures(by);
        columns.addTo(figures, from, end);
        const top = figures.top(n, (i) => columns.tenantOf(i), (i) => columns.vmOf(i));
        if (vms.ranked.size >= MAX_RANKINGS) vms.ranked.clear();
        vms.ranked.set(id, { generation: vms.generation, top });
        return top;
      }
    }
    this.stats.tables++;
    return this.options.tables.top(key, end, minutes, by, n);
  }

  /** The state of the active version, a new one when it changed. */
  private current(): VersionState {
    const version = this.options.version();
    if (this.state?.version !== version) this.state = new VersionState(version);
    return this.state;
  }

  private crossOf(state: VersionState, key: string): CrossSeries {
    let series = state.cross.get(key);
    if (!series) state.cross.set(key, (series = { ring: new SeriesRing(this.options.crossMinutes), newest: -Infinity, filled: false, stamp: ++stamps }));
    return series;
  }

  private vmsOf(state: VersionState, key: string): KeyVms {
    let vms = state.perVm.get(key);
    if (!vms) state.perVm.set(key, (vms = { columns: new VmColumns(this.options.vmMinutes), filled: false, generation: 0, ranked: new Map() }));
    return vms;
  }

  /**
   * The key's per-VM windows when they are read in; else undefined, and they are read in the
   * background for the next read (one VM's chart need not wait for the whole fleet's blocks).
   */
  private async filledVms(key: string): Promise<KeyVms | undefined> {
    if (this.options.vmMinutes === 0) return undefined;
    const state = this.current();
    if (!(await this.known(state, key))) return undefined;
    const vms = this.vmsOf(state, key);
    if (vms.filled) return vms;
    if (!vms.filling) {
      vms.filling = this.fillVms(state, key, vms);
      vms.filling.catch((error: unknown) => this.options.onError?.(error));
    }
    return undefined;
  }

  /**
   * Whether the key has windows at all: events brought some, or the catalog (as read once) lists it.
   * A key that has none is not given room, so that reads of made-up keys cost no memory.
   */
  private async known(state: VersionState, key: string): Promise<boolean> {
    return state.cross.has(key) || state.perVm.has(key) || (await this.keyNewest(state)).has(key);
  }

  private crossBoundary(series: CrossSeries): number {
    return series.newest - (this.options.crossMinutes - 1) * 60;
  }

  private keyNewest(state: VersionState): Promise<Map<string, number>> {
    if (!state.keyNewest) {
      state.keyNewest = this.options.tables.keyCatalog();
      state.keyNewest.catch(() => (state.keyNewest = undefined)); // asked again next time
    }
    return state.keyNewest;
  }

  /** Reads the tables' cross-tenant windows of the key's span in, under what events brought since. */
  private async fillCross(state: VersionState, key: string, series: CrossSeries): Promise<void> {
    try {
      const newest = Math.max((await this.keyNewest(state)).get(key) ?? -Infinity, series.newest);
      if (newest > series.newest) series.newest = newest;
      if (Number.isFinite(newest)) {
        const windows = await this.options.tables.crossTenant(key, newest, this.options.crossMinutes);
        for (const w of windows) {
          // Events may have moved the span on meanwhile.
          if (w.windowStart >= this.crossBoundary(series) && !series.ring.has(w.windowStart)) {
            series.ring.set(w);
          }
        }
      }
      series.filled = true;
      series.stamp = ++stamps;
    } finally {
      series.filling = undefined;
    }
  }

  /** Reads the tables' per-VM windows of the key's span in (every VM the catalog lists for it), under what events brought since. */
  private async fillVms(state: VersionState, key: string, vms: KeyVms): Promise<void> {
    try {
      const columns = vms.columns;
      const catalog = await this.options.tables.vmCatalog();
      for (const tenantVms of catalog.values()) {
        for (const newest of tenantVms.values()) {
          const n = newest.get(key);
          if (n !== undefined && n > columns.newest) columns.newest = n;
        }
      }
      if (Number.isFinite(columns.newest)) {
        let held = 0;
        for (const { tenant, vm, newest, windows } of await this.options.tables.vmWindowsOfKey(key, columns.boundary, Infinity, catalog)) {
          columns.noteNewest(tenant, vm, newest);
          for (const w of windows) {
            if (!columns.has(tenant, vm, w.windowStart)) columns.set(tenant, vm, w.windowStart, w.count, w.sum, w.min, w.max, w.revision, w.sketch);
          }
          // A fleet's span is some 150,000 windows a key (~200 ms): taken in turns, so reads answered
          // from memory meanwhile are not held up. Events applied in between are newer than the tables'.
          if ((held += windows.length) >= FILL_WINDOWS_A_TURN) {
            held = 0;
            await nextTurn();
          }
        }
      }
      vms.generation++;
      vms.filled = true;
    } finally {
      vms.filling = undefined;
    }
  }
}
