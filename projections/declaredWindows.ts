import type { DDSketch } from '@datadog/sketches-js';
import type { Metric } from '../src/core/metric';
import { fieldOf, matches, QUANTILES, WINDOW_SECONDS, type Aggregate, type ProjectionDefinition } from '../src/core/projectionDefinition';
import { copySketch, newSketch, SKETCH_ACCURACY } from './sketchCodec';

export { SKETCH_ACCURACY };

export interface DeclaredWindowOptions {
  outOfOrderSeconds: number;
  idleCloseSeconds: number;
  allowedLatenessSeconds: number;
  maxFutureSeconds: number;
}

/** A window of one group: mergeable state (count, sum, min, max, the sketch, the VM set). */
export interface WindowState {
  windowStart: number;
  /** The group's values, in groupBy order (null: metrics without the field). */
  group: (string | null)[];
  count: number;
  sum: number;
  min: number;
  max: number;
  /** The values' sketch, when the definition asks for a quantile. */
  sketch?: DDSketch;
  /** The (tenant, VM) pairs seen, when it asks for `vms`: each a 64-bit hash, as 16 hex digits. */
  vms?: Set<string>;
  /** Revisions emitted (0 while open). */
  revision: number;
  /** Just after the last record counted in it: a record re-read after a restart with `next` ≤ this is in it already. */
  appliedThrough: number;
}

/** A window revision, as emitted and stored. */
export type DeclaredWindow = Readonly<WindowState>;

/** A metric too late for its window (closed beyond the allowed lateness). */
export interface DeclaredLate {
  position: number;
  index: number;
  metric: Metric;
  watermark: number;
}

interface Open extends WindowState {
  /** Position of the first record counted in it: a restart must re-read from there. */
  firstPosition: number;
  /** The largest event time before that record: the watermark a re-read must start from. */
  maxEventTimeBefore: number;
  /** Processing time of the last metric that reached it (idle close). */
  lastArrivalMs: number;
}

const SEP = '\u0000';
/** The key of the group of metrics without the one grouped field. */
const NULL_GROUP = Symbol('null');
type GroupKey = string | symbol;
/** A window's id (the closed windows' map, and the order windows close in within a window start). */
const idOf = (windowStart: number, key: GroupKey): string => `${windowStart}${SEP}${typeof key === 'symbol' ? 'null' : JSON.stringify(key)}`;
/** Idle checks closer together than this (processing time) find nothing a later one would not. */
const IDLE_CHECK_MS = 250;

/**
 * The fold of a declared projection: tumbling event-time windows of the definition's size per
 * group, with the semantics of DESIGN §2 (watermark, idle close, allowed lateness, revisions,
 * late metrics). A pure state machine: processing time comes in as values (a record's append
 * time), never from a clock. Closed windows stay in memory while they can still be revised; one
 * not in memory (closed before a restart) is handed in by `restore` from the stored rows first
 * (see `lookups`).
 */
export class DeclaredWindows {
  readonly windowSeconds: number;
  private maxEventTime: number;
  /**
   * The newest window start the store held when this fold began: a window after it cannot be
   * stored (one this fold closes stays in memory while it can be revised). -Infinity for a fold
   * of a new version from the log's start.
   */
  private readonly storedThrough: number;
  /** Open windows by window start (few starts are open at once), then by id. */
  private readonly open = new Map<number, Map<GroupKey, Open>>();
  private openWindows = 0;
  /** Processing time of the last idle check: checks closer together than IDLE_CHECK_MS find nothing new worth a scan. */
  private idleCheckedMs = -Infinity;
  /** Closed windows that a later metric may still revise, and those known to have no stored row (null). */
  private readonly closed = new Map<string, WindowState | null>();
  private readonly wantsSketch: boolean;
  private readonly wantsVms: boolean;
  private readonly pairHashes = new Map<string, Map<string, string>>();
  readonly emitted = { windows: 0, revisions: 0 };
  /** Groups by key; and one reusable answer of windowOf, whose id and group are worked out only when asked for. */
  private readonly groups = new Map<GroupKey, (string | null)[]>();
  private readonly scratch = ((fold: DeclaredWindows) => ({
    windowStart: 0, key: '' as GroupKey, m: undefined as unknown as Metric,
    get id(): string {
      return idOf(this.windowStart, this.key);
    },
    get group(): (string | null)[] {
      return fold.groupOf(this.key, this.m);
    },
  }))(this);

