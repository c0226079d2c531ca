import type { DDSketch } from '@datadog/sketches-js';
import { windowEvent, type Aggregate, type WindowEvent, type WindowExtras, type WindowRecorder } from '../src/core/windowMath';
import type { StoredBlock } from '../src/core/ports';
import { Field, isClosed, MINUTES, Stride, encodeColumns, encodeColumnsBytes, parseBlockData, type BlockBytes } from './blockCodec';
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

/** A block taken to be written, its data still bytes (see takeDirtyBytes and blockText). */
export type BlockOfBytes = Omit<StoredBlock, 'data'> & { data: BlockBytes };

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
 *
 * Its windows are a row per minute of the slot, made when the minute's first window is written:
 * the window of the partition's sub-key column c (see BlockPartition.subs) in minute i starts at
 * `c * fields` of `minutes[i]`. A record brings a VM's keys of one minute together, and they land
 * side by side (a row per sub-key, an earlier layout, put each metric of a record 720 bytes from
 * the last). A minute's row is made only when data comes for it, and the rows of blocks let go are
 * reused: a rebuild's fold holds the minutes since the last slot it wrote, not two whole slots
 * (the fold's process at 2M metrics 207-216 → 165 MB; its time did not move measurably). A
 * cross-tenant block has one column.
 */
class Block {
  /** By minute of the slot: `columns` × fields numbers, zero where a sub-key has no window; undefined: none yet. */
  readonly minutes: (Float64Array | undefined)[] = new Array<Float64Array | undefined>(MINUTES).fill(undefined);
  constructor(
    readonly home: BlockPartition, readonly slot: number, public appliedThrough: number,
    /** Sub-key columns the rows have room for (the partition's may have grown since). */
    public columns: number,
  ) {}
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


/** One partition's blocks by slot start, its sub-keys' columns, and the newest window start of each sub-key (the catalog). */
export class BlockPartition {
  readonly slots = new Map<number, Block>();
  /**
   * The blocks of the last few slots used, by slot number modulo RECENT (a cache of `slots`): the
   * fold looks up several blocks for each metric, and a Map keyed by numbers past 2^30 costs it
   * more than the rest of its work on the metric.
   */
  private readonly recent: (Block | undefined)[] = new Array<Block | undefined>(RECENT);
  /** The sub-keys of the partition's blocks, by column (every block of the partition shares them); a cross-tenant key's is ''. */
  readonly subs: string[] = [];
  /**
   * Column of each sub-key in `subs`, made only once a partition has more than SCANNED_COLUMNS of
   * them: a VM's keys come in the order of its columns (see nextColumn) and a few dozen are found
   * by a scan at once, and a Map per VM partition (some 1 KB each) made the fold's first minute
   * build and promote one for each of the fleet's VMs.
   */
  private columnMap: Map<string, number> | undefined = undefined;
  /**
   * The newest closed window start of each column's sub-key (-Infinity: none yet): the fold closes a
   * window for nearly every metric, and a Map lookup and update each cost it more than the rest of closing.
   */
  readonly newestAt: number[] = [];
  /** In MinuteBlocks' catalogDirty set (checked before adding, as `dirty` for blocks). */
  catalogDirty = false;
  /** The column after the last one looked up: a VM's keys come in the same order minute after minute. */
  nextColumn = 0;
  /** Every slot from here on is in `slots` or has no block in the table (read as a range). */
  knownFrom = Infinity;
  /** A cross-tenant key's VMs by minute (the fold's, see KeyPresence); set here, so that every partition has one shape. */
  presence: KeyPresence | undefined = undefined;
  /**
   * A cross-tenant key's VMs newly expected in the windows (expectFrom, expectTo] by the record being
   * folded (or one that failed part way, counted as the next begins), not yet counted in its rows (see
   * WindowFolder.add): 0 when none.
   */
  expectCount = 0;
  expectFrom = 0;
  expectTo = 0;
  /** A dense number of a VM's partition (0, 1, 2… in order of first use), to index arrays by. */
  readonly id: number;
  constructor(readonly partition: readonly string[], id = 0) {
    this.id = id;
  }

  /** The column of `sub`, if the partition has one. */
  columnOf(sub: string): number | undefined {
    const guess = this.nextColumn;
    if (this.subs[guess] === sub) return guess;
    if (this.columnMap !== undefined) return this.columnMap.get(sub);
    const c = this.subs.indexOf(sub);
    return c < 0 ? undefined : c;
  }

  /** Gives `sub` the next column (it has none yet). */
  addSub(sub: string): number {
    const c = this.subs.length;
    this.subs.push(sub);
    this.newestAt.push(-Infinity);
    if (this.columnMap !== undefined) this.columnMap.set(sub, c);
    else if (c >= SCANNED_COLUMNS) this.columnMap = new Map(this.subs.map((s, i) => [s, i]));
    return c;
  }

  /** Each sub-key's newest closed window start (the catalog's entry for the partition), of those that have one. */
  get newest(): Map<string, number> {
    const out = new Map<string, number>();
    for (let c = 0; c < this.subs.length; c++) if (this.newestAt[c] > -Infinity) out.set(this.subs[c], this.newestAt[c]);
    return out;
  }

  /** Whether any sub-key has a newest window. */
  hasNewest(): boolean {
    return this.newestAt.some((ws) => ws > -Infinity);
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

/** Columns of the first VM's first block (it widens, doubling, as its keys come). */
const FIRST_COLUMNS = 8;
/** A VM with hundreds of counters does not make every later VM's first block that wide. */
const MAX_USUAL_COLUMNS = 64;

/** Slots of a partition's block cache (a power of two). */
const RECENT = 16;
/** Sub-keys a partition finds by a scan of its columns; past this many it keeps a Map of them. */
const SCANNED_COLUMNS = 32;
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
  /** The OpenMinute last opened a window in, and its start (nearly every metric opens a VM's window in the same minute as the last). */
  private lastOpen: OpenMinute | undefined = undefined;
  private lastOpenStart = NaN;
  /** Clean blocks of slots ending by this were let go: even a complete state must read them back. */
  private evictedBefore = -Infinity;
  private count = 0;
  private vmPartitions = 0;
  /** Numbers per minute of a row: a cross-tenant row also holds VM counts. */
  private readonly fields: number;
  private readonly rows: RowPool;
  /** Columns a VM's first block starts with: the most sub-keys a VM has had (at most MAX_USUAL_COLUMNS). */
  private usualColumns = FIRST_COLUMNS;

  /** `complete`: the table holds nothing this state does not (a fresh rebuild), so nothing is ever loaded. */
  constructor(readonly grouping: Grouping, private readonly complete = false) {
    this.fields = grouping === 'minute' ? Stride.CROSS : Stride.VM;
    this.rows = new RowPool(this.fields);
  }

  /** The partition of a cross-tenant key (`b` undefined) or of a tenant's VM, created on demand. */
  partitionOf(a: string, b?: string): BlockPartition {
    if (b === undefined) {
      let p = this.partitions.get(a) as BlockPartition | undefined;
      if (!p) {
        this.partitions.set(a, (p = new BlockPartition([a])));
        this.addColumn(p, '');
      }
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
    const block = this.newBlock(p, slot, stored?.appliedThrough ?? -1);
    if (stored) {
      const fields = this.fields;
      for (const [sub, minutes] of parseBlockData(stored.data)) {
        const c = this.columnIn(block, sub);
        for (const m of minutes) {
          const row = this.rowOf(block, m.minute);
          const o = c * fields;
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
    const c = block === undefined ? undefined : this.columnAt(block, sub);
    if (block === undefined || c === undefined) return undefined;
    const minute = (windowStart - slot) / 60;
    const row = block.minutes[minute];
    const o = c * this.fields;
    if (row === undefined || !isClosed(row, o)) return undefined;
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
    const c = this.columnIn(block, sub);
    const minute = (windowStart - slot) / 60;
    const row = this.rowOf(block, minute);
    const o = c * this.fields;
    row[o] = agg.count;
    row[o + Field.SUM] = agg.sum;
    row[o + Field.MIN] = agg.min;
    row[o + Field.MAX] = agg.max;
    row[o + Field.REVISION] = revision;
    if (agg.sketch) sketchesOf(block, sub)[minute] = agg.sketch;
    else if (block.sketches?.get(sub)?.[minute]) block.sketches.get(sub)![minute] = undefined;
    this.written(block, c, windowStart);
  }

  /**
   * Adds `delta` to a VM count of the cross-tenant minute `windowStart` of `p` (its block must be
   * loaded, or known absent); true when that minute is a closed window, which the caller revises.
   * An expected count of a minute without a closed window is written as such (see encodeBlock).
   */
  bump(p: BlockPartition, windowStart: number, field: FleetField, delta: number): boolean {
    const slot = slotStartOf(windowStart);
    const block = this.blockOf(p, slot);
    const row = this.rowOf(block, (windowStart - slot) / 60); // a cross-tenant block: one column
    row[field] += delta;
    if (isClosed(row, 0)) return true;
    if (field === Field.EXPECTED) this.markDirty(block);
    return false;
  }

  /**
   * `bump` by `delta` for the minutes after `after` up to `through` (`delta` VMs newly expected in up
   * to an hour of windows): one block lookup a slot. Returns the starts of those that are closed windows, which
   * the caller revises.
   */
  bumpRange(p: BlockPartition, after: number, through: number, field: FleetField, delta = 1): readonly number[] {
    // The common case, a VM that reported the minute before: one window, and no array to fill.
    if (through === after + 60) return this.bump(p, through, field, delta) ? [through] : NONE;
    const closed: number[] = [];
    for (let slot = slotStartOf(after + 60); slot <= through; slot += SLOT_SECONDS) {
      const block = this.blockOf(p, slot);
      let open = false;
      const last = Math.min(through, slot + SLOT_SECONDS - 60);
      for (let w = Math.max(after + 60, slot); w <= last; w += 60) {
        const row = this.rowOf(block, (w - slot) / 60);
        row[field] += delta;
        if (isClosed(row, 0)) closed.push(w);
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
    const row = this.rowOf(this.blockOf(p, slot), (windowStart - slot) / 60);
    row[Field.VMS] = vms;
    row[Field.EXPECTED] = expected;
  }

  /** The VM counts of a cross-tenant minute: [vms, expected]. */
  fleetAt(p: BlockPartition, windowStart: number): [vms: number, expected: number] {
    const slot = slotStartOf(windowStart);
    const row = p.blockAt(slot)?.minutes[(windowStart - slot) / 60];
    if (!row) return [0, 0];
    return [row[Field.VMS], row[Field.EXPECTED]];
  }

  /** The slot starts of `p`'s blocks held now. */
  slotsOf(p: BlockPartition): IterableIterator<number> {
    return p.slots.keys();
  }

  /** The partitions of every cross-tenant key (none of a per-VM grouping). */
  *keyPartitions(): IterableIterator<BlockPartition> {
    for (const entry of this.partitions.values()) if (entry instanceof BlockPartition) yield entry;
  }

  /** `sub`'s column in `block`, or undefined when the block has none (a cross-tenant block's only column is ''). */
  private columnAt(block: Block, sub: string): number | undefined {
    if (this.fields === Stride.CROSS) return sub === '' ? 0 : undefined;
    const p = block.home;
    const c = p.columnOf(sub);
    if (c === undefined) return undefined;
    p.nextColumn = c + 1 < p.subs.length ? c + 1 : 0;
    return c < block.columns ? c : undefined;
  }

  /** `sub`'s column in `block`, made when the partition has none yet and the block widened to hold it. */
  private columnIn(block: Block, sub: string): number {
    if (this.fields === Stride.CROSS) {
      if (sub !== '') throw new Error(`a cross-tenant block has no sub-key "${sub}"`);
      return 0;
    }
    const c = block.home.columnOf(sub) ?? this.addColumn(block.home, sub);
    if (c >= block.columns) this.widen(block, c + 1);
    return c;
  }

  /** Gives `sub` the partition's next column (blocks widen to it as they need it). */
  private addColumn(p: BlockPartition, sub: string): number {
    const c = p.addSub(sub);
    if (c >= this.usualColumns && c < MAX_USUAL_COLUMNS) this.usualColumns = c + 1;
    return c;
  }

  /** Moves `block`'s rows into rows of at least `columns` columns (a VM's first block meets its keys one by one). */
  private widen(block: Block, columns: number): void {
    const wider = Math.max(columns, block.columns * 2, block.home.subs.length);
    for (let i = 0; i < MINUTES; i++) {
      const from = block.minutes[i];
      if (from === undefined) continue;
      const row = this.rows.take(wider);
      row.set(from);
      this.rows.give(from);
      block.minutes[i] = row;
    }
    block.columns = wider;
  }

  /** Minute `minute`'s row of `block`, made (zeroed) when it has none yet. */
  private rowOf(block: Block, minute: number): Float64Array {
    return block.minutes[minute] ?? (block.minutes[minute] = this.rows.take(block.columns));
  }

  private newBlock(p: BlockPartition, slot: number, appliedThrough: number): Block {
    // A VM's first block: room for as many keys as the VMs before it had (a fleet's VMs report much the same counters).
    const columns = this.fields === Stride.CROSS ? 1 : Math.max(this.usualColumns, p.subs.length);
    return new Block(p, slot, appliedThrough, columns);
  }

  private blockOf(p: BlockPartition, slot: number): Block {
    let block = p.blockAt(slot);
    if (!block) {
      p.slots.set(slot, (block = this.newBlock(p, slot, -1)));
      this.count++;
    }
    return block;
  }

  private markDirty(block: Block): void {
    if (block.dirty) return;
    block.dirty = true;
    this.dirty.add(block);
  }

  /** A window of `block` (column `c`) got a new closed revision: the block is dirty, the catalog may move. */
  private written(block: Block, c: number, windowStart: number): void {
    this.markDirty(block);
    const p = block.home;
    if (!(p.newestAt[c] >= windowStart)) {
      p.newestAt[c] = windowStart;
      if (!p.catalogDirty) {
        p.catalogDirty = true;
        this.catalogDirty.add(p);
      }
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
    const minute = (windowStart - slot) / 60;
    const c = block === undefined ? undefined : this.columnAt(block, sub);
    const row = c === undefined ? undefined : block!.minutes[minute];
    const o = c === undefined ? 0 : c * this.fields;
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
    const col = c ?? this.columnIn(b, sub);
    const r = row ?? this.rowOf(b, minute);
    const at = col * this.fields;
    r[at] = 1;
    r[at + 1] = value;
    r[at + 2] = value;
    r[at + 3] = value;
    r[at + Field.REVISION] = 0;
    r[at + Field.LAST_ARRIVAL] = nowMs;
    if (newVms !== 0) r[at + Field.VMS] += newVms;
    b.open++;
    let open = windowStart === this.lastOpenStart ? this.lastOpen : this.openMinutes.get(windowStart);
    if (!open) this.openMinutes.set(windowStart, (open = { blocks: [], open: 0, minArrivalMs: nowMs, minPosition: position, maxEventTimeBefore }));
    else if (nowMs < open.minArrivalMs) open.minArrivalMs = nowMs;
    this.lastOpen = open;
    this.lastOpenStart = windowStart;
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
    const fields = this.fields;
    const extras: WindowExtras = {};
    let n = 0;
    let minArrival = Infinity;
    const still: Block[] = [];
    for (const block of open.blocks) {
      let left = 0;
      const row = block.minutes[minute]!; // listed: it holds an open window
      const subs = block.home.subs;
      const columns = Math.min(block.columns, subs.length);
      for (let c = 0, o = 0; c < columns; c++, o += fields) {
        if (row[o] === 0 || row[o + Field.REVISION] !== 0) continue;
        const sub = subs[c];
        if (row[o + Field.LAST_ARRIVAL] > idleBeforeMs) {
          left++;
          if (row[o + Field.LAST_ARRIVAL] < minArrival) minArrival = row[o + Field.LAST_ARRIVAL];
          continue;
        }
        row[o + Field.REVISION] = 1;
        row[o + Field.LAST_ARRIVAL] = 0;
        block.open--;
        n++;
        this.written(block, c, windowStart);
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
    if (open.open === 0) {
      this.openMinutes.delete(windowStart);
      if (this.lastOpen === open) this.lastOpenStart = NaN;
    } else {
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
    const minute = (windowStart - slot) / 60;
    const out: WindowEvent[] = [];
    this.eachPartition((p) => {
      const block = p.slots.get(slot);
      const row = block?.minutes[minute];
      if (!block || !row) return;
      const columns = Math.min(block.columns, p.subs.length);
      for (let c = 0; c < columns; c++) {
        const o = c * this.fields;
        if (!isClosed(row, o)) continue;
        const sub = p.subs[c];
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
      if (p.hasNewest()) out.push(p);
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
    for (const p of out) p.catalogDirty = false;
    this.catalogDirty.clear();
    return out;
  }

  /** Restores a partition's catalog entry read back after a restart (newer windows still win). */
  seedCatalog(partition: readonly string[], newest: Iterable<readonly [sub: string, windowStart: number]>): void {
    const p = this.partitionFor(partition);
    for (const [sub, ws] of newest) {
      const c = p.columnOf(sub) ?? this.addColumn(p, sub);
      if (!(p.newestAt[c] >= ws)) p.newestAt[c] = ws;
    }
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
    return this.takeDirtyAs(appliedThrough, endedBy, (block) => encodeColumns(block.home.subs, block.minutes, block.columns, this.fields, block.sketches));
  }

  /** `takeDirty` with each block's data as bytes, to be made text (blockText) when it is written. */
  takeDirtyBytes(appliedThrough: number, endedBy = Infinity): BlockOfBytes[] {
    return this.takeDirtyAs(appliedThrough, endedBy, (block) => encodeColumnsBytes(block.home.subs, block.minutes, block.columns, this.fields, block.sketches));
  }

  private takeDirtyAs<T>(appliedThrough: number, endedBy: number, encode: (block: Block) => T): (Omit<StoredBlock, 'data'> & { data: T })[] {
    const out: (Omit<StoredBlock, 'data'> & { data: T })[] = [];
    for (const block of this.dirty) {
      if (block.slot + SLOT_SECONDS > endedBy) continue;
      // Never lowered: a fold resumed from before a write it made (its checkpoint failed) holds the block as
      // written, its closed windows through the higher position, and skips those records' values again.
      if (appliedThrough > block.appliedThrough) block.appliedThrough = appliedThrough;
      out.push({ partition: block.home.partition, row: block.slot, data: encode(block), appliedThrough: block.appliedThrough });
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
          for (const row of block.minutes) if (row !== undefined) this.rows.give(row);
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
 * Blocks' minute rows, carved from large buffers and reused by size once their blocks are let go:
 * a rebuild allocates no ArrayBuffer per VM and minute, and the memory of the blocks stays at what
 * the busiest moment needed, without fragmenting the heap.
 *
 * The buffers are 32 MB: memory a process touches for the first time is dear (a page fault per 4 KB
 * page, 6-11 µs each on the 2-core VM the benchmarks ran on, where a rebuild's fold of 1M metrics
 * first touched 44 MB of rows), and a rebuild's malloc asks for transparent huge pages
 * (REBUILD_GLIBC_TUNABLES), which the kernel gives only to the 2 MB-aligned parts of a mapping: one
 * of the two in a 4 MB buffer, fifteen of sixteen in a 32 MB one. Measured on the fold into memory
 * at 1M metrics (alternating pairs): 0.925× the time with 32 MB (10 pairs), 0.96× with 16, 0.926×
 * with 64. Pages never touched are not resident (a touched huge page is, all 2 MB of it), so a small
 * fleet's rows cost at most a few MB more than before.
 */
class RowPool {
  private static readonly SLAB_BYTES = 32 << 20;
  /** Rows larger than this (a VM of thousands of counters) get an array of their own. */
  private static readonly LARGE_ROW_BYTES = 512 << 10;
  /** Free arrays by length. */
  private readonly free = new Map<number, Float64Array[]>();
  private slab?: ArrayBuffer;
  private carved = 0;

  constructor(private readonly fields: number) {}

  /** A zeroed row of `columns` columns. */
  take(columns: number): Float64Array {
    const length = columns * this.fields;
    const reused = this.free.get(length)?.pop();
    if (reused) return reused.fill(0);
    const bytes = length * Float64Array.BYTES_PER_ELEMENT;
    if (bytes > RowPool.LARGE_ROW_BYTES) return new Float64Array(length);
    if (!this.slab || this.carved + bytes > this.slab.byteLength) {
      this.slab = new ArrayBuffer(RowPool.SLAB_BYTES);
      this.carved = 0;
    }
    const array = new Float64Array(this.slab, this.carved, length);
    this.carved += bytes;
    return array;
  }

  /** An array no block refers to any more. */
  give(array: Float64Array): void {
    let list = this.free.get(array.length);
    if (!list) this.free.set(array.length, (list = []));
    list.push(array);
  }
}
