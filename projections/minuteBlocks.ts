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
  dirty = false;
  constructor(readonly partition: readonly string[], readonly slot: number, public appliedThrough: number) {}
}

/**
 * In-memory state of one grouping's blocks: the recent ones (those late data may still
 * revise), loaded from the table on first use after a restart, written back when dirty.
 */
export class MinuteBlocks {
  private readonly blocks = new Map<string, Block>();

  /** `complete`: the table holds nothing this state does not (a fresh rebuild), so nothing is ever loaded. */
  constructor(readonly grouping: Grouping, private readonly complete = false) {}

  static blockId(partition: readonly string[], slot: number): string {
    return `${partition.join('\u0000')}\u0001${slot}`;
  }

  /** Whether `get` can answer for this block without loading it first. */
  isLoaded(id: string): boolean {
    return this.complete || this.blocks.has(id);
  }

  /** Installs a block read from the table (or its absence), unless a newer one is already here. */
  load(partition: readonly string[], slot: number, stored: StoredBlock | undefined): void {
    const id = MinuteBlocks.blockId(partition, slot);
    if (this.blocks.has(id)) return;
    const block = new Block(partition, slot, stored?.appliedThrough ?? -1);
    if (stored) decodeInto(block, stored.data);
    this.blocks.set(id, block);
  }

  /** The stored window and the position its block reflects, or undefined when there is none. */
  get(partition: readonly string[], sub: string, windowStart: number): { window: StoredWindow; appliedThrough: number } | undefined {
    const slot = slotStartOf(windowStart);
    const block = this.blocks.get(MinuteBlocks.blockId(partition, slot));
    const row = block?.series.get(sub);
    if (!block || !row) return undefined;
    const o = ((windowStart - slot) / 60) * FIELDS;
    if (row[o] === 0) return undefined;
    return { window: { count: row[o], sum: row[o + 1], min: row[o + 2], max: row[o + 3], revision: row[o + 4] }, appliedThrough: block.appliedThrough };
  }

  /** Folds one emitted window revision in (the projection's evolve step). */
  apply(event: WindowEvent): void {
    const partition = this.grouping === 'minute' ? [event.key] : [event.tenant as string, event.vm as string];
    const sub = this.grouping === 'minute' ? '' : event.key;
    const slot = slotStartOf(event.windowStart);
    const id = MinuteBlocks.blockId(partition, slot);
    let block = this.blocks.get(id);
    if (!block) {
      block = new Block(partition, slot, -1);
      this.blocks.set(id, block);
    }
    let row = block.series.get(sub);
    if (!row) {
      row = new Float64Array(MINUTES * FIELDS);
      block.series.set(sub, row);
    }
    const o = ((event.windowStart - slot) / 60) * FIELDS;
    row[o] = event.count;
    row[o + 1] = event.sum;
    row[o + 2] = event.min;
    row[o + 3] = event.max;
    row[o + 4] = event.revision;
    block.dirty = true;
  }

  /** The dirty blocks as table rows, marked as reflecting the log through `appliedThrough`; clears the dirty marks. */
  takeDirty(appliedThrough: number): StoredBlock[] {
    const out: StoredBlock[] = [];
    for (const block of this.blocks.values()) {
      if (!block.dirty) continue;
      block.dirty = false;
      block.appliedThrough = appliedThrough;
      out.push({ partition: block.partition, row: block.slot, data: encodeBlock(block.series), appliedThrough });
    }
    return out;
  }

  /** Forgets clean blocks whose slot ended at or before `before` (no data can revise them any more). */
  evict(before: number): void {
    for (const [id, block] of this.blocks) {
      if (!block.dirty && block.slot + SLOT_SECONDS <= before) this.blocks.delete(id);
    }
  }

  get size(): number {
    return this.blocks.size;
  }
}

function encodeBlock(series: Map<string, Float64Array>): string {
  const out: Record<string, number[][]> = {};
  for (const [sub, row] of series) {
    const windows: number[][] = [];
    for (let i = 0; i < MINUTES; i++) {
      const o = i * FIELDS;
      if (row[o] !== 0) windows.push([i, row[o], row[o + 1], row[o + 2], row[o + 3], row[o + 4]]);
    }
    out[sub] = windows;
  }
  return JSON.stringify(out);
}

function decodeInto(block: Block, data: string): void {
  for (const [sub, windows] of Object.entries(JSON.parse(data) as Record<string, number[][]>)) {
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
  for (const [sub, windows] of Object.entries(JSON.parse(stored.data) as Record<string, number[][]>)) {
    out.set(sub, windows.map(([i, count, sum, min, max, revision]) => ({ windowStart: stored.row + i * 60, count, sum, min, max, revision })));
  }
  return out;
}