  constructor(
    readonly definition: ProjectionDefinition,
    private readonly options: DeclaredWindowOptions,
    resume?: { maxEventTime: number; storedThrough?: number },
  ) {
    this.storedThrough = resume?.storedThrough ?? (resume === undefined ? -Infinity : Infinity);
    this.windowSeconds = WINDOW_SECONDS[definition.window];
    this.maxEventTime = resume?.maxEventTime ?? -Infinity;
    this.wantsSketch = definition.aggregates.some((a) => QUANTILES[a] !== undefined);
    this.wantsVms = definition.aggregates.includes('vms');
  }

  get watermark(): number {
    return this.maxEventTime - this.options.outOfOrderSeconds;
  }

  get openCount(): number {
    return this.openWindows;
  }

  /** The earliest log position an open window depends on (a restart re-reads from there), and the event time before it. */
  resumePoint(fallback: number): { resumeFrom: number; maxEventTime: number } {
    let resumeFrom = fallback;
    let maxEventTime = this.maxEventTime;
    for (const windows of this.open.values()) {
      for (const w of windows.values()) {
        if (w.firstPosition < resumeFrom) resumeFrom = w.firstPosition;
        if (w.maxEventTimeBefore < maxEventTime) maxEventTime = w.maxEventTimeBefore;
      }
    }
    return { resumeFrom, maxEventTime };
  }

  /**
   * A metric's window, or undefined when the definition's `where` leaves it out. `key` tells the
   * group apart within its window start: the value itself when grouped by one field (the log's
   * dictionary strings, so that the lookups of a hot fold hash nothing new), NULL_GROUP for null.
   */
  windowOf(m: Metric): { windowStart: number; key: GroupKey; id: string; group: (string | null)[] } | undefined {
    const definition = this.definition;
    if (definition.where && !matches(definition, m)) return undefined;
    const windowStart = Math.floor(m.t / this.windowSeconds) * this.windowSeconds;
    const fields = definition.groupBy;
    let key: GroupKey;
    if (fields.length === 0) key = '';
    else if (fields.length === 1) key = fieldOf(m, fields[0]) ?? NULL_GROUP;
    else key = JSON.stringify(fields.map((field) => fieldOf(m, field)));
    const w = this.scratch;
    w.windowStart = windowStart;
    w.key = key;
    w.m = m;
    return w;
  }

