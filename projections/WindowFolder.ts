import type { DDSketch } from '@datadog/sketches-js';
import { metricColumns, type Metric, type MetricColumns } from '../src/core/metric';
import {
  eventCollector, windowStartOf, WINDOW_SECONDS, type Aggregate, type FinalMinute, type LateMetric, type WindowEvent, type WindowExtras, type WindowRecorder,
} from '../src/core/windowMath';
import type { StoredBlock } from '../src/core/ports';
import { MinuteBlocks, SLOT_SECONDS, slotStartOf, type BlockPartition } from './minuteBlocks';
import { Field } from './blockCodec';
import { EXPECTED_SECONDS, KeyPresence } from './KeyPresence';
import { sketchAfter } from './sketchAfter';
import { sketchBytes } from './sketchCodec';

export interface WindowOptions {
  /** Watermark = largest event time seen minus this. */
  outOfOrderSeconds: number;
  /** A window no event has reached for this long (processing time) closes. */
  idleCloseSeconds: number;
  /** A closed window whose end is at most this far behind the watermark is still revised. */
  allowedLatenessSeconds: number;
  /** A record moves the watermark at most this far past its processing time (its arrival): a bad clock hides no one's data. */
  maxFutureSeconds: number;
}

/** A closed window being revised by one record (open windows live in the blocks' rows). */
interface Revision extends Aggregate {
  key: string;
  tenant?: string;
  vm?: string;
  part: BlockPartition;
  sub: string;
  windowStart: number;
  revision: number;
  /** Of a window of three values or more: the stored window's own, changed in place (it is replaced by this revision). */
  sketch?: DDSketch;
}

export interface FoldResult {
  windows: WindowEvent[];
  late: LateMetric[];
}

/** A decoded log record that carries metrics. */
export interface MetricRecord {
  position: number;
  next: number;
  appendedAtMs: number;
  /** As objects, or as columns (a replay's decoded records: see MetricColumns). */
  metrics: readonly Metric[] | MetricColumns;
  /** Each metric's index within the log record, when some of its metrics were left out (quarantined). */
  indexes?: readonly number[];
}

/** What folding one record (or one idle tick) produced. `next` is absent on ticks. */
export interface FoldStep {
  next?: number;
  windows: WindowEvent[];
  late: LateMetric[];
}

/** Minimal state needed to resume folding after a restart (stored with the checkpoint). */
export interface FolderCheckpoint {
  maxEventTime: number;
  /** Windows ending by this were final and told (absent: as of the resumed watermark). */
  finalThrough?: number;
}

const SEP = '\u0000';
/** Places in a VM's run of metrics whose keys' partitions WindowFolder.add keeps (a SPOC VM reports some 25 keys). */
const RUN_KEYS = 256;

/**
 * Tumbling one-minute event-time windows, per key across tenants and per (tenant, VM, key).
 * Pure state machine: processing time comes in as a value (the record's append time on
 * replay), never from the clock. Closed windows live in the projections' block state, which
 * is how late data within the allowed lateness finds and revises them.
 */
export class WindowFolder {
  private maxEventTime: number;
  /** Windows ending by this are final (the watermark minus the allowed lateness, never moving back). */
  private finalBound: number;
  /**
   * Told each window start whose windows became final, with their last values, oldest first (see
   * passFinal); every window once, each start whole. Off in a rebuild, which tells none.
   */
  onFinal?: (minute: FinalMinute) => void;
  /** Build a WindowEvent for every emitted revision (off when nobody listens, e.g. a rebuild). */
  events = true;
  /** Also told every emitted revision as it is emitted, as fields (a rebuild's history: no object per window). */
  recorder?: WindowRecorder;
  /**
   * The cross-tenant partitions of the keys of the last VM's run of metrics, by place in the run: the
   * next VM's come in the same order, and a comparison of two strings costs less than a Map lookup.
   */
  private readonly runKeys: (string | undefined)[] = new Array<string | undefined>(RUN_KEYS).fill(undefined);
  private readonly runParts: (BlockPartition | undefined)[] = new Array<BlockPartition | undefined>(RUN_KEYS).fill(undefined);
  /** The cross-tenant partitions with VMs newly expected still to count, of a record that failed part way (see `add`). */
  private unsettled: BlockPartition[] | undefined = undefined;
  /** Window revisions emitted so far, and how many of them were corrections (revision > 1). */
  readonly emitted = { windows: 0, revisions: 0 };

