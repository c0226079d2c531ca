import type { Aggregate, WindowEvent } from '../src/core/windowMath';
import type { StoredBlock } from '../src/core/ports';

/**
 * The minute-average projections, packed: one block holds SLOT_SECONDS of one partition's
 * windows (all counter keys of one VM, or one key across tenants). Far fewer entities than
 * windows, so the table sink does not dominate a replay, and "last N minutes" reads one
 * partition's consecutive rows.
 */
export const SLOT_SECONDS = 900;
const MINUTES = SLOT_SECONDS / 60;
const FIELDS = 5; // count, sum, min, max, revision

export interface StoredWindow extends Aggregate {
  revision: number;
}

/** Cross-tenant averages are partitioned by key; per-VM averages by (tenant, vm) with the key inside. */
export type Grouping = 'minute' | 'vmMinute';

export function slotStartOf(windowStart: number): number {
  return Math.floor(windowStart / SLOT_SECONDS) * SLOT_SECONDS;
}

class Block {
  readonly series = new Map<string, Float64Array>();
  constructor(readonly partition: readonly string[], readonly slot: number, public appliedThrough: number) {}
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
  /** Clean blocks of slots ending by this were let go: even a complete state must read them back. */
  private evictedBefore = -Infinity;
  private count = 0;

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
    const block = new Block(p.partition, slot, stored?.appliedThrough ?? -1);
    if (stored) decodeInto(block, stored.data);
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
    if (row[o] === 0) return undefined;
    return { window: { count: row[o], sum: row[o + 1], min: row[o + 2], max: row[o + 3], revision: row[o + 4] }, appliedThrough: block.appliedThrough };
  }

  /** Folds one emitted window revision in (the projection's evolve step). */
  apply(event: WindowEvent): void {
    const p = this.grouping === 'minute' ? this.partitionOf(event.key) : this.partitionOf(event.tenant as string, event.vm as string);
    this.applyIn(p, this.grouping === 'minute' ? '' : event.key, event.windowStart, event, event.revision);
  }

  /** `apply` for a partition already in hand. */
  applyIn(p: BlockPartition, sub: string, windowStart: number, agg: Aggregate, revision: number): void {
    const slot = slotStartOf(windowStart);
    let block = p.slots.get(slot);
    if (!block) {
      p.slots.set(slot, (block = new Block(p.partition, slot, -1)));
      this.count++;
    }
    let row = block.series.get(sub);
    if (!row) {
      row = new Float64Array(MINUTES * FIELDS);
      block.series.set(sub, row);
    }
    const o = ((windowStart - slot) / 60) * FIELDS;
    row[o] = agg.count;
    row[o + 1] = agg.sum;
    row[o + 2] = agg.min;
    row[o + 3] = agg.max;
    row[o + 4] = revision;
    this.dirty.add(block);
    if (!(p.newest.get(sub)! >= windowStart)) {
      p.newest.set(sub, windowStart);
      this.catalogDirty.add(p);
    }
  }

  /** Partitions whose newest window moved since the last call (their catalog rows need writing). */
  takeCatalog(): BlockPartition[] {
    const out = [...this.catalogDirty];
    this.catalogDirty.clear();
    return out;
  }

  /** Restores a partition's catalog entry read back after a restart (newer windows still win). */
  seedCatalog(partition: readonly string[], newest: Record<string, number>): void {
    const p = this.partitionFor(partition);
    for (const [sub, ws] of Object.entries(newest)) if (!(p.newest.get(sub)! >= ws)) p.newest.set(sub, ws);
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
      out.push({ partition: block.partition, row: block.slot, data: encodeBlock(block.series), appliedThrough });
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
        if (!this.dirty.has(block) && slot + SLOT_SECONDS <= before) {
          p.slots.delete(slot);
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
  const keys = [...series.keys()].map((sub) => Buffer.from(sub, 'utf8'));
  let size = 2;
  let k = 0;
  for (const row of series.values()) {
    size += 6 + keys[k++].length;
    for (let i = 0; i < MINUTES; i++) if (row[i * FIELDS] !== 0) size += isSingle(row, i * FIELDS) ? 8 : 32;
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt16LE(series.size, 0);
  k = 0;
  for (const row of series.values()) {
    const key = keys[k++];
    at = out.writeUInt16LE(key.length, at);
    at += key.copy(out, at);
    let present = 0;
    let single = 0;
    for (let i = 0; i < MINUTES; i++) {
      if (row[i * FIELDS] === 0) continue;
      present |= 1 << i;
      if (isSingle(row, i * FIELDS)) single |= 1 << i;
    }
    at = out.writeUInt16LE(present, at);
    at = out.writeUInt16LE(single, at);
    for (let i = 0; i < MINUTES; i++) {
      const o = i * FIELDS;
      if (row[o] === 0) continue;
      if (single & (1 << i)) {
        at = out.writeDoubleLE(row[o + 1], at);
        continue;
      }
      at = out.writeUInt32LE(row[o], at);
      at = out.writeDoubleLE(row[o + 1], at);
      at = out.writeDoubleLE(row[o + 2], at);
      at = out.writeDoubleLE(row[o + 3], at);
      at = out.writeUInt32LE(row[o + 4], at);
    }
  }
  return BINARY_PREFIX + out.toString('base64');
}

const BINARY_PREFIX = 'b1:';

const isSingle = (row: Float64Array, o: number): boolean =>
  row[o] === 1 && row[o + 4] === 1 && row[o + 1] === row[o + 2] && row[o + 1] === row[o + 3];

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

function decodeInto(block: Block, data: string): void {
  for (const [sub, windows] of parseBlockData(data)) {
    const row = new Float64Array(MINUTES * FIELDS);
    for (const [i, c, s, mn, mx, r] of windows) row.set([c, s, mn, mx, r], i * FIELDS);
    block.series.set(sub, row);
  }
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
  const series = new Map<string, Float64Array>();
  for (const part of parts) {
    for (const [sub, windows] of decodeBlock(part)) {
      let row = series.get(sub);
      if (!row) series.set(sub, (row = new Float64Array(MINUTES * FIELDS)));
      for (const w of windows) {
        const o = ((w.windowStart - part.row) / 60) * FIELDS;
        const empty = row[o] === 0;
        row[o] += w.count;
        row[o + 1] += w.sum;
        row[o + 2] = empty ? w.min : Math.min(row[o + 2], w.min);
        row[o + 3] = empty ? w.max : Math.max(row[o + 3], w.max);
        row[o + 4] += w.revision;
      }
    }
  }
  return { partition: parts[0].partition, row: parts[0].row, data: encodeBlock(series), appliedThrough: Math.min(...parts.map((p) => p.appliedThrough)) };
}
