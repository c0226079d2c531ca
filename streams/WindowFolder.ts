import type { Metric } from '../src/core/metric';
import { windowEvent, windowStartOf, WINDOW_SECONDS, type LateMetric, type WindowEvent } from '../src/core/windowMath';
import { MinuteBlocks, slotStartOf } from '../projections/minuteBlocks';

export interface WindowOptions {
  /** Watermark = largest event time seen minus this. */
  outOfOrderSeconds: number;
  /** A window no event has reached for this long (processing time) closes. */
  idleCloseSeconds: number;
  /** A closed window whose end is at most this far behind the watermark is still revised. */
  allowedLatenessSeconds: number;
}

interface OpenWindow {
  count: number;
  sum: number;
  min: number;
  max: number;
  lastArrivalMs: number;
  /** Log position of the earliest record with an event in this window. */
  minPosition: number;
  /** The largest event time seen before that record: a restart from `minPosition` resumes with it. */
  maxEventTimeBefore: number;
  key: string;
  tenant?: string;
  vm?: string;
}

export interface FoldResult {
  windows: WindowEvent[];
  late: LateMetric[];
}

/** Minimal state needed to resume folding after a restart (stored with the checkpoint). */
export interface FolderCheckpoint {
  maxEventTime: number;
}

const SEP = '\u0000';

/**
 * Tumbling one-minute event-time windows, per key across tenants and per (tenant, VM, key).
 * Pure state machine: processing time comes in as a value (the record's append time on
 * replay), never from the clock. Closed windows live in the projections' block state, which
 * is how late data within the allowed lateness finds and revises them.
 */
export class WindowFolder {
  private maxEventTime: number;
  /** Open windows bucketed by window start. */
  private readonly open = new Map<number, Bucket>();

  constructor(
    private readonly options: WindowOptions,
    readonly cross: MinuteBlocks,
    readonly perVm: MinuteBlocks,
    resume?: FolderCheckpoint,
  ) {
    this.maxEventTime = resume?.maxEventTime ?? -Infinity;
  }

  get watermark(): number {
    return this.maxEventTime - this.options.outOfOrderSeconds;
  }

  /**
   * The state as of `resumePosition()`: re-reading from there must see the watermark each record
   * first saw, or a metric already merged into a closed window would now be judged too late.
   */
  checkpoint(): FolderCheckpoint {
    let maxEventTime = this.maxEventTime;
    for (const bucket of this.open.values()) for (const w of bucket.windows.values()) if (w.maxEventTimeBefore < maxEventTime) maxEventTime = w.maxEventTimeBefore;
    return { maxEventTime };
  }

  /** Number of open windows (both groupings). */
  get openCount(): number {
    let n = 0;
    for (const bucket of this.open.values()) n += bucket.windows.size;
    return n;
  }

  /** Earliest log position an open window depends on; a restart must re-read from there. */
  resumePosition(fallback: number): number {
    let min = fallback;
    for (const bucket of this.open.values()) for (const w of bucket.windows.values()) if (w.minPosition < min) min = w.minPosition;
    return min;
  }

  /** Blocks that must be loaded into the projection state before `add(metrics)` can decide. */
  blocksToLoad(metrics: readonly Metric[]): { grouping: 'minute' | 'vmMinute'; partition: string[]; slot: number }[] {
    const need = new Map<string, { grouping: 'minute' | 'vmMinute'; partition: string[]; slot: number }>();
    const lateBound = this.watermark - this.options.allowedLatenessSeconds;
    for (const m of metrics) {
      const ws = windowStartOf(m.t);
      if (ws + WINDOW_SECONDS <= lateBound) continue;
      const slot = slotStartOf(ws);
      const crossId = MinuteBlocks.blockId([m.key], slot);
      if (!this.cross.isLoaded(crossId) && !need.has(`c${crossId}`)) need.set(`c${crossId}`, { grouping: 'minute', partition: [m.key], slot });
      const vmId = MinuteBlocks.blockId([m.tenant, m.vm], slot);
      if (!this.perVm.isLoaded(vmId) && !need.has(`v${vmId}`)) need.set(`v${vmId}`, { grouping: 'vmMinute', partition: [m.tenant, m.vm], slot });
    }
    return [...need.values()];
  }

  /**
   * Folds the metrics of one log record. Windows are judged against the watermark as it was
   * before the record; the watermark then advances and the windows it passes close.
   */
  add(metrics: readonly Metric[], position: number, next: number, processingTimeMs: number): FoldResult {
    const result: FoldResult = { windows: [], late: [] };
    const watermark = this.watermark;
    const lateBound = watermark - this.options.allowedLatenessSeconds;
    const revisions = new Map<string, Revision>();
    let maxT = this.maxEventTime;
    for (let index = 0; index < metrics.length; index++) {
      const m = metrics[index];
      if (m.t > maxT) maxT = m.t;
      const ws = windowStartOf(m.t);
      if (ws + WINDOW_SECONDS <= lateBound) {
        result.late.push({ position, index, key: m.key, tenant: m.tenant, vm: m.vm, t: m.t, value: m.value, watermark });
        continue;
      }
      this.fold(m, ws, m.key, this.cross, [m.key], '', undefined, undefined, position, next, processingTimeMs, watermark, revisions);
      this.fold(m, ws, `${m.tenant}${SEP}${m.vm}${SEP}${m.key}`, this.perVm, [m.tenant, m.vm], m.key, m.tenant, m.vm, position, next, processingTimeMs, watermark, revisions);
    }
    for (const { agg, windowStart, revision } of revisions.values()) {
      this.emit(windowEvent(agg, agg.key, windowStart, revision, agg.tenant, agg.vm), result);
    }
    this.maxEventTime = maxT;
    this.closeThrough(this.watermark, result);
    return result;
  }

