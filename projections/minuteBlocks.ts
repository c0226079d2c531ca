import { windowEvent, type Aggregate, type WindowEvent, type WindowRecorder } from '../src/core/windowMath';
import type { StoredBlock } from '../src/core/ports';
import { mergeAggregate } from '../src/core/mergeAggregate';

/**
 * The minute-average projections, packed: one block holds SLOT_SECONDS of one partition's
 * windows (all counter keys of one VM, or one key across tenants). Far fewer entities than
 * windows, so the table sink does not dominate a replay, and "last N minutes" reads one
 * partition's consecutive rows.
 */
export const SLOT_SECONDS = 900;
const MINUTES = SLOT_SECONDS / 60;
/** Per minute: count, sum, min, max, revision (0 while the window is open), last arrival in ms (open windows only, never stored). */
const FIELDS = 6;
const REVISION = 4;
const LAST_ARRIVAL = 5;

export interface StoredWindow extends Aggregate {
  revision: number;
}

/** Cross-tenant averages are partitioned by key; per-VM averages by (tenant, vm) with the key inside. */
export type Grouping = 'minute' | 'vmMinute';

export function slotStartOf(windowStart: number): number {
  return Math.floor(windowStart / SLOT_SECONDS) * SLOT_SECONDS;
}

/** A window that has data and is closed (revision ≥ 1); open windows have revision 0. */
const isClosed = (row: Float64Array, o: number): boolean => row[o] !== 0 && row[o + REVISION] !== 0;

/** Orders strings by UTF-16 code units: the same everywhere, unlike localeCompare. */
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

class Block {
  readonly series = new Map<string, Float64Array>();
  /** Open windows held in this block's rows: a block with any is never let go. */
  open = 0;
  /** Bit i set: minute i of the slot is listed in its OpenMinute. */
  listed = 0;
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
  readonly newest = new Map<string, number>();
  constructor(readonly partition: readonly string[]) {}
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
  private readonly rows = new RowPool();

