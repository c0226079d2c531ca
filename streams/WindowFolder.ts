import type { Metric } from '../src/core/metric';
import { windowEvent, windowStartOf, WINDOW_SECONDS, type LateMetric, type WindowEvent } from '../src/core/windowMath';
import { MinuteBlocks, slotStartOf, type BlockPartition } from '../projections/minuteBlocks';

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
  /** Where the window goes when it closes: its projection partition and sub-key. */
  part: BlockPartition;
  sub: string;
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
  /** Build a WindowEvent for every emitted revision (off when nobody listens, e.g. a rebuild). */
  events = true;
  /** Window revisions emitted so far, and how many of them were corrections (revision > 1). */
  readonly emitted = { windows: 0, revisions: 0 };

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

  /** Number of open windows (both groupings). */
  get openCount(): number {
    let n = 0;
    for (const bucket of this.open.values()) n += bucket.size;
    return n;
  }

  /** Earliest log position an open window depends on; a restart must re-read from there. */
  resumePosition(fallback: number): number {
    let min = fallback;
    for (const bucket of this.open.values()) for (const w of windowsOf(bucket)) if (w.minPosition < min) min = w.minPosition;
    return min;
  }

  /**
   * The state as of `resumePosition()`: re-reading from there must see the watermark each record
   * first saw, or a metric already merged into a closed window would now be judged too late.
   */
  checkpoint(): FolderCheckpoint {
    let maxEventTime = this.maxEventTime;
    for (const bucket of this.open.values()) for (const w of windowsOf(bucket)) if (w.maxEventTimeBefore < maxEventTime) maxEventTime = w.maxEventTimeBefore;
    return { maxEventTime };
  }

  /** Blocks that must be loaded into the projection state before `add(metrics)` can decide. */
  blocksToLoad(metrics: readonly Metric[]): { grouping: 'minute' | 'vmMinute'; partition: string[]; slot: number }[] {
    const need = new Map<string, { grouping: 'minute' | 'vmMinute'; partition: string[]; slot: number }>();
    const lateBound = this.watermark - this.options.allowedLatenessSeconds;
    for (const m of metrics) {
      const ws = windowStartOf(m.t);
      if (ws + WINDOW_SECONDS <= lateBound) continue;
      const slot = slotStartOf(ws);
      if (!this.cross.isLoadedIn(this.cross.partitionOf(m.key), slot)) {
        const id = `c${m.key}${SEP}${slot}`;
        if (!need.has(id)) need.set(id, { grouping: 'minute', partition: [m.key], slot });
      }
      if (!this.perVm.isLoadedIn(this.perVm.partitionOf(m.tenant, m.vm), slot)) {
        const id = `v${m.tenant}${SEP}${m.vm}${SEP}${slot}`;
        if (!need.has(id)) need.set(id, { grouping: 'vmMinute', partition: [m.tenant, m.vm], slot });
      }
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
    const step: Step = { position, next, nowMs: processingTimeMs, watermark, revisions };
    let maxT = this.maxEventTime;
    for (let index = 0; index < metrics.length; index++) {
      const m = metrics[index];
      if (m.t > maxT) maxT = m.t;
      const ws = windowStartOf(m.t);
      if (ws + WINDOW_SECONDS <= lateBound) {
        result.late.push({ position, index, key: m.key, tenant: m.tenant, vm: m.vm, t: m.t, value: m.value, watermark });
        continue;
      }
      let bucket = this.open.get(ws);
      const crossOpen = bucket?.cross.get(m.key);
      if (crossOpen) addTo(crossOpen, m.value, processingTimeMs);
      else bucket = this.foldNew(m, ws, bucket, undefined, step);
      const vmOpen = bucket?.vm.get(m.tenant)?.get(m.vm)?.get(m.key);
      if (vmOpen) addTo(vmOpen, m.value, processingTimeMs);
      else this.foldNew(m, ws, bucket, this.perVm.partitionOf(m.tenant, m.vm), step);
    }
    for (const { agg, windowStart, revision } of revisions.values()) this.emit(agg, windowStart, revision, result);
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
      const visit = (windows: Map<string, OpenWindow>): void => {
        for (const [id, w] of windows) {
          if (w.lastArrivalMs > idleBefore) {
            if (w.lastArrivalMs < min) min = w.lastArrivalMs;
            continue;
          }
          windows.delete(id);
          bucket.size--;
          this.emit(w, ws, 1, result);
        }
      };
      visit(bucket.cross);
      for (const [tenant, vms] of bucket.vm) {
        for (const [vm, keys] of vms) {
          visit(keys);
          if (keys.size === 0) vms.delete(vm);
        }
        if (vms.size === 0) bucket.vm.delete(tenant);
      }
      bucket.minArrivalMs = min;
      if (bucket.size === 0) this.open.delete(ws);
    }
    return result.windows;
  }

  /** Closes every open window (end of a bounded replay). */
  closeAll(): WindowEvent[] {
    const result: FoldResult = { windows: [], late: [] };
    this.closeThrough(Infinity, result);
    return result.windows;
  }

  /**
   * A metric for a window that is not open (cross-tenant when `part` is undefined, else the
   * VM's): a pending revision of a closed window, a revision of a stored one, a window the
   * watermark has already passed (emitted with this record), or a new open window.
   */
  private foldNew(m: Metric, ws: number, bucket: Bucket | undefined, part: BlockPartition | undefined, step: Step): Bucket | undefined {
    const blocks = part === undefined ? this.cross : this.perVm;
    const p = part ?? this.cross.partitionOf(m.key);
    const sub = part === undefined ? '' : m.key;
    const stored = blocks.getIn(p, sub, ws);
    const closed = stored !== undefined || ws + WINDOW_SECONDS <= step.watermark;
    if (closed) {
      const revisionId = part === undefined ? `${ws}${SEP}${m.key}` : `${ws}${SEP}${m.tenant}${SEP}${m.vm}${SEP}${m.key}`;
      const pending = step.revisions.get(revisionId);
      if (pending) {
        addTo(pending.agg, m.value, step.nowMs);
        return bucket;
      }
      // Re-reading after a restart: this event is already in the stored window.
      if (stored && stored.appliedThrough >= step.next) return bucket;
      const agg = newWindow(m, part !== undefined, p, sub, step.position, step.nowMs, this.maxEventTime);
      if (stored) Object.assign(agg, { count: stored.window.count, sum: stored.window.sum, min: stored.window.min, max: stored.window.max });
      addTo(agg, m.value, step.nowMs);
      step.revisions.set(revisionId, { agg, windowStart: ws, revision: stored ? stored.window.revision + 1 : 1 });
      return bucket;
    }
    const fresh = newWindow(m, part !== undefined, p, sub, step.position, step.nowMs, this.maxEventTime);
    addTo(fresh, m.value, step.nowMs);
    if (!bucket) this.open.set(ws, (bucket = { cross: new Map(), vm: new Map(), size: 0, minArrivalMs: step.nowMs }));
    else if (step.nowMs < bucket.minArrivalMs) bucket.minArrivalMs = step.nowMs;
    bucket.size++;
    if (part === undefined) {
      bucket.cross.set(m.key, fresh);
      return bucket;
    }
    let vms = bucket.vm.get(m.tenant);
    if (!vms) bucket.vm.set(m.tenant, (vms = new Map()));
    let keys = vms.get(m.vm);
    if (!keys) vms.set(m.vm, (keys = new Map()));
    keys.set(m.key, fresh);
    return bucket;
  }

  private closeThrough(watermark: number, result: FoldResult): void {
    const starts = [...this.open.keys()].filter((ws) => ws + WINDOW_SECONDS <= watermark).sort((a, b) => a - b);
    for (const ws of starts) {
      for (const w of windowsOf(this.open.get(ws) as Bucket)) this.emit(w, ws, 1, result);
      this.open.delete(ws);
    }
  }

  private emit(w: OpenWindow, windowStart: number, revision: number, result: FoldResult): void {
    (w.tenant === undefined ? this.cross : this.perVm).applyIn(w.part, w.sub, windowStart, w, revision);
    this.emitted.windows++;
    if (revision > 1) this.emitted.revisions++;
    if (this.events) result.windows.push(windowEvent(w, w.key, windowStart, revision, w.tenant, w.vm));
  }
}