  /** Closes windows no event has reached for the idle time, as of `processingTimeMs`. */
  tick(processingTimeMs: number): WindowEvent[] {
    const result: FoldResult = { windows: [], late: [] };
    const idleBefore = processingTimeMs - this.options.idleCloseSeconds * 1000;
    for (const [ws, bucket] of [...this.open].sort((a, b) => a[0] - b[0])) {
      // minArrivalMs is a lower bound (arrivals only grow), so most buckets are skipped unscanned.
      if (bucket.minArrivalMs > idleBefore) continue;
      let min = Infinity;
      for (const [id, w] of bucket.windows) {
        if (w.lastArrivalMs > idleBefore) {
          if (w.lastArrivalMs < min) min = w.lastArrivalMs;
          continue;
        }
        bucket.windows.delete(id);
        this.emit(windowEvent(w, w.key, ws, 1, w.tenant, w.vm), result);
      }
      bucket.minArrivalMs = min;
      if (bucket.windows.size === 0) this.open.delete(ws);
    }
    return result.windows;
  }

  /** Closes every open window (end of a bounded replay). */
  closeAll(): WindowEvent[] {
    const result: FoldResult = { windows: [], late: [] };
    this.closeThrough(Infinity, result);
    return result.windows;
  }

  private fold(
    m: Metric, ws: number, id: string, blocks: MinuteBlocks, partition: string[], sub: string,
    tenant: string | undefined, vm: string | undefined, position: number, next: number, nowMs: number, watermark: number,
    revisions: Map<string, Revision>,
  ): void {
    const bucket = this.open.get(ws);
    const open = bucket?.windows.get(id);
    if (open) {
      addTo(open, m.value, nowMs);
      return;
    }
    const revisionId = `${ws}${SEP}${id}`;
    const pending = revisions.get(revisionId);
    if (pending) {
      addTo(pending.agg, m.value, nowMs);
      return;
    }
    const stored = blocks.get(partition, sub, ws);
    if (stored) {
      // Re-reading after a restart: this event is already in the stored window.
      if (stored.appliedThrough >= next) return;
      const { count, sum, min, max, revision } = stored.window;
      const agg = { ...newWindow(m.key, tenant, vm, position, nowMs, this.maxEventTime), count, sum, min, max };
      addTo(agg, m.value, nowMs);
      revisions.set(revisionId, { agg, windowStart: ws, revision: revision + 1 });
      return;
    }
    const fresh = newWindow(m.key, tenant, vm, position, nowMs, this.maxEventTime);
    addTo(fresh, m.value, nowMs);
    if (ws + WINDOW_SECONDS <= watermark) {
      revisions.set(revisionId, { agg: fresh, windowStart: ws, revision: 1 });
      return;
    }
    if (bucket) {
      bucket.windows.set(id, fresh);
      if (nowMs < bucket.minArrivalMs) bucket.minArrivalMs = nowMs;
    } else {
      this.open.set(ws, { windows: new Map([[id, fresh]]), minArrivalMs: nowMs });
    }
  }

  private closeThrough(watermark: number, result: FoldResult): void {
    const starts = [...this.open.keys()].filter((ws) => ws + WINDOW_SECONDS <= watermark).sort((a, b) => a - b);
    for (const ws of starts) {
      for (const w of (this.open.get(ws) as Bucket).windows.values()) this.emit(windowEvent(w, w.key, ws, 1, w.tenant, w.vm), result);
      this.open.delete(ws);
    }
  }

  private emit(ev: WindowEvent, result: FoldResult): void {
    (ev.tenant === undefined ? this.cross : this.perVm).apply(ev);
    result.windows.push(ev);
  }
}

interface Bucket {
  windows: Map<string, OpenWindow>;
  /** A lower bound of the windows' last arrival times. */
  minArrivalMs: number;
}

interface Revision {
  agg: OpenWindow;
  windowStart: number;
  revision: number;
}

function newWindow(
  key: string, tenant: string | undefined, vm: string | undefined, position: number, nowMs: number, maxEventTimeBefore: number,
): OpenWindow {
  const w: OpenWindow = { count: 0, sum: 0, min: Infinity, max: -Infinity, lastArrivalMs: nowMs, minPosition: position, maxEventTimeBefore, key };
  if (tenant !== undefined) {
    w.tenant = tenant;
    w.vm = vm;
  }
  return w;
}

function addTo(w: OpenWindow, value: number, nowMs: number): void {
  w.count++;
  w.sum += value;
  if (value < w.min) w.min = value;
  if (value > w.max) w.max = value;
  w.lastArrivalMs = nowMs;
}
