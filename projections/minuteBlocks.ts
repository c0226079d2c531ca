import type { DDSketch } from '@datadog/sketches-js';
import { windowEvent, type Aggregate, type WindowEvent, type WindowExtras, type WindowRecorder } from '../src/core/windowMath';
import type { StoredBlock } from '../src/core/ports';
import { Field, isClosed, MINUTES, Stride, encodeBlock, parseBlockData } from './blockCodec';
import { mergeSketchBytes, newSketch, sketchBytes } from './sketchCodec';
import { sketchAfter } from './sketchAfter';
import type { KeyPresence } from './KeyPresence';

export { decodeBlock, mergeBlocks, type MinuteWindow } from './decodeBlock';

/**
 * The minute-average projections, packed: one block holds SLOT_SECONDS of one partition's
 * windows (all counter keys of one VM, or one key across tenants). Far fewer entities than
 * windows, so the table sink does not dominate a replay, and "last N minutes" reads one
 * partition's consecutive rows.
 */
export const SLOT_SECONDS = MINUTES * 60;

export interface StoredWindow extends Aggregate {
  revision: number;
  /** Of a window of three values or more (see sketchAfter). */
  sketch?: DDSketch;
}

/** The VM counts a cross-tenant row holds per minute: fields of its row (see blockCodec.ts). */
export type FleetField = Field.VMS | Field.EXPECTED;

/** Cross-tenant averages are partitioned by key; per-VM averages by (tenant, vm) with the key inside. */
export type Grouping = 'minute' | 'vmMinute';

export function slotStartOf(windowStart: number): number {
  return Math.floor(windowStart / SLOT_SECONDS) * SLOT_SECONDS;
}