  constructor(
    private readonly options: WindowOptions,
    readonly cross: MinuteBlocks,
    readonly perVm: MinuteBlocks,
    resume?: FolderCheckpoint,
  ) {
    this.maxEventTime = resume?.maxEventTime ?? -Infinity;
    // A checkpoint from before finality was kept: what its own watermark made final counts as told.
    this.finalBound = resume?.finalThrough ?? this.watermark - options.allowedLatenessSeconds;
  }

  get watermark(): number {
    return this.maxEventTime - this.options.outOfOrderSeconds;
  }

  /** Windows ending by this are final: no metric can revise them any more (it would go to the late ledger). */
  get finalThrough(): number {
    return this.finalBound;
  }

  /** Number of open windows (both groupings). */
  get openCount(): number {
    return this.cross.openCount + this.perVm.openCount;
  }

  /** Earliest log position an open window depends on; a restart must re-read from there. */
  resumePosition(fallback: number): number {
    return Math.min(fallback, this.cross.openSince().position, this.perVm.openSince().position);
  }

  /**
   * The state as of `resumePosition()`: re-reading from there must see the watermark each record
   * first saw, or a metric already merged into a closed window would now be judged too late.
   */
  checkpoint(): FolderCheckpoint {
    return {
      maxEventTime: Math.min(this.maxEventTime, this.cross.openSince().maxEventTimeBefore, this.perVm.openSince().maxEventTimeBefore),
      finalThrough: this.finalBound,
    };
  }

  /**
   * Blocks that must be loaded into the projection state before `add(metrics)` can decide. A
   * key's cross-tenant blocks are read as a range, from the metric's slot on (`from`): a new
   * minute of a VM changes the expected VMs of the hour of windows after it.
   */
  blocksToLoad(metrics: readonly Metric[] | MetricColumns): BlockToLoad[] {
    const { length, t, key, tenant, vm } = metricColumns(metrics);
    // A rebuild's recent slots are all here: when the record's earliest metric's slot is, every other's is too (slots only
    // grow with time), and no metric's partitions need looking at.
    let earliest = Infinity;
    for (let i = 0; i < length; i++) if (t[i] < earliest) earliest = t[i];
    const first = slotStartOf(windowStartOf(earliest));
    if (this.cross.isKnownEverywhere(first) && this.perVm.isKnownEverywhere(first)) return [];
    const need = new Map<string, BlockToLoad>();
    const lateBound = this.watermark - this.options.allowedLatenessSeconds;
    for (let i = 0; i < length; i++) {
      const ws = windowStartOf(t[i]);
      if (ws + WINDOW_SECONDS <= lateBound) continue;
      const slot = slotStartOf(ws);
      // A rebuild's recent slots need no lookup of the metric's partitions (four Map lookups a metric).
      if (!this.cross.isKnownEverywhere(slot) && !this.cross.isKnownFrom(this.cross.partitionOf(key[i]), slot)) {
        const id = `c${key[i]}`;
        const seen = need.get(id);
        if (!seen || slot < seen.slot) need.set(id, { grouping: 'minute', partition: [key[i]], slot, from: true });
      }
      if (!this.perVm.isKnownEverywhere(slot) && !this.perVm.isLoadedIn(this.perVm.partitionOf(tenant[i], vm[i]), slot)) {
        const id = `v${tenant[i]}${SEP}${vm[i]}${SEP}${slot}`;
        if (!need.has(id)) need.set(id, { grouping: 'vmMinute', partition: [tenant[i], vm[i]], slot });
      }
    }
    return [...need.values()];
  }

  /** The oldest window start that data can still revise (older windows are final). */
  get changeableFrom(): number {
    return windowStartOf(this.watermark - this.options.allowedLatenessSeconds) - WINDOW_SECONDS;
  }

  /**
   * Installs a key's cross-tenant blocks read as one range from `fromSlot` on, and makes the VM
   * counts of its windows that can still change again from the presence held (what the stored
   * ones say of a VM whose records are folded again would otherwise count twice).
   */
  loadKeyFrom(key: string, fromSlot: number, stored: readonly StoredBlock[]): void {
    this.cross.loadFrom([key], fromSlot, stored);
    const from = Math.max(fromSlot, this.changeableFrom);
    const cp = this.cross.partitionOf(key);
    const counts = new Map<number, [number, number]>();
    for (const slot of this.cross.slotsOf(cp)) {
      for (let w = Math.max(slot, from); w < slot + SLOT_SECONDS; w += WINDOW_SECONDS) counts.set(w, [0, 0]);
    }
    cp.presence?.recount(from, (w, vms, expected) => counts.set(w, [vms, expected]));
    for (const [w, [vms, expected]] of counts) this.cross.setFleet(cp, w, vms, expected);
  }