/** Per-record context of `add`. */
interface Step {
  position: number;
  next: number;
  nowMs: number;
  watermark: number;
  revisions: Map<string, Revision>;
}

function* windowsOf(bucket: Bucket): Iterable<OpenWindow> {
  yield* bucket.cross.values();
  for (const vms of bucket.vm.values()) for (const keys of vms.values()) yield* keys.values();
}

interface Bucket {
  /** Cross-tenant windows by key. */
  cross: Map<string, OpenWindow>;
  /** Per-VM windows by tenant, VM and key (nested maps: no joined id strings on the hot path). */
  vm: Map<string, Map<string, Map<string, OpenWindow>>>;
  size: number;
  /** A lower bound of the windows' last arrival times. */
  minArrivalMs: number;
}

interface Revision {
  agg: OpenWindow;
  windowStart: number;
  revision: number;
}

function newWindow(
  m: Metric, perVm: boolean, part: BlockPartition, sub: string, position: number, nowMs: number, maxEventTimeBefore: number,
): OpenWindow {
  const w: OpenWindow = { count: 0, sum: 0, min: Infinity, max: -Infinity, lastArrivalMs: nowMs, minPosition: position, maxEventTimeBefore, key: m.key, part, sub };
  if (perVm) {
    w.tenant = m.tenant;
    w.vm = m.vm;
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