  /** `complete`: the table holds nothing this state does not (a fresh rebuild), so nothing is ever loaded. */
  constructor(readonly grouping: Grouping, private readonly complete = false) {}

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
    if (!p) vms.set(b, (p = new BlockPartition([a, b])));
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
    return p.slots.has(slot) || (this.complete && slot + SLOT_SECONDS > this.evictedBefore);
  }

  /** Installs a block read from the table (or its absence), unless a newer one is already here. */
  load(partition: readonly string[], slot: number, stored: StoredBlock | undefined): void {
    const p = this.partitionFor(partition);
    if (p.slots.has(slot)) return;
    const block = new Block(p, slot, stored?.appliedThrough ?? -1);
    if (stored) {
      for (const [sub, windows] of parseBlockData(stored.data)) {
        const row = this.rowOf(block, sub);
        for (const [i, c, sum, min, max, r] of windows) row.set([c, sum, min, max, r], i * FIELDS);
      }
    }
    p.slots.set(slot, block);
    this.count++;
  }

  /** The stored window and the position its block reflects, or undefined when there is none. */
  get(partition: readonly string[], sub: string, windowStart: number): { window: StoredWindow; appliedThrough: number } | undefined {
    return this.getIn(this.partitionFor(partition), sub, windowStart);
  }

  getIn(p: BlockPartition, sub: string, windowStart: number): { window: StoredWindow; appliedThrough: number } | undefined {
    const slot = slotStartOf(windowStart);
    const block = p.slots.get(slot);
    const row = block?.series.get(sub);
    if (!block || !row) return undefined;
    const o = ((windowStart - slot) / 60) * FIELDS;
    if (!isClosed(row, o)) return undefined;
    return { window: { count: row[o], sum: row[o + 1], min: row[o + 2], max: row[o + 3], revision: row[o + REVISION] }, appliedThrough: block.appliedThrough };
  }

  /** Folds one emitted window revision in (the projection's evolve step). */
  apply(event: WindowEvent): void {
    const p = this.grouping === 'minute' ? this.partitionOf(event.key) : this.partitionOf(event.tenant as string, event.vm as string);
    this.applyIn(p, this.grouping === 'minute' ? '' : event.key, event.windowStart, event, event.revision);
  }

  /** `apply` for a partition already in hand. */
  applyIn(p: BlockPartition, sub: string, windowStart: number, agg: Aggregate, revision: number): void {
    const slot = slotStartOf(windowStart);
    const block = this.blockOf(p, slot);
    const row = this.rowOf(block, sub);
    const o = ((windowStart - slot) / 60) * FIELDS;
    row[o] = agg.count;
    row[o + 1] = agg.sum;
    row[o + 2] = agg.min;
    row[o + 3] = agg.max;
    row[o + REVISION] = revision;
    this.written(block, sub, windowStart);
  }

  private rowOf(block: Block, sub: string): Float64Array {
    let row = block.series.get(sub);
    if (!row) block.series.set(sub, (row = this.rows.take()));
    return row;
  }

  private blockOf(p: BlockPartition, slot: number): Block {
    let block = p.slots.get(slot);
    if (!block) {
      p.slots.set(slot, (block = new Block(p, slot, -1)));
      this.count++;
    }
    return block;
  }

  /** A window of `block` got a new closed revision: the block is dirty, the catalog may move. */
  private written(block: Block, sub: string, windowStart: number): void {
    this.dirty.add(block);
    const p = block.home;
    if (!(p.newest.get(sub)! >= windowStart)) {
      p.newest.set(sub, windowStart);
      this.catalogDirty.add(p);
    }
  }

  /**
   * Adds a value to the open window (sub, windowStart) of `p`, opening it when it has no data yet
   * and `mayOpen`. False when the window is closed, or has no data and may not open: the caller
   * then revises it. `position` and `maxEventTimeBefore` describe the record being folded.
   */
  addOpen(
    p: BlockPartition, sub: string, windowStart: number, value: number, nowMs: number,
    position: number, maxEventTimeBefore: number, mayOpen: boolean,
  ): boolean {
    const slot = slotStartOf(windowStart);
    const block = p.slots.get(slot);
    const row = block?.series.get(sub);
    const minute = (windowStart - slot) / 60;
    const o = minute * FIELDS;
    if (row !== undefined && row[o] !== 0) {
      if (row[o + REVISION] !== 0) return false;
      row[o]++;
      row[o + 1] += value;
      if (value < row[o + 2]) row[o + 2] = value;
      if (value > row[o + 3]) row[o + 3] = value;
      row[o + LAST_ARRIVAL] = nowMs;
      return true;
    }
    if (!mayOpen) return false;
    const b = block ?? this.blockOf(p, slot);
    const r = row ?? this.rowOf(b, sub);
    r[o] = 1;
    r[o + 1] = value;
    r[o + 2] = value;
    r[o + 3] = value;
    r[o + REVISION] = 0;
    r[o + LAST_ARRIVAL] = nowMs;
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
  closeMinute(windowStart: number, idleBeforeMs: number, out?: WindowRecorder): number {
    const open = this.openMinutes.get(windowStart);
    if (!open || open.minArrivalMs > idleBeforeMs) return 0;
    const slot = slotStartOf(windowStart);
    const minute = (windowStart - slot) / 60;
    const o = minute * FIELDS;
    let n = 0;
    let minArrival = Infinity;
    const still: Block[] = [];
    for (const block of open.blocks) {
      let left = 0;
      for (const [sub, row] of block.series) {
        if (row[o] === 0 || row[o + REVISION] !== 0) continue;
        if (row[o + LAST_ARRIVAL] > idleBeforeMs) {
          left++;
          if (row[o + LAST_ARRIVAL] < minArrival) minArrival = row[o + LAST_ARRIVAL];
          continue;
        }
        row[o + REVISION] = 1;
        row[o + LAST_ARRIVAL] = 0;
        block.open--;
        n++;
        this.written(block, sub, windowStart);
        if (out) {
          const partition = block.home.partition;
          if (this.grouping === 'minute') out.record(partition[0], undefined, undefined, windowStart, row[o], row[o + 1], row[o + 2], row[o + 3], 1);
          else out.record(sub, partition[0], partition[1], windowStart, row[o], row[o + 1], row[o + 2], row[o + 3], 1);
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
    const o = ((windowStart - slot) / 60) * FIELDS;
    const out: WindowEvent[] = [];
    this.eachPartition((p) => {
      const block = p.slots.get(slot);
      if (!block) return;
      for (const [sub, row] of block.series) {
        if (!isClosed(row, o)) continue;
        const agg = { count: row[o], sum: row[o + 1], min: row[o + 2], max: row[o + 3] };
        const w = this.grouping === 'minute'
          ? windowEvent(agg, p.partition[0], windowStart, row[o + REVISION])
          : windowEvent(agg, sub, windowStart, row[o + REVISION], p.partition[0], p.partition[1]);
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
      block.appliedThrough = appliedThrough;
      out.push({ partition: block.home.partition, row: block.slot, data: encodeBlock(block.series), appliedThrough });
      this.dirty.delete(block);
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
      for (const [slot, block] of p.slots) {
        if (!this.dirty.has(block) && block.open === 0 && slot + SLOT_SECONDS <= before) {
          p.slots.delete(slot);
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
 * A block's data, `b1:` then base64 of: u16 number of sub-keys; per sub-key: u16 byte length and
 * the UTF-8 key, u16 mask of the minutes present, u16 mask of those that are a first revision of
 * a single metric (count 1, sum = min = max: per-VM windows nearly always), then per present
 * minute either its value (f64) or u32 count, f64 sum, min, max, u32 revision. About half the
 * size of the JSON form `{ sub: [[minute, count, sum, min, max, revision] or [minute, value]] }`,
 * which is still read.
 */
function encodeBlock(series: Map<string, Float64Array>): string {
  // Closed windows only: open ones (revision 0) are rebuilt from the log after a restart.
  const rows: { key: Buffer; row: Float64Array; present: number; single: number }[] = [];
  let size = 2;
  for (const [sub, row] of series) {
    let present = 0;
    let single = 0;
    let bytes = 0;
    for (let i = 0; i < MINUTES; i++) {
      if (!isClosed(row, i * FIELDS)) continue;
      present |= 1 << i;
      if (isSingle(row, i * FIELDS)) {
        single |= 1 << i;
        bytes += 8;
      } else bytes += 32;
    }
    if (present === 0) continue;
    const key = Buffer.from(sub, 'utf8');
    rows.push({ key, row, present, single });
    size += 6 + key.length + bytes;
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt16LE(rows.length, 0);
  for (const { key, row, present, single } of rows) {
    at = out.writeUInt16LE(key.length, at);
    at += key.copy(out, at);
    at = out.writeUInt16LE(present, at);
    at = out.writeUInt16LE(single, at);
    for (let i = 0; i < MINUTES; i++) {
      if (!(present & (1 << i))) continue;
      const o = i * FIELDS;
      if (single & (1 << i)) {
        at = out.writeDoubleLE(row[o + 1], at);
        continue;
      }
      at = out.writeUInt32LE(row[o], at);
      at = out.writeDoubleLE(row[o + 1], at);
      at = out.writeDoubleLE(row[o + 2], at);
      at = out.writeDoubleLE(row[o + 3], at);
      at = out.writeUInt32LE(row[o + REVISION], at);
    }
  }
  return BINARY_PREFIX + out.toString('base64');
}

const BINARY_PREFIX = 'b1:';

const isSingle = (row: Float64Array, o: number): boolean =>
  row[o] === 1 && row[o + REVISION] === 1 && row[o + 1] === row[o + 2] && row[o + 1] === row[o + 3];

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

  take(): Float64Array {
    const reused = this.free.pop();
    if (reused) return reused.fill(0);
    if (!this.slab || this.carved === RowPool.ROWS_PER_SLAB) {
      this.slab = new ArrayBuffer(RowPool.ROWS_PER_SLAB * ROW_BYTES);
      this.carved = 0;
    }
    return new Float64Array(this.slab, ROW_BYTES * this.carved++, MINUTES * FIELDS);
  }

  /** Rows no one refers to any more. */
  give(rows: Iterable<Float64Array>): void {
    for (const row of rows) this.free.push(row);
  }
}

const ROW_BYTES = MINUTES * FIELDS * Float64Array.BYTES_PER_ELEMENT;

/** Each sub-key's windows as [minute, count, sum, min, max, revision], from either form. */
function parseBlockData(data: string): Map<string, [number, number, number, number, number, number][]> {
  const out = new Map<string, [number, number, number, number, number, number][]>();
  if (!data.startsWith(BINARY_PREFIX)) {
    for (const [sub, windows] of Object.entries(JSON.parse(data) as Record<string, number[][]>)) {
      out.set(sub, windows.map((w) => (w.length === 2 ? [w[0], 1, w[1], w[1], w[1], 1] : (w as [number, number, number, number, number, number]))));
    }
    return out;
  }
  const b = Buffer.from(data.slice(BINARY_PREFIX.length), 'base64');
  let at = 0;
  const subs = b.readUInt16LE(at);
  at += 2;
  for (let n = 0; n < subs; n++) {
    const length = b.readUInt16LE(at);
    const sub = b.toString('utf8', at + 2, at + 2 + length);
    at += 2 + length;
    const present = b.readUInt16LE(at);
    const single = b.readUInt16LE(at + 2);
    at += 4;
    const windows: [number, number, number, number, number, number][] = [];
    for (let i = 0; i < MINUTES; i++) {
      if (!(present & (1 << i))) continue;
      if (single & (1 << i)) {
        const v = b.readDoubleLE(at);
        at += 8;
        windows.push([i, 1, v, v, v, 1]);
        continue;
      }
      windows.push([i, b.readUInt32LE(at), b.readDoubleLE(at + 4), b.readDoubleLE(at + 12), b.readDoubleLE(at + 20), b.readUInt32LE(at + 28)]);
      at += 32;
    }
    out.set(sub, windows);
  }
  return out;
}

/** One window as the read side sees it. */
export interface MinuteWindow extends StoredWindow {
  windowStart: number;
}

/** Decodes a stored block into its windows per sub-key (the key on per-VM blocks, '' on cross-tenant ones). */
export function decodeBlock(stored: StoredBlock): Map<string, MinuteWindow[]> {
  const out = new Map<string, MinuteWindow[]>();
  for (const [sub, windows] of parseBlockData(stored.data)) {
    out.set(sub, windows.map(([i, count, sum, min, max, revision]) => ({ windowStart: stored.row + i * 60, count, sum, min, max, revision })));
  }
  return out;
}

/**
 * One block from the partial blocks of several scopes (the log partitions that each folded a
 * share of the same windows): counts and sums add up, min and max combine, and the revision is
 * the sum of the partial revisions, so it grows whenever any part is revised.
 */
export function mergeBlocks(parts: readonly StoredBlock[]): StoredBlock {
  if (parts.length === 1) return parts[0];
  const merged = new Map<string, Map<number, MinuteWindow>>();
  for (const part of parts) {
    for (const [sub, windows] of decodeBlock(part)) {
      let whole = merged.get(sub);
      if (!whole) merged.set(sub, (whole = new Map()));
      for (const w of windows) {
        const seen = whole.get(w.windowStart);
        if (seen) mergeAggregate(seen, w).revision += w.revision;
        else whole.set(w.windowStart, { ...w });
      }
    }
  }
  const series = new Map<string, Float64Array>();
  for (const [sub, windows] of merged) {
    const row = new Float64Array(MINUTES * FIELDS);
    for (const w of windows.values()) row.set([w.count, w.sum, w.min, w.max, w.revision], ((w.windowStart - parts[0].row) / 60) * FIELDS);
    series.set(sub, row);
  }
  return { partition: parts[0].partition, row: parts[0].row, data: encodeBlock(series), appliedThrough: Math.min(...parts.map((p) => p.appliedThrough)) };
}