  /** Notes that a VM reported a key in a minute (a restart reads them back from the VMs' stored blocks). */
  notePresence(key: string, tenant: string, vm: string, windowStart: number): void {
    (this.cross.partitionOf(key).presence ??= new KeyPresence()).add(this.perVm.partitionOf(tenant, vm).id, windowStart);
  }

  /** Forgets presence no window that can still change needs: minutes more than an hour before `before`. */
  prunePresence(before: number): void {
    for (const cp of this.cross.keyPartitions()) cp.presence?.prune(before - EXPECTED_SECONDS - 2 * WINDOW_SECONDS);
  }

  /**
   * Folds the metrics of one log record. Windows are judged against the watermark as it was
   * before the record; the watermark then advances, by event time but never past the record's
   * processing time plus maxFutureSeconds, and the windows it passes close.
   */
  add(metrics: readonly Metric[] | MetricColumns, position: number, next: number, processingTimeMs: number): FoldResult {
    const { length, t: times, value: values, key: keys, tenant: tenants, vm: vms } = metricColumns(metrics);
    const result: FoldResult = { windows: [], late: [] };
    const watermark = this.watermark;
    const lateBound = watermark - this.options.allowedLatenessSeconds;
    const before = this.maxEventTime;
    let revisions: Map<string, Revision> | undefined; // made when a record first revises a window (rare)
    let maxT = before;
    const latest = processingTimeMs / 1000 + this.options.maxFutureSeconds;
    // A record holds a VM's metrics one after the other: its partition is looked up once for them.
    let tenant: string | undefined;
    let vm: string | undefined;
    let vp: BlockPartition | undefined;
    let runStart = 0;
    // The VMs a record newly expects are counted per key and range of windows, not per metric (a record's VMs of one
    // tenant and minute all expect the same windows of each key): the partitions with such counts, in order. Counts a
    // record that failed part way left (its VMs' presence is noted: folded again, they are known) are counted first.
    if (this.unsettled !== undefined) revisions = this.countExpected(this.unsettled, next, revisions);
    const expecting: BlockPartition[] = [];
    this.unsettled = expecting;
    for (let index = 0; index < length; index++) {
      const mt = times[index];
      const t = mt < latest ? mt : latest;
      if (t > maxT) maxT = t;
      const ws = windowStartOf(mt);
      const key = keys[index];
      const value = values[index];
      if (ws + WINDOW_SECONDS <= lateBound) {
        result.late.push({ position, index, key, tenant: tenants[index], vm: vms[index], t: mt, value, watermark });
        continue;
      }
      const mayOpen = ws + WINDOW_SECONDS > watermark;
      if (vp === undefined || tenants[index] !== tenant || vms[index] !== vm) {
        tenant = tenants[index];
        vm = vms[index];
        vp = this.perVm.partitionOf(tenant, vm);
        runStart = index;
      }
      // The key's partition as the last VM's metric at the same place in its run had it (a VM's keys come in the same order).
      const at = index - runStart;
      let cp = at < RUN_KEYS ? this.runParts[at] : undefined;
      if (cp === undefined || this.runKeys[at] !== key) {
        cp = this.cross.partitionOf(key);
        if (at < RUN_KEYS) {
          this.runKeys[at] = key;
          this.runParts[at] = cp;
        }
      }
      // A VM's first metric of the key in this minute: the minute's window counts it (see `expected` for the hour after).
      const presence = (cp.presence ??= new KeyPresence());
      const newVm = presence.add(vp.id, ws);
      if (!this.cross.addOpen(cp, '', ws, value, processingTimeMs, position, before, mayOpen, newVm ? 1 : 0)) {
        this.revise((revisions ??= new Map()), key, undefined, undefined, value, ws, cp, '', next);
        if (newVm) this.cross.bump(cp, ws, Field.VMS, 1);
      }
      if (newVm && presence.coveredTo > presence.coveredFrom) {
        if (cp.expectCount > 0 && cp.expectFrom === presence.coveredFrom && cp.expectTo === presence.coveredTo) cp.expectCount++;
        else {
          // Another range of the key: the VMs counted for the last one are counted first.
          if (cp.expectCount > 0) revisions = this.expected(cp, next, revisions);
          else expecting.push(cp);
          cp.expectCount = 1;
          cp.expectFrom = presence.coveredFrom;
          cp.expectTo = presence.coveredTo;
        }
      }
      if (!this.perVm.addOpen(vp, key, ws, value, processingTimeMs, position, before, mayOpen)) {
        this.revise((revisions ??= new Map()), key, tenant, vm, value, ws, vp, key, next);
      }
    }
    for (let i = 0; i < expecting.length; i++) revisions = this.expected(expecting[i], next, revisions);
    this.unsettled = undefined;
    if (revisions) for (const r of revisions.values()) this.emit(r, result);
    this.maxEventTime = maxT;
    this.closeThrough(this.watermark, -Infinity, result);
    this.passFinal();
    return result;
  }