/** Orders strings by UTF-16 code units: the same everywhere, unlike localeCompare. */
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * One slot of one partition. Every field is set in the constructor, so that all blocks share one
 * shape (the fold's property lookups stay monomorphic).
 */
class Block {
  readonly series = new Map<string, Float64Array>();
  /** The row of sub-key '' (a cross-tenant block's), without a Map lookup. */
  crossRow: Float64Array | undefined = undefined;
  /** Sketches of the windows of three values or more, by sub-key, then by minute. */
  sketches: Map<string, (DDSketch | undefined)[]> | undefined = undefined;
  /** The sketches of sub-key '' (a cross-tenant block's), without a Map lookup: the fold adds every metric to one. */
  crossSketches: (DDSketch | undefined)[] | undefined = undefined;
  /** Open windows held in this block's rows: a block with any is never let go. */
  open = 0;
  /** Bit i set: minute i of the slot is listed in its OpenMinute. */
  listed = 0;
  /** In MinuteBlocks' dirty set (checked before adding: the fold marks a block for every metric). */
  dirty = false;
  constructor(readonly home: BlockPartition, readonly slot: number, public appliedThrough: number) {}
}

/**
 * The open windows of one window start (one grouping): the blocks holding them, and what a
 * restart needs (the earliest record that opened one, with the largest event time before it).
 */
interface OpenMinute {
  blocks: Block[];
  open: number;
  /** A lower bound of the open windows' last arrival times. */
  minArrivalMs: number;
  minPosition: number;
  maxEventTimeBefore: number;
}


/** One partition's blocks by slot start, and the newest window start of each sub-key (the catalog). */
export class BlockPartition {
  readonly slots = new Map<number, Block>();
  /**
   * The blocks of the last few slots used, by slot number modulo RECENT (a cache of `slots`): the
   * fold looks up several blocks for each metric, and a Map keyed by numbers past 2^30 costs it
   * more than the rest of its work on the metric.
   */
  private readonly recent: (Block | undefined)[] = new Array<Block | undefined>(RECENT);
  readonly newest = new Map<string, number>();
  /** Every slot from here on is in `slots` or has no block in the table (read as a range). */
  knownFrom = Infinity;
  /** A cross-tenant key's VMs by minute (the fold's, see KeyPresence); set here, so that every partition has one shape. */
  presence: KeyPresence | undefined = undefined;
  /** A dense number of a VM's partition (0, 1, 2… in order of first use), to index arrays by. */
  readonly id: number;
  constructor(readonly partition: readonly string[], id = 0) {
    this.id = id;
  }

  /** The block of `slot`, when held. */
  blockAt(slot: number): Block | undefined {
    const i = (slot / SLOT_SECONDS) & (RECENT - 1);
    const cached = this.recent[i];
    if (cached !== undefined && cached.slot === slot) return cached;
    const block = this.slots.get(slot);
    if (block !== undefined) this.recent[i] = block;
    return block;
  }

  /** Lets go of the block of `slot`. */
  drop(slot: number): void {
    const i = (slot / SLOT_SECONDS) & (RECENT - 1);
    if (this.recent[i]?.slot === slot) this.recent[i] = undefined;
    this.slots.delete(slot);
  }
}

/** Slots of a partition's block cache (a power of two). */
const RECENT = 16;
const NONE: readonly number[] = [];

function sketchesOf(block: Block, sub: string): (DDSketch | undefined)[] {
  if (sub === '' && block.crossSketches) return block.crossSketches;
  const all = (block.sketches ??= new Map());
  let list = all.get(sub);
  if (!list) all.set(sub, (list = []));
  if (sub === '') block.crossSketches = list;
  return list;
}

/**
 * In-memory state of one grouping's blocks: the recent ones (those late data may still
 * revise), loaded from the table on first use after a restart, written back when dirty.
 * Partitions are found through nested maps (key, or tenant then VM), never through joined
 * strings: the fold looks one up for every metric.
 */
export class MinuteBlocks {
  private readonly partitions = new Map<string, BlockPartition | Map<string, BlockPartition>>();
  private readonly dirty = new Set<Block>();
  private readonly catalogDirty = new Set<BlockPartition>();
  /** Open windows by window start. They live in the block rows (revision 0) until they close. */
  private readonly openMinutes = new Map<number, OpenMinute>();
  /** Clean blocks of slots ending by this were let go: even a complete state must read them back. */
  private evictedBefore = -Infinity;
  private count = 0;
  private vmPartitions = 0;
  /** Numbers per minute of a row: a cross-tenant row also holds VM counts. */
  private readonly fields: number;
  private readonly rows: RowPool;

  /** `complete`: the table holds nothing this state does not (a fresh rebuild), so nothing is ever loaded. */
  constructor(readonly grouping: Grouping, private readonly complete = false) {
    this.fields = grouping === 'minute' ? Stride.CROSS : Stride.VM;
    this.rows = new RowPool(this.fields);
  }

  /** The partition of a cross-tenant key (`b` undefined) or of a tenant's VM, created on demand. */
  partitionOf(a: string, b?: string): BlockPartition {
    if (b === undefined) {
      let p = this.partitions.get(a) as BlockPartition | undefined;
      if (!p) this.partitions.set(a, (p = new BlockPartition([a])));
      return p;
    }
    let vms = this.partitions.get(a) as Map<string, BlockPartition> | undefined;
    if (!vms) this.partitions.set(a, (vms = new Map()));
    let p = vms.get(b);
    if (!p) vms.set(b, (p = new BlockPartition([a, b], this.vmPartitions++)));
    return p;
  }

  private partitionFor(partition: readonly string[]): BlockPartition {
    return this.grouping === 'minute' ? this.partitionOf(partition[0]) : this.partitionOf(partition[0], partition[1]);
  }

  /** Whether `get` can answer for this block without loading it first. */
  isLoaded(partition: readonly string[], slot: number): boolean {
    return this.isLoadedIn(this.partitionFor(partition), slot);
  }

  /** Same as `isLoaded`, for a partition already in hand. */
  isLoadedIn(p: BlockPartition, slot: number): boolean {
    return p.slots.has(slot) || this.isKnownFrom(p, slot);
  }

  /** Whether every block of `p` from `slot` on is here or known to be absent (no table read needed). */
  isKnownFrom(p: BlockPartition, slot: number): boolean {
    return slot >= p.knownFrom || this.isKnownEverywhere(slot);
  }

  /**
   * Whether every partition's blocks from `slot` on are here or known to be absent: a complete
   * state's slots not let go yet. The fold asks before looking a metric's partitions up.
   */
  isKnownEverywhere(slot: number): boolean {
    return this.complete && slot + SLOT_SECONDS > this.evictedBefore;
  }

  /** Installs a block read from the table (or its absence), unless a newer one is already here. */
  load(partition: readonly string[], slot: number, stored: StoredBlock | undefined): void {
    const p = this.partitionFor(partition);
    if (p.slots.has(slot)) return;
    const block = new Block(p, slot, stored?.appliedThrough ?? -1);
    if (stored) {
      const fields = this.fields;
      for (const [sub, minutes] of parseBlockData(stored.data)) {
        const row = this.rowOf(block, sub);
        for (const m of minutes) {
          const o = m.minute * fields;
          row[o] = m.count;
          row[o + Field.SUM] = m.sum;
          row[o + Field.MIN] = m.min;
          row[o + Field.MAX] = m.max;
          row[o + Field.REVISION] = m.revision;
          if (fields === Stride.CROSS) {
            row[o + Field.VMS] = m.vms ?? 0;
            row[o + Field.EXPECTED] = m.expected ?? 0;
          }
          if (m.sketch) sketchesOf(block, sub)[m.minute] = mergeSketchBytes(newSketch(), m.sketch);
        }
      }
    }
    p.slots.set(slot, block);
    this.count++;
  }

  /**
   * Installs the blocks of a partition read as one range, from `fromSlot` on: from then on every
   * slot there is known (a slot without a block has none in the table).
   */
  loadFrom(partition: readonly string[], fromSlot: number, stored: readonly StoredBlock[]): void {
    const p = this.partitionFor(partition);
    for (const block of stored) if (block.row >= fromSlot) this.load(partition, block.row, block);
    if (fromSlot < p.knownFrom) p.knownFrom = fromSlot;
  }

  /** The stored window and the position its block reflects, or undefined when there is none. */
  get(partition: readonly string[], sub: string, windowStart: number): { window: StoredWindow; appliedThrough: number } | undefined {
    return this.getIn(this.partitionFor(partition), sub, windowStart);
  }

  getIn(p: BlockPartition, sub: string, windowStart: number): { window: StoredWindow; appliedThrough: number } | undefined {
    const slot = slotStartOf(windowStart);
    const block = p.blockAt(slot);
    const row = block === undefined ? undefined : sub === '' ? block.crossRow : block.series.get(sub);
    if (!block || !row) return undefined;
    const minute = (windowStart - slot) / 60;
    const o = minute * this.fields;
    if (!isClosed(row, o)) return undefined;
    const window: StoredWindow = { count: row[o], sum: row[o + Field.SUM], min: row[o + Field.MIN], max: row[o + Field.MAX], revision: row[o + Field.REVISION] };
    const sketch = block.sketches?.get(sub)?.[minute];
    if (sketch) window.sketch = sketch;
    return { window, appliedThrough: block.appliedThrough };
  }

  /** Folds one emitted window revision in (the projection's evolve step), VM counts and sketch included. */
  apply(event: WindowEvent): void {
    const p = this.grouping === 'minute' ? this.partitionOf(event.key) : this.partitionOf(event.tenant as string, event.vm as string);
    const agg: StoredWindow = { count: event.count, sum: event.sum, min: event.min, max: event.max, revision: event.revision };
    if (event.sketch) agg.sketch = mergeSketchBytes(newSketch(), event.sketch);
    this.applyIn(p, this.grouping === 'minute' ? '' : event.key, event.windowStart, agg, event.revision);
    if (this.fields === Stride.CROSS && event.vms !== undefined) this.setFleet(p, event.windowStart, event.vms, event.expectedVms ?? 0);
  }

  /**
   * `apply` for a partition already in hand: the window's aggregate and sketch (its VM counts are
   * the row's own, kept by `bump`).
   */
  applyIn(p: BlockPartition, sub: string, windowStart: number, agg: Aggregate & { sketch?: DDSketch }, revision: number): void {
    const slot = slotStartOf(windowStart);
    const block = this.blockOf(p, slot);
    const row = this.rowOf(block, sub);
    const minute = (windowStart - slot) / 60;
    const o = minute * this.fields;
    row[o] = agg.count;
    row[o + Field.SUM] = agg.sum;
    row[o + Field.MIN] = agg.min;
    row[o + Field.MAX] = agg.max;
    row[o + Field.REVISION] = revision;
    if (agg.sketch) sketchesOf(block, sub)[minute] = agg.sketch;
    else if (block.sketches?.get(sub)?.[minute]) block.sketches.get(sub)![minute] = undefined;
    this.written(block, sub, windowStart);
  }

  /**
   * Adds `delta` to a VM count of the cross-tenant minute `windowStart` of `p` (its block must be
   * loaded, or known absent); true when that minute is a closed window, which the caller revises.
   * An expected count of a minute without a closed window is written as such (see encodeBlock).
   */
  bump(p: BlockPartition, windowStart: number, field: FleetField, delta: number): boolean {
    const slot = slotStartOf(windowStart);
    const block = this.blockOf(p, slot);
    const row = this.rowOf(block, '');
    const o = ((windowStart - slot) / 60) * Stride.CROSS;
    row[o + field] += delta;
    if (isClosed(row, o)) return true;
    if (field === Field.EXPECTED) this.markDirty(block);
    return false;
  }

  /**
   * `bump` for the minutes after `after` up to `through` (a VM newly expected in up to an hour of
   * windows): one block lookup a slot. Returns the starts of those that are closed windows, which
   * the caller revises.
   */
  bumpRange(p: BlockPartition, after: number, through: number, field: FleetField): readonly number[] {
    // The common case, a VM that reported the minute before: one window, and no array to fill.
    if (through === after + 60) return this.bump(p, through, field, 1) ? [through] : NONE;
    const closed: number[] = [];
    for (let slot = slotStartOf(after + 60); slot <= through; slot += SLOT_SECONDS) {
      const block = this.blockOf(p, slot);
      const row = this.rowOf(block, '');
      let open = false;
      const last = Math.min(through, slot + SLOT_SECONDS - 60);
      for (let w = Math.max(after + 60, slot); w <= last; w += 60) {
        const o = ((w - slot) / 60) * Stride.CROSS;
        row[o + field] += 1;
        if (isClosed(row, o)) closed.push(w);
        else open = true;
      }
      if (open && field === Field.EXPECTED) this.markDirty(block);
    }
    return closed;
  }

  /**
   * Sets both VM counts of a cross-tenant minute (a recount after a restart, or an applied event),
   * its block loaded or known absent. Nothing is marked for writing: a recount only says again
   * what the log says (what it corrects, the log's records folded again correct in the table).
   */
  setFleet(p: BlockPartition, windowStart: number, vms: number, expected: number): void {
    const slot = slotStartOf(windowStart);
    const row = this.rowOf(this.blockOf(p, slot), '');
    const o = ((windowStart - slot) / 60) * Stride.CROSS;
    row[o + Field.VMS] = vms;
    row[o + Field.EXPECTED] = expected;
  }

  /** The VM counts of a cross-tenant minute: [vms, expected]. */
  fleetAt(p: BlockPartition, windowStart: number): [vms: number, expected: number] {
    const slot = slotStartOf(windowStart);
    const row = p.blockAt(slot)?.crossRow;
    if (!row) return [0, 0];
    const o = ((windowStart - slot) / 60) * Stride.CROSS;
    return [row[o + Field.VMS], row[o + Field.EXPECTED]];
  }

  /** The slot starts of `p`'s blocks held now. */
  slotsOf(p: BlockPartition): IterableIterator<number> {
    return p.slots.keys();
  }

  /** The partitions of every cross-tenant key (none of a per-VM grouping). */
  *keyPartitions(): IterableIterator<BlockPartition> {
    for (const entry of this.partitions.values()) if (entry instanceof BlockPartition) yield entry;
  }

  private rowOf(block: Block, sub: string): Float64Array {
    if (sub === '' && block.crossRow !== undefined) return block.crossRow;
    let row = block.series.get(sub);
    if (!row) block.series.set(sub, (row = this.rows.take()));
    if (sub === '') block.crossRow = row;
    return row;
  }

  private blockOf(p: BlockPartition, slot: number): Block {
    let block = p.blockAt(slot);
    if (!block) {
      p.slots.set(slot, (block = new Block(p, slot, -1)));
      this.count++;
    }
    return block;
  }

  private markDirty(block: Block): void {
    if (block.dirty) return;
    block.dirty = true;
    this.dirty.add(block);
  }

  /** A window of `block` got a new closed revision: the block is dirty, the catalog may move. */
  private written(block: Block, sub: string, windowStart: number): void {
    this.markDirty(block);
    const p = block.home;
    if (!(p.newest.get(sub)! >= windowStart)) {
      p.newest.set(sub, windowStart);
      this.catalogDirty.add(p);
    }
  }

  /**
   * Adds a value to the open window (sub, windowStart) of `p`, opening it when it has no data yet
   * and `mayOpen`, and `newVms` to its VM count (a cross-tenant window's). False when the window is
   * closed, or has no data and may not open: the caller then revises it (and counts the VM).
   * `position` and `maxEventTimeBefore` describe the record being folded.
   */
  addOpen(
    p: BlockPartition, sub: string, windowStart: number, value: number, nowMs: number,
    position: number, maxEventTimeBefore: number, mayOpen: boolean, newVms = 0,
  ): boolean {
    const slot = slotStartOf(windowStart);
    const block = p.blockAt(slot);
    const row = block === undefined ? undefined : sub === '' ? block.crossRow : block.series.get(sub);
    const minute = (windowStart - slot) / 60;
    const o = minute * this.fields;
    if (row !== undefined && row[o] !== 0) {
      if (row[o + Field.REVISION] !== 0) return false;
      const n = row[o];
      // From the third value on a window keeps a sketch (cross-tenant windows nearly always, a VM's rarely).
      if (n >= 2) {
        const sketches = sketchesOf(block!, sub);
        const sketch = sketches[minute];
        if (sketch) sketch.accept(value);
        else sketches[minute] = sketchAfter(n, row[o + Field.MIN], row[o + Field.MAX], undefined, value);
      }
      row[o] = n + 1;
      row[o + 1] += value;
      if (value < row[o + 2]) row[o + 2] = value;
      if (value > row[o + 3]) row[o + 3] = value;
      row[o + Field.LAST_ARRIVAL] = nowMs;
      if (newVms !== 0) row[o + Field.VMS] += newVms;
      return true;
    }
    if (!mayOpen) return false;
    const b = block ?? this.blockOf(p, slot);
    const r = row ?? this.rowOf(b, sub);
    r[o] = 1;
    r[o + 1] = value;
    r[o + 2] = value;
    r[o + 3] = value;
    r[o + Field.REVISION] = 0;
    r[o + Field.LAST_ARRIVAL] = nowMs;
    if (newVms !== 0) r[o + Field.VMS] += newVms;
    b.open++;
    let open = this.openMinutes.get(windowStart);
    if (!open) this.openMinutes.set(windowStart, (open = { blocks: [], open: 0, minArrivalMs: nowMs, minPosition: position, maxEventTimeBefore }));
    else if (nowMs < open.minArrivalMs) open.minArrivalMs = nowMs;
    open.open++;
    if (!(b.listed & (1 << minute))) {
      b.listed |= 1 << minute;
      open.blocks.push(b);
    }
    return true;
  }

  /** Window starts that have open windows, in no particular order. */
  openStarts(): IterableIterator<number> {
    return this.openMinutes.keys();
  }

  /** Number of open windows. */
  get openCount(): number {
    let n = 0;
    for (const open of this.openMinutes.values()) n += open.open;
    return n;
  }

  /** The earliest record an open window depends on, and the largest event time seen before it. */
  openSince(): { position: number; maxEventTimeBefore: number } {
    let position = Infinity;
    let maxEventTimeBefore = Infinity;
    for (const open of this.openMinutes.values()) {
      if (open.minPosition < position) position = open.minPosition;
      if (open.maxEventTimeBefore < maxEventTimeBefore) maxEventTimeBefore = open.maxEventTimeBefore;
    }
    return { position, maxEventTimeBefore };
  }

  /**
   * Closes the open windows of `windowStart` whose last arrival is at or before `idleBeforeMs`
   * (Infinity: all of them) as first revisions, each told to `out` when given (the key is the
   * partition's on cross-tenant blocks, the sub-key on a VM's). Returns how many closed.
   */
  closeMinute(windowStart: number, idleBeforeMs: number, out?: WindowRecorder, withSketches = false): number {
    const open = this.openMinutes.get(windowStart);
    if (!open || open.minArrivalMs > idleBeforeMs) return 0;
    const slot = slotStartOf(windowStart);
    const minute = (windowStart - slot) / 60;
    const o = minute * this.fields;
    const extras: WindowExtras = {};
    let n = 0;
    let minArrival = Infinity;
    const still: Block[] = [];
    for (const block of open.blocks) {
      let left = 0;
      for (const [sub, row] of block.series) {
        if (row[o] === 0 || row[o + Field.REVISION] !== 0) continue;
        if (row[o + Field.LAST_ARRIVAL] > idleBeforeMs) {
          left++;
          if (row[o + Field.LAST_ARRIVAL] < minArrival) minArrival = row[o + Field.LAST_ARRIVAL];
          continue;
        }
        row[o + Field.REVISION] = 1;
        row[o + Field.LAST_ARRIVAL] = 0;
        block.open--;
        n++;
        this.written(block, sub, windowStart);
        if (out) {
          const partition = block.home.partition;
          const sketch = withSketches && row[o] >= 3 ? block.sketches?.get(sub)?.[minute] : undefined;
          extras.sketch = sketch && sketchBytes(sketch);
          if (this.grouping === 'minute') {
            extras.vms = row[o + Field.VMS];
            extras.expectedVms = row[o + Field.EXPECTED];
            out.record(partition[0], undefined, undefined, windowStart, row[o], row[o + 1], row[o + 2], row[o + 3], 1, extras);
          } else out.record(sub, partition[0], partition[1], windowStart, row[o], row[o + 1], row[o + 2], row[o + 3], 1, extras);
        }
      }
      if (left > 0) still.push(block);
      else block.listed &= ~(1 << minute);
    }
    open.open -= n;
    if (open.open === 0) this.openMinutes.delete(windowStart);
    else {
      open.blocks = still;
      open.minArrivalMs = minArrival;
    }
    return n;
  }

  /** The slot starts of the blocks held (loaded or made), in no particular order. */
  slotsHeld(): Set<number> {
    const slots = new Set<number>();
    this.eachPartition((p) => {
      for (const slot of p.slots.keys()) slots.add(slot);
    });
    return slots;
  }

  /**
   * The closed windows of `windowStart` held, as final notices (`final: true`), in a fixed order
   * that depends on nothing but their ids: by key on cross-tenant blocks, by tenant, VM and key on
   * VMs' (strings compared by UTF-16 code units). Final notices are numbered in this order.
   */
  closedOf(windowStart: number): WindowEvent[] {
    const slot = slotStartOf(windowStart);
    const o = ((windowStart - slot) / 60) * this.fields;
    const out: WindowEvent[] = [];
    this.eachPartition((p) => {
      const block = p.slots.get(slot);
      if (!block) return;
      for (const [sub, row] of block.series) {
        if (!isClosed(row, o)) continue;
        const agg = { count: row[o], sum: row[o + Field.SUM], min: row[o + Field.MIN], max: row[o + Field.MAX] };
        const revision = row[o + Field.REVISION];
        const w = this.grouping === 'minute'
          ? windowEvent(agg, p.partition[0], windowStart, revision)
          : windowEvent(agg, sub, windowStart, revision, p.partition[0], p.partition[1]);
        if (this.fields === Stride.CROSS) {
          w.vms = row[o + Field.VMS];
          w.expectedVms = row[o + Field.EXPECTED];
        }
        w.final = true;
        out.push(w);
      }
    });
    return out.sort(this.grouping === 'minute' ? (a, b) => compareText(a.key, b.key) : (a, b) =>
      compareText(a.tenant!, b.tenant!) || compareText(a.vm!, b.vm!) || compareText(a.key, b.key));
  }

  /** The partitions that have a catalog entry (a newest window), e.g. as seeded from the table after a restart. */
  partitionsWithNewest(): BlockPartition[] {
    const out: BlockPartition[] = [];
    this.eachPartition((p) => {
      if (p.newest.size > 0) out.push(p);
    });
    return out;
  }

  private eachPartition(visit: (p: BlockPartition) => void): void {
    for (const entry of this.partitions.values()) {
      if (entry instanceof BlockPartition) visit(entry);
      else for (const p of entry.values()) visit(p);
    }
  }

  /** Partitions whose newest window moved since the last call (their catalog rows need writing). */
  takeCatalog(): BlockPartition[] {
    const out = [...this.catalogDirty];
    this.catalogDirty.clear();
    return out;
  }

  /** Restores a partition's catalog entry read back after a restart (newer windows still win). */
  seedCatalog(partition: readonly string[], newest: Iterable<readonly [sub: string, windowStart: number]>): void {
    const p = this.partitionFor(partition);
    for (const [sub, ws] of newest) if (!(p.newest.get(sub)! >= ws)) p.newest.set(sub, ws);
  }

  /** The partitions of one tenant's VMs (per-VM blocks), each with its catalog entry; none for a cross-tenant key. */
  vmPartitionsOf(tenant: string): BlockPartition[] {
    const vms = this.partitions.get(tenant);
    return vms instanceof Map ? [...vms.values()] : [];
  }

  /**
   * The dirty blocks as table rows, marked as reflecting the log through `appliedThrough`; clears
   * their dirty marks. With `endedBy`, only the blocks whose slot ended by then.
   */
  takeDirty(appliedThrough: number, endedBy = Infinity): StoredBlock[] {
    const out: StoredBlock[] = [];
    for (const block of this.dirty) {
      if (block.slot + SLOT_SECONDS > endedBy) continue;
      // Never lowered: a fold resumed from before a write it made (its checkpoint failed) holds the block as
      // written, its closed windows through the higher position, and skips those records' values again.
      if (appliedThrough > block.appliedThrough) block.appliedThrough = appliedThrough;
      out.push({ partition: block.home.partition, row: block.slot, data: encodeBlock(block.series, this.fields, block.sketches), appliedThrough: block.appliedThrough });
      this.dirty.delete(block);
      block.dirty = false;
    }
    return out;
  }

  /**
   * Forgets clean blocks whose slot ended at or before `before`: those no data can revise any
   * more, or (in a rebuild) those just written, which late data then reads back from the table.
   */
  evict(before: number): void {
    if (before > this.evictedBefore) this.evictedBefore = before;
    const evictIn = (p: BlockPartition): void => {
      // A slot let go is no longer known to be here: it is read back from the table when wanted.
      if (p.knownFrom < before) p.knownFrom = before;
      for (const [slot, block] of p.slots) {
        if (!block.dirty && block.open === 0 && slot + SLOT_SECONDS <= before) {
          p.drop(slot);
          this.rows.give(block.series.values());
          this.count--;
        }
      }
    };
    // Partitions stay (one per key or VM, so bounded by the fleet): open windows hold on to them.
    for (const entry of this.partitions.values()) {
      if (entry instanceof BlockPartition) evictIn(entry);
      else for (const p of entry.values()) evictIn(p);
    }
  }

  get size(): number {
    return this.count;
  }
}

/**
 * Rows (one sub-key's windows in one block, all the same size) carved from large buffers and
 * reused once their blocks are let go: a rebuild allocates no row per VM, key and slot, and the
 * memory of the rows stays at what the busiest moment needed, without fragmenting the heap.
 */
class RowPool {
  private static readonly ROWS_PER_SLAB = 1024;
  private readonly free: Float64Array[] = [];
  private slab?: ArrayBuffer;
  private carved = 0;
  private readonly rowBytes: number;

  constructor(private readonly fields: number) {
    this.rowBytes = MINUTES * fields * Float64Array.BYTES_PER_ELEMENT;
  }

  take(): Float64Array {
    const reused = this.free.pop();
    if (reused) return reused.fill(0);
    if (!this.slab || this.carved === RowPool.ROWS_PER_SLAB) {
      this.slab = new ArrayBuffer(RowPool.ROWS_PER_SLAB * this.rowBytes);
      this.carved = 0;
    }
    return new Float64Array(this.slab, this.rowBytes * this.carved++, MINUTES * this.fields);
  }

  /** Rows no one refers to any more. */
  give(rows: Iterable<Float64Array>): void {
    for (const row of rows) this.free.push(row);
  }
}