  /** The group of a key (built once per group). */
  private groupOf(key: GroupKey, m: Metric): (string | null)[] {
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = this.definition.groupBy.map((field) => fieldOf(m, field))));
    return group;
  }

  /**
   * The windows of `metrics` whose stored row must be read before `add` can decide: after a
   * restart, every window neither open nor known here that could still be revised (a rebuild
   * closes every window at its end, watermark or not, so that a service going on from its
   * checkpoint finds them stored), up to the newest window stored: on the live tail, a new window
   * costs no read. A fold of a fresh version has nothing stored: none.
   */
  lookups(metrics: readonly Metric[]): { id: string; windowStart: number; group: (string | null)[] }[] {
    const storedThrough = this.storedThrough;
    if (storedThrough === -Infinity) return [];
    const lateBound = this.watermark - this.options.allowedLatenessSeconds;
    const need = new Map<string, { id: string; windowStart: number; group: (string | null)[] }>();
    for (const m of metrics) {
      const w = this.windowOf(m);
      if (!w || w.windowStart > storedThrough || this.open.get(w.windowStart)?.has(w.key)) continue;
      const id = w.id;
      if (this.closed.has(id) || need.has(id)) continue;
      if (w.windowStart + this.windowSeconds <= lateBound) continue;
      need.set(id, { id, windowStart: w.windowStart, group: w.group });
    }
    return [...need.values()];
  }

  /** What the store holds of a window (`lookups`), or null when it holds nothing. */
  restore(id: string, stored: WindowState | null): void {
    this.closed.set(id, stored);
  }

  /**
   * Folds the metrics of one record: windows are judged against the watermark as it was before
   * the record; the watermark then moves (never past its processing time plus the future bound)
   * and the windows it passes close. Returns the windows emitted (closed or revised) and the late.
   */
  add(metrics: readonly Metric[], position: number, next: number, processingTimeMs: number): { windows: DeclaredWindow[]; late: DeclaredLate[] } {
    const windows: DeclaredWindow[] = [];
    const late: DeclaredLate[] = [];
    const watermark = this.watermark;
    const lateBound = watermark - this.options.allowedLatenessSeconds;
    const before = this.maxEventTime;
    const latest = processingTimeMs / 1000 + this.options.maxFutureSeconds;
    let maxT = before;
    let revised: Set<WindowState> | undefined;
    for (let index = 0; index < metrics.length; index++) {
      const m = metrics[index];
      const t = m.t < latest ? m.t : latest;
      if (t > maxT) maxT = t;
      const w = this.windowOf(m);
      if (!w) continue;
      const end = w.windowStart + this.windowSeconds;
      const open = this.open.get(w.windowStart)?.get(w.key);
      if (open) {
        this.addTo(open, m, next);
        open.lastArrivalMs = processingTimeMs;
        continue;
      }
      const id = w.id;
      const closed = this.closed.get(id);
      if (closed) {
        const thisRecord = revised?.has(closed) ?? false;
        if (closed.appliedThrough >= next && !thisRecord) continue; // counted before a restart
        if (end <= lateBound && !thisRecord) {
          late.push({ position, index, metric: m, watermark });
          continue;
        }
        this.addTo(closed, m, next);
        (revised ??= new Set()).add(closed);
        continue;
      }
      if (end <= lateBound) {
        late.push({ position, index, metric: m, watermark });
        continue;
      }
      const fresh = this.fresh(w.windowStart, w.group);
      this.addTo(fresh, m, next);
      if (end > watermark) {
        let starting = this.open.get(w.windowStart);
        if (!starting) this.open.set(w.windowStart, (starting = new Map()));
        starting.set(w.key, { ...fresh, firstPosition: position, maxEventTimeBefore: before, lastArrivalMs: processingTimeMs });
        this.openWindows++;
      } else {
        // A window the watermark passed before it had data: emitted with this record.
        this.closed.set(id, fresh);
        (revised ??= new Set()).add(fresh);
      }
    }
    if (revised) for (const w of revised) windows.push(this.emit(w));
    this.maxEventTime = maxT;
    this.closeThrough(this.watermark, windows);
    this.forgetFinal();
    return { windows, late };
  }

  /** Closes windows no metric has reached for the idle time, as of `processingTimeMs`. */
  tick(processingTimeMs: number): DeclaredWindow[] {
    const windows: DeclaredWindow[] = [];
    if (processingTimeMs - this.idleCheckedMs < IDLE_CHECK_MS) return windows;
    this.idleCheckedMs = processingTimeMs;
    const idleBefore = processingTimeMs - this.options.idleCloseSeconds * 1000;
    for (const start of [...this.open.keys()].sort((a, b) => a - b)) {
      this.closeIn(start, (w) => w.lastArrivalMs <= idleBefore, windows);
    }
    return windows;
  }

  /** Closes every open window (the end of a rebuild). */
  closeAll(): DeclaredWindow[] {
    const windows: DeclaredWindow[] = [];
    this.closeThrough(Infinity, windows);
    return windows;
  }

  /** Closes, window start by window start, every window that ends by `watermark`. */
  private closeThrough(watermark: number, out: DeclaredWindow[]): void {
    const ending = [...this.open.keys()].filter((start) => start + this.windowSeconds <= watermark);
    for (const start of ending.sort((a, b) => a - b)) this.closeIn(start, () => true, out);
  }

  private closeIn(start: number, closes: (w: Open) => boolean, out: DeclaredWindow[]): void {
    const windows = this.open.get(start)!;
    // In group order, so that a replay emits the same sequence.
    const closing = [...windows.entries()].filter(([, w]) => closes(w)).map(([key, w]) => [key, idOf(start, key), w] as const)
      .sort(([, a], [, b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [key, id, w] of closing) {
      windows.delete(key);
      this.openWindows--;
      const state: WindowState = {
        windowStart: w.windowStart, group: w.group, count: w.count, sum: w.sum, min: w.min, max: w.max,
        sketch: w.sketch, vms: w.vms, revision: w.revision, appliedThrough: w.appliedThrough,
      };
      this.closed.set(id, state);
      out.push(this.emit(state));
    }
    if (windows.size === 0) this.open.delete(start);
  }

  /** Closed windows beyond the allowed lateness can no longer change: they leave memory. */
  private forgetFinal(): void {
    const lateBound = this.watermark - this.options.allowedLatenessSeconds;
    for (const [id, w] of this.closed) {
      const windowStart = w ? w.windowStart : Number(id.slice(0, id.indexOf(SEP)));
      if (windowStart + this.windowSeconds <= lateBound) this.closed.delete(id);
    }
  }

  private emit(w: WindowState): DeclaredWindow {
    w.revision += 1;
    this.emitted.windows++;
    if (w.revision > 1) this.emitted.revisions++;
    return { ...w, group: w.group, sketch: w.sketch && copySketch(w.sketch), vms: w.vms && new Set(w.vms) };
  }

  private fresh(windowStart: number, group: (string | null)[]): WindowState {
    return {
      windowStart, group, count: 0, sum: 0, min: Infinity, max: -Infinity, revision: 0, appliedThrough: 0,
      ...(this.wantsSketch ? { sketch: newSketch() } : {}),
      ...(this.wantsVms ? { vms: new Set<string>() } : {}),
    };
  }

  private addTo(w: WindowState, m: Metric, next: number): void {
    w.count += 1;
    w.sum += m.value;
    if (m.value < w.min) w.min = m.value;
    if (m.value > w.max) w.max = m.value;
    w.sketch?.accept(m.value);
    w.vms?.add(this.pairHash(m.tenant, m.vm));
    if (next > w.appliedThrough) w.appliedThrough = next;
  }

  private pairHash(tenant: string, vm: string): string {
    let vms = this.pairHashes.get(tenant);
    if (!vms) this.pairHashes.set(tenant, (vms = new Map()));
    let hash = vms.get(vm);
    if (hash === undefined) vms.set(vm, (hash = pairHashOf(tenant, vm)));
    return hash;
  }
}

/** A 64-bit FNV-1a hash of a (tenant, VM) pair, as 16 hex digits: VM sets are stored as these. */
export function pairHashOf(tenant: string, vm: string): string {
  let h = 0xcbf29ce484222325n;
  const text = `${tenant}${SEP}${vm}`;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

/** The aggregates a definition asks for, of one window (or of several windows' merged state); a quantile within the exact min and max. */
export function aggregatesOf(w: Pick<WindowState, 'count' | 'sum' | 'min' | 'max' | 'sketch' | 'vms'> & { vmCount?: number }, aggregates: readonly Aggregate[]): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const a of aggregates) {
    const q = QUANTILES[a];
    // Kept within the exact min and max: a sketch's bin may lie up to 1% beyond them.
    if (q !== undefined) out[a] = w.sketch && w.count > 0 ? Math.min(w.max, Math.max(w.min, w.sketch.getValueAtQuantile(q))) : null;
    else if (a === 'count') out[a] = w.count;
    else if (a === 'sum') out[a] = w.sum;
    else if (a === 'avg') out[a] = w.count > 0 ? w.sum / w.count : null;
    else if (a === 'min') out[a] = w.count > 0 ? w.min : null;
    else if (a === 'max') out[a] = w.count > 0 ? w.max : null;
    else if (a === 'vms') out[a] = w.vmCount ?? w.vms?.size ?? 0;
  }
  return out;
}