  /**
   * Moves the final bound up to the watermark minus the allowed lateness and tells `onFinal` the
   * closed windows of each window start it passed. Records are judged by the watermark before them,
   * so no metric can be merged into those windows any more: their values are the last. Every window
   * ending by the watermark is closed by then (closeThrough), and blocks are let go only once all
   * their windows are final (evict), so the blocks held hold every window to tell.
   */
  private passFinal(): void {
    const bound = this.watermark - this.options.allowedLatenessSeconds;
    const before = this.finalBound;
    if (!(bound > before)) return;
    this.finalBound = bound;
    const onFinal = this.onFinal;
    // Most records move the watermark by seconds and pass no window's end.
    if (!onFinal || Math.floor(bound / WINDOW_SECONDS) === Math.floor(before / WINDOW_SECONDS)) return;
    const slots = [...new Set([...this.cross.slotsHeld(), ...this.perVm.slotsHeld()])].sort((a, b) => a - b);
    for (const slot of slots) {
      if (slot + SLOT_SECONDS <= before) continue;
      if (slot + WINDOW_SECONDS > bound) break;
      for (let ws = slot; ws < slot + SLOT_SECONDS && ws + WINDOW_SECONDS <= bound; ws += WINDOW_SECONDS) {
        if (ws + WINDOW_SECONDS <= before) continue;
        const windows = this.cross.closedOf(ws).concat(this.perVm.closedOf(ws));
        if (windows.length > 0) onFinal({ windowStart: ws, windows });
      }
    }
  }

  /**
   * Folds one record at its append time (its processing time, so that replays close the same
   * windows): first what went idle before it, then its metrics; late metrics keep their index in the record.
   */
  step(record: MetricRecord): FoldStep {
    const idle = this.tick(record.appendedAtMs);
    const added = this.add(record.metrics, record.position, record.next, record.appendedAtMs);
    const late = record.indexes ? added.late.map((m) => ({ ...m, index: record.indexes![m.index] })) : added.late;
    return { next: record.next, windows: idle.length ? idle.concat(added.windows) : added.windows, late };
  }

  /** Closes windows no event has reached for the idle time, as of `processingTimeMs`. */
  tick(processingTimeMs: number): WindowEvent[] {
    const result: FoldResult = { windows: [], late: [] };
    this.closeThrough(-Infinity, processingTimeMs - this.options.idleCloseSeconds * 1000, result);
    return result.windows;
  }

  /** Closes every open window (end of a bounded replay). */
  closeAll(): WindowEvent[] {
    const result: FoldResult = { windows: [], late: [] };
    this.closeThrough(Infinity, Infinity, result);
    return result.windows;
  }

  /** Counts the VMs a record that failed part way left in `expecting` partitions (`expected` for each). */
  private countExpected(expecting: readonly BlockPartition[], next: number, revisions: Map<string, Revision> | undefined): Map<string, Revision> | undefined {
    this.unsettled = undefined;
    for (let i = 0; i < expecting.length; i++) if (expecting[i].expectCount > 0) revisions = this.expected(expecting[i], next, revisions);
    return revisions;
  }

  /**
   * VMs' first metrics of a key in a minute: the windows of the hour after that did not expect them
   * yet (see KeyPresence), as `cp` holds them still to count (expectCount VMs, windows after
   * expectFrom through expectTo), expect them; those that are closed are revised.
   */
  private expected(cp: BlockPartition, next: number, revisions: Map<string, Revision> | undefined): Map<string, Revision> | undefined {
    const key = cp.partition[0];
    const count = cp.expectCount;
    cp.expectCount = 0;
    for (const w of this.cross.bumpRange(cp, cp.expectFrom, cp.expectTo, Field.EXPECTED, count)) this.reviseCounts((revisions ??= new Map()), key, cp, w, next);
    return revisions;
  }

  /** A closed cross-tenant window whose expected VMs changed: a revision with no new value, unless the stored window reflects the record. */
  private reviseCounts(revisions: Map<string, Revision>, key: string, part: BlockPartition, ws: number, next: number): void {
    const id = `${ws}${SEP}${key}`;
    if (revisions.has(id)) return;
    const stored = this.cross.getIn(part, '', ws);
    if (!stored || stored.appliedThrough >= next) return;
    const { count, sum, min, max, revision, sketch } = stored.window;
    revisions.set(id, { count, sum, min, max, sketch, key, part, sub: '', windowStart: ws, revision: revision + 1 });
  }

  /**
   * A metric for a closed window (cross-tenant when `sub` is '', else the VM's key), or for one
   * the watermark passed before it had data: a revision emitted with this record, unless the
   * stored window already reflects the record (re-reading after a restart).
   */
  private revise(
    revisions: Map<string, Revision>, key: string, tenant: string | undefined, vm: string | undefined, value: number,
    ws: number, part: BlockPartition, sub: string, next: number,
  ): void {
    const perVm = part.partition.length > 1;
    const id = perVm ? `${ws}${SEP}${tenant}${SEP}${vm}${SEP}${key}` : `${ws}${SEP}${key}`;
    const pending = revisions.get(id);
    if (pending) {
      addTo(pending, value);
      return;
    }
    const stored = (perVm ? this.perVm : this.cross).getIn(part, sub, ws);
    if (stored && stored.appliedThrough >= next) return;
    // Written out, not spread: every revision (this one, reviseCounts') then has one shape, which the
    // fold's late path reads monomorphically (a late record revises a window per metric).
    const w = stored?.window;
    const r: Revision = w
      ? { count: w.count, sum: w.sum, min: w.min, max: w.max, sketch: w.sketch, key, part, sub, windowStart: ws, revision: w.revision + 1 }
      : { count: 0, sum: 0, min: Infinity, max: -Infinity, sketch: undefined, key, part, sub, windowStart: ws, revision: 1 };
    if (perVm) {
      r.tenant = tenant;
      r.vm = vm;
    }
    addTo(r, value);
    revisions.set(id, r);
  }

  /**
   * Closes, window start by window start, the open windows that ended by `watermark`, and those
   * idle since `idleBeforeMs`: cross-tenant windows first, then the VMs'.
   */
  private closeThrough(watermark: number, idleBeforeMs: number, result: FoldResult): void {
    const starts = new Set([...this.cross.openStarts(), ...this.perVm.openStarts()]);
    for (const ws of [...starts].sort((a, b) => a - b)) {
      const passed = ws + WINDOW_SECONDS <= watermark;
      if (!passed && idleBeforeMs === -Infinity) continue; // no idle check asked for
      const closeArrivedBy = passed ? Infinity : idleBeforeMs;
      this.closeIn(this.cross, ws, closeArrivedBy, result);
      this.closeIn(this.perVm, ws, closeArrivedBy, result);
    }
  }

  private closeIn(blocks: MinuteBlocks, ws: number, idleBeforeMs: number, result: FoldResult): void {
    const n = blocks.closeMinute(ws, idleBeforeMs, this.out(result), this.events);
    this.emitted.windows += n;
  }

  private emit(r: Revision, result: FoldResult): void {
    const cross = r.tenant === undefined;
    (cross ? this.cross : this.perVm).applyIn(r.part, r.sub, r.windowStart, r, r.revision);
    this.emitted.windows++;
    if (r.revision > 1) this.emitted.revisions++;
    const out = this.out(result);
    if (!out) return;
    const extras: WindowExtras = {};
    if (cross) [extras.vms, extras.expectedVms] = this.cross.fleetAt(r.part, r.windowStart);
    if (this.events && r.sketch && r.count >= 3) extras.sketch = sketchBytes(r.sketch);
    out.record(r.key, r.tenant, r.vm, r.windowStart, r.count, r.sum, r.min, r.max, r.revision, extras);
  }

  /** Where emitted revisions go: events into `result`, the recorder, both, or nowhere. */
  private out(result: FoldResult): WindowRecorder | undefined {
    const recorder = this.recorder;
    if (!this.events) return recorder;
    const collect = eventCollector(result.windows);
    if (!recorder) return collect;
    return {
      record(...fields) {
        collect.record(...fields);
        recorder.record(...fields);
      },
    };
  }
}

/** A block `add` needs in memory: one slot's, or with `from` every slot of the partition from `slot` on. */
export interface BlockToLoad {
  grouping: 'minute' | 'vmMinute';
  partition: string[];
  slot: number;
  from?: boolean;
}

function addTo(w: Aggregate & { sketch?: DDSketch }, value: number): void {
  w.sketch = sketchAfter(w.count, w.min, w.max, w.sketch, value);
  w.count++;
  w.sum += value;
  if (value < w.min) w.min = value;
  if (value > w.max) w.max = value;
}
