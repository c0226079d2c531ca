import type { BlockTable, LogRecord, Row, RowTable, StoredBlock } from '../src/core/ports';
import type { ApplyHow, Checkpoint, FlushWork, Fold, FoldContext, Prepared } from '../src/core/projection';
import { decodeEvent, decodeMetricColumns, type MetricsRecordColumns } from '../src/core/logCodec';
import { boundedJson } from '../src/core/boundedJson';
import { METRIC_GATE_VERSION, metricRejection } from '../src/core/metricRejection';
import { MAX_RAW_CHARS } from '../src/core/validateSpoc';
import type { OpsEvent } from '../src/core/events';
import { metricColumns, type Metric, type MetricColumns } from '../src/core/metric';
import { undecodable } from '../src/core/quarantine';
import { isRecordFault, reasonOf } from '../src/core/recordFault';
import { mapConcurrently } from '../src/core/mapConcurrently';
import { isFinal, windowStartOf, WINDOW_SECONDS, type WindowEvent, type WindowRecorder } from '../src/core/windowMath';
import type { FinalSink } from '../src/core/windowStream';
import { MinuteBlocks, SLOT_SECONDS, slotStartOf, type BlockOfBytes } from './minuteBlocks';
import { blockText } from './blockCodec';
import { loadRecentWindows } from './loadRecentWindows';
import { EVENT_HUBS_LATE_SPAN, FILE_LOG_LATE_SPAN, LateLedger } from './lateLedger';
import { catalogRowsOf, readVmCatalog } from './vmCatalog';
import { WindowFolder, type FolderCheckpoint, type FoldStep, type WindowOptions } from './WindowFolder';
import type { WindowsTables } from './windowsProjection';

/**
 * Late-ledger pages waiting to be written (JSON characters) before they are written at once, flush
 * or not: a log of mostly too-late metrics holds memory to this, however long (~30,000 metrics).
 */
const LATE_PENDING_CHARS = 1_000_000;
/** VMs' blocks made text and written at a time (see writeInOrder). */
const VM_TEXT_PART = 256;
/** Probed block and row ids (cleared beyond this many): '' when the store took the key, else why it refused it. */
const MAX_PROBED = 100_000;

export interface WindowsConfig {
  windows: WindowOptions;
  /** Told every emitted window revision, as it is emitted; without it none is built (a replay goes faster). */
  onWindow?: (window: WindowEvent) => void;
  /** Told every emitted revision as fields, as it is emitted (a rebuild's event history: no object per window). */
  recorder?: WindowRecorder;
  /** Log positions per span of the late ledger (see LateLedger): by default the file log's, or an Event Hubs partition's with a scope. */
  lateSpan?: number;
  /**
   * With a scope, this run's cross-tenant windows are only its partition's share: they are then
   * held back from `onWindow` and handed here after the flush that made them durable, so that
   * whoever merges them with the other scopes' shares reads after this share was written.
   */
  onCrossTenantFlushed?: (windows: WindowEvent[]) => Promise<void>;
  /**
   * Told each window start's windows once they are final (WindowFolder.onFinal), and awaited
   * (`durable`) before each checkpoint, which then records how far they were told (`finalThrough`):
   * a restart tells again only the starts after it, with the ids they had (see FinalSink).
   */
  finals?: FinalSink;
}

export interface WindowsStats {
  /** As of the last flush. */
  watermark: number;
  /** Windows ending by this are final, as of the last flush (or the checkpoint resumed from): what readers may call final. */
  finalThrough: number;
  windowsEmitted: number;
  revisions: number;
  late: number;
  metrics: number;
}

/** The metrics of one record to fold, with their indexes in it when some were left out. */
interface Kept extends Prepared {
  metrics: readonly Metric[];
  indexes?: number[];
}

/** What `apply` folds: the metrics as columns. */
interface KeptColumns extends Prepared {
  metrics: MetricColumns;
  indexes?: number[];
}

/** A whole record's metrics as columns; decoded as an event only for a quarantine entry, should it be set aside. */
class DecodedColumns implements KeptColumns {
  constructor(readonly metrics: MetricColumns, private readonly payload: Buffer) {}
  get decoded(): OpsEvent {
    return decodeEvent(this.payload);
  }
}

/**
 * Folds metric records into the minute-average projections with the packed fast paths
 * (WindowFolder over MinuteBlocks): cross-tenant and per-VM blocks, the late-events ledger and
 * the catalog. What cannot be applied goes to the quarantine: a record that does not decode, a
 * metric the gate refuses now (written before the gate), a metric whose keys the store refuses
 * (found when reading its blocks fails, or by a careful pass after a failed write).
 */
export class WindowsFold implements Fold<WindowsTables, WindowsStats> {
  readonly stats: WindowsStats = { watermark: -Infinity, finalThrough: -Infinity, windowsEmitted: 0, revisions: 0, late: 0, metrics: 0 };
  readonly tickMs?: number;
  private readonly late: LateLedger;
  private crossPending: WindowEvent[] = [];
  private folder?: WindowFolder;
  private tables?: WindowsTables;
  /** The rebuild's write of sealed slots in flight: blocks of slots that ended by `endedBy` are on their way to the table. */
  private sealing?: { endedBy: number; done: Promise<void> };
  private lastSealed = -Infinity;
  /** Where telling final windows began in this version (see Checkpoint.finalFrom); undefined until a run tells them. */
  private finalFrom?: number;
  private readonly probed = new Map<string, string>();

  constructor(private readonly config: WindowsConfig, private readonly context: FoldContext) {
    const { scope, follow } = context;
    this.late = new LateLedger(config.lateSpan ?? (scope ? EVENT_HUBS_LATE_SPAN : FILE_LOG_LATE_SPAN));
    if (follow) this.tickMs = Math.min(1000, config.windows.idleCloseSeconds * 1000);
  }

  async open(tables: WindowsTables, checkpoint: Checkpoint | undefined): Promise<void> {
    this.tables = tables;
    const { windows, recorder } = this.config;
    const fresh = checkpoint === undefined;
    const folder = new WindowFolder(windows, new MinuteBlocks('minute', fresh), new MinuteBlocks('vmMinute', fresh), checkpoint && boundedResume(checkpoint, windows.maxFutureSeconds));
    folder.recorder = recorder;
    const { finals } = this.config;
    if (finals) folder.onFinal = (minute) => finals.told(minute);
    // A rebuild tells none: the version's first run that does sets where they begin.
    const from = checkpoint?.finalFrom;
    this.finalFrom = from === null ? -Infinity : from ?? (finals ? folder.finalThrough : undefined);
    this.folder = folder;
    this.stats.finalThrough = folder.finalThrough;
    if (fresh) return;
    const catalog = await this.loadCatalog(folder, tables.catalog);
    await loadRecentWindows(folder, tables, catalog);
    if (finals) await this.loadNotFinal(folder, tables);
    // Folding again from inside a span of the late ledger: go on from its stored pages (later spans are folded whole again).
    this.late.resume(await tables.late.list(this.late.spanQuery(checkpoint.resumeFrom)));
  }

  /**
   * The metrics of a record to fold, passing over what the quarantine holds of it and quarantining
   * what cannot be applied: a record that does not decode, metrics the gate refuses now, metrics
   * whose keys the store refuses (tried first in a careful pass, or when reading their blocks fails).
   */
  async prepare(record: LogRecord, how: ApplyHow): Promise<KeptColumns | undefined> {
    // Nearly every record: admitted at ingest, nothing of it quarantined, not folded carefully. Its metrics are
    // decoded as columns (no object per metric).
    if (how.skip === undefined && !how.careful) {
      let decoded: MetricsRecordColumns | undefined;
      try {
        decoded = decodeMetricColumns(record.payload);
      } catch (error) {
        this.context.quarantine(undecodable('windows', record, error));
        return undefined;
      }
      if (decoded?.columns.length === 0) return undefined;
      // (A record of another type is decoded below: one the reader does not know is quarantined.)
      if (decoded !== undefined && decoded.gate >= METRIC_GATE_VERSION) {
        try {
          await this.prefetch(decoded.columns);
          return new DecodedColumns(decoded.columns, record.payload);
        } catch (error) {
          // Keys the store refuses: the metrics are tried one by one below.
          if (!isRecordFault(error)) throw error;
        }
      }
    }
    const kept = await this.prepareMetrics(record, how);
    return kept && { metrics: metricColumns(kept.metrics), indexes: kept.indexes, decoded: kept.decoded };
  }

  /** `prepare` with the metrics as objects: a record from before the gate, with metrics quarantined, or folded carefully. */
  private async prepareMetrics(record: LogRecord, { skip, careful }: ApplyHow): Promise<Kept | undefined> {
    let event: OpsEvent;
    try {
      event = decodeEvent(record.payload);
    } catch (error) {
      this.context.quarantine(undecodable('windows', record, error));
      return undefined;
    }
    if (event.type !== 'MetricsReceived' || event.metrics.length === 0) return undefined;
    let kept = keptOf(event.metrics, skip);
    // A record the gate admitted at ingest is folded as it is; an older one's metrics pass the gate here, their
    // arrival the later of reception and append (the ingest gate's clock, or the log's on Event Hubs).
    if ((event.gate ?? 0) < METRIC_GATE_VERSION) kept = this.admit(kept, record.position, Math.max(record.appendedAtMs, event.receivedAtMs));
    if (careful) kept = await this.probe(record.position, kept);
    try {
      await this.prefetch(kept.metrics);
    } catch (error) {
      if (!isRecordFault(error)) throw error;
      kept = await this.probe(record.position, kept);
      await this.prefetch(kept.metrics);
    }
    return kept.metrics.length === 0 ? undefined : { ...kept, decoded: event };
  }

  apply(record: LogRecord, kept: KeptColumns): void {
    const folder = this.folder!;
    this.stats.metrics += kept.metrics.length;
    folder.events = this.eventsWanted;
    this.emit(folder.step({ position: record.position, next: record.next, appendedAtMs: record.appendedAtMs, metrics: kept.metrics, indexes: kept.indexes }));
  }

  tick(nowMs: number): void {
    const windows = this.folder!.tick(nowMs);
    if (windows.length > 0) this.emit({ windows, late: [] });
  }

  /**
   * Writes early what a flush would: late-ledger pages piling up (mostly too-late data: memory stays
   * bounded), and in a rebuild the slots the watermark has left, while the fold goes on.
   */
  async afterBatch(): Promise<void> {
    const folder = this.folder!;
    const { late, minute, vmMinute } = this.tables!;
    // Taken when the write runs, behind the writes already queued, so a page is never written over by an older copy of itself.
    if (this.late.pendingChars > LATE_PENDING_CHARS) await this.context.startWrite(() => late.upsert(this.late.take()));
    // Blocks are let go once sealed: with final windows to tell, only once all of theirs are final (told).
    const sealed = slotStartOf(this.config.finals ? folder.finalThrough : folder.watermark);
    if (!this.context.follow && sealed > this.lastSealed && !Number.isNaN(sealed)) {
      // A rebuild: once the watermark leaves a 15-minute slot, its blocks are (nearly always) final; write them
      // while the fold goes on. No checkpoint: the blocks carry the position they reflect, which is all a restart needs.
      this.lastSealed = sealed;
      const { done } = await this.context.startWrite(() => this.writeSealed(folder, sealed, minute, vmMinute));
      this.sealing = { endedBy: sealed, done };
    }
  }

  end(): void {
    const folder = this.folder!;
    folder.events = this.eventsWanted;
    this.emit({ windows: folder.closeAll(), late: [] });
  }

  /** What a flush writes, taken from the state at once (blocks encoded), so that the state may move on while it is written. */
  take(position: number): FlushWork {
    const folder = this.folder!;
    const t = this.tables!;
    const crossBlocks = folder.cross.takeDirty(position);
    const vmBlocks = folder.perVm.takeDirtyBytes(position);
    const lateRows = this.late.take();
    const cross = this.crossPending;
    this.crossPending = [];
    // Where a restart resumes, as of `position`: taken now, since the fold goes on while this is written. Read after the
    // write, an open window that a later record closed meanwhile would be left out, though its block is not written yet.
    // Every window ending by `finalThrough` has been told final (synchronously, as the watermark passed it).
    const { maxEventTime } = folder.checkpoint();
    const resumeFrom = folder.resumePosition(position);
    const finalThrough = folder.finalThrough;
    const finals = this.config.finals;
    // A VM's newest window moved: its tenant's rows are written again, from all the tenant's VMs.
    const tenants = new Set(folder.perVm.takeCatalog().map(({ partition: [tenant] }) => tenant));
    const catalogRows: Row[] = [
      ...folder.cross.takeCatalog().map(({ partition: [key], newest }): Row => ({ partition: ['key'], row: key, fields: { key, newest: newest.get('') as number } })),
      ...[...tenants].flatMap((tenant) => catalogRowsOf(tenant, folder.perVm.vmPartitionsOf(tenant).map((p) => ({ vm: p.partition[1], keys: p.subs, newest: p.newestAt })))),
    ];
    return {
      empty: crossBlocks.length + vmBlocks.length + lateRows.length + catalogRows.length === 0,
      async write() {
        // Every key is tried first, so that keys the store refuses fail the flush before anything of it is written:
        // a block written with a metric that a careful pass then quarantines would keep it (its position says it has it).
        checkKeys(t.minute, crossBlocks);
        checkKeys(t.vmMinute, vmBlocks);
        checkRowKeys(t.late, lateRows);
        checkRowKeys(t.catalog, catalogRows);
        // The final notices told so far are kept before the checkpoint that says they were told.
        await Promise.all([writeInOrder(t, crossBlocks, vmBlocks), t.late.upsert(lateRows), t.catalog.upsert(catalogRows), finals?.durable()]);
      },
      resume: () => ({ resumeFrom, maxEventTime, finalThrough, finalFrom: this.finalFrom }),
      done: async () => {
        if (cross.length > 0) await this.config.onCrossTenantFlushed?.(cross);
        const evictBefore = folder.watermark - this.config.windows.allowedLatenessSeconds;
        folder.cross.evict(evictBefore);
        folder.perVm.evict(evictBefore);
        folder.prunePresence(evictBefore);
        this.stats.watermark = folder.watermark;
        this.stats.finalThrough = finalThrough;
        this.stats.windowsEmitted = folder.emitted.windows;
        this.stats.revisions = folder.emitted.revisions;
      },
    };
  }

  /** Whether window events are wanted at all (building them costs a replay noticeable time). */
  private get eventsWanted(): boolean {
    return this.config.onWindow !== undefined || this.config.onCrossTenantFlushed !== undefined;
  }

  private emit(step: FoldStep): void {
    for (const w of step.windows) this.publish(w);
    const folder = this.folder!;
    this.stats.windowsEmitted = folder.emitted.windows;
    this.stats.revisions = folder.emitted.revisions;
    for (const m of step.late) this.late.add(m);
    this.stats.late += step.late.length;
  }

  private publish(w: WindowEvent): void {
    if (w.tenant === undefined && this.config.onCrossTenantFlushed) this.crossPending.push(w);
    else this.config.onWindow?.(w);
  }

  /**
   * Tries the storage keys each metric needs (its blocks, or its late-ledger row), once per block:
   * with the tables' checkKeys (no I/O), else by reading them. A metric whose keys the store
   * refuses is quarantined and left out.
   */
  private async probe(position: number, kept: Kept): Promise<Kept> {
    if (this.probed.size > MAX_PROBED) this.probed.clear();
    const lateBound = this.folder!.watermark - this.config.windows.allowedLatenessSeconds;
    const probes = kept.metrics.map((m) => probesOf(m, lateBound, this.tables!));
    const unknown = new Map(probes.flat().filter(([id]) => !this.probed.has(id)));
    const ids = [...unknown.keys()];
    for (let i = 0; i < ids.length; i += 16) {
      await Promise.all(ids.slice(i, i + 16).map(async (id) => {
        try {
          await unknown.get(id)!();
          this.probed.set(id, '');
        } catch (error) {
          if (!isRecordFault(error)) throw error;
          this.probed.set(id, reasonOf(error));
        }
      }));
    }
    return this.leaveOut(kept, position, (_, j) => probes[j].map(([id]) => this.probed.get(id)).find((reason) => reason !== undefined && reason !== ''), (m) => JSON.stringify(m));
  }

  /**
   * The metrics of a record written before the gate that pass it now; each refused one (epoch
   * milliseconds, year 3000, a lone surrogate, ids too long for a key…) is quarantined and left out.
   */
  private admit(kept: Kept, position: number, arrivalMs: number): Kept {
    const limits = { arrivalMs, maxFutureSeconds: this.config.windows.maxFutureSeconds };
    return this.leaveOut(kept, position, (m) => metricRejection(m, limits), (m) => boundedJson(m, MAX_RAW_CHARS));
  }

  /** The metrics `refusal` has no reason against; each one it refuses is quarantined, with `raw` of it. */
  private leaveOut(kept: Kept, position: number, refusal: (m: Metric, j: number) => string | undefined, raw: (m: Metric) => string): Kept {
    const reasons = kept.metrics.map(refusal);
    if (reasons.every((reason) => reason === undefined)) return kept;
    const out: Kept = { metrics: [], indexes: [] };
    kept.metrics.forEach((m, j) => {
      const index = kept.indexes?.[j] ?? j;
      const reason = reasons[j];
      if (reason === undefined) {
        (out.metrics as Metric[]).push(m);
        out.indexes!.push(index);
      } else {
        this.context.quarantine({ projection: 'windows', position, index, reason, raw: raw(m) });
      }
    });
    return out;
  }

  /**
   * Seeds the newest-window catalog from its table, so a restart never moves an entry back, and
   * so that every VM of a tenant is known before the tenant's catalog rows are rewritten.
   */
  private async loadCatalog(folder: WindowFolder, catalog: RowTable): Promise<Row[]> {
    const rows = await catalog.list();
    for (const row of rows) {
      if (row.partition[0] === 'key') folder.cross.seedCatalog([String(row.fields.key)], [['', Number(row.fields.newest)]]);
    }
    for (const [tenant, vms] of readVmCatalog(rows)) {
      for (const [vm, newest] of vms) folder.perVm.seedCatalog([tenant, vm], newest);
    }
    return rows;
  }

  /**
   * After a restart, the blocks of every window not final yet (those the catalog says have one
   * ending after the final bound): the fold must hold each of them when the watermark passes it, to
   * tell it final, also when no metric for its block comes again.
   */
  private async loadNotFinal(folder: WindowFolder, tables: WindowsTables): Promise<void> {
    const from = folder.finalThrough;
    if (!Number.isFinite(from)) return;
    const firstSlot = slotStartOf(windowStartOf(from));
    const wanted: { blocks: MinuteBlocks; table: BlockTable; partition: readonly string[]; newest: number }[] = [];
    for (const { table, blocks } of [{ table: tables.minute, blocks: folder.cross }, { table: tables.vmMinute, blocks: folder.perVm }]) {
      for (const p of blocks.partitionsWithNewest()) {
        const newest = Math.max(...p.newest.values());
        // Partitions loadRecentWindows already read as a range from here on are not read again.
        if (!isFinal(newest, from) && !blocks.isKnownFrom(p, firstSlot)) wanted.push({ blocks, table, partition: p.partition, newest });
      }
    }
    await mapConcurrently(wanted, 16, async ({ blocks, table, partition, newest }) => {
      const last = slotStartOf(newest);
      const found = new Map((await table.readRange(partition, firstSlot, last)).map((b) => [b.row, b]));
      for (let slot = firstSlot; slot <= last; slot += SLOT_SECONDS) blocks.load(partition, slot, found.get(slot));
    });
  }

  private async prefetch(metrics: readonly Metric[] | MetricColumns): Promise<void> {
    const folder = this.folder!;
    const needed = folder.blocksToLoad(metrics);
    if (needed.length === 0) return;
    const { minute, vmMinute } = this.tables!;
    // Late data for a slot let go while its write is in flight: read it back once it is in the table.
    const sealing = this.sealing;
    if (sealing && needed.some(({ slot }) => slot + SLOT_SECONDS <= sealing.endedBy)) await sealing.done;
    for (let i = 0; i < needed.length; i += 16) {
      await Promise.all(needed.slice(i, i + 16).map(async ({ grouping, partition, slot, from }) => {
        const blocks = grouping === 'minute' ? folder.cross : folder.perVm;
        const table = grouping === 'minute' ? minute : vmMinute;
        if (from) folder.loadKeyFrom(partition[0], slot, await table.readRange(partition, slot, Number.MAX_SAFE_INTEGER));
        else blocks.load(partition, slot, await table.read(partition, slot));
      }));
    }
  }

  /** Writes the dirty blocks of the slots that ended by `endedBy` (the watermark's slot start). */
  private async writeSealed(folder: WindowFolder, endedBy: number, minute: BlockTable, vmMinute: BlockTable): Promise<void> {
    const position = this.context.readThrough();
    const cross = folder.cross.takeDirty(position, endedBy);
    const perVm = folder.perVm.takeDirtyBytes(position, endedBy);
    // Encoded, so let them go at once: memory stays at about one slot however long the log. Late data
    // for them reads them back from the table once this write is done (see prefetch).
    folder.cross.evict(endedBy);
    folder.perVm.evict(endedBy);
    checkKeys(minute, cross);
    checkKeys(vmMinute, perVm);
    await writeInOrder({ minute, vmMinute }, cross, perVm);
  }
}

/**
 * Cross-tenant blocks first, then the VMs': after a crash between the two, a VM's block never
 * reflects a record its key's cross-tenant block does not. A restart reads which VMs reported
 * what from the VMs' blocks (loadRecentWindows), so a record folded again then finds a VM's
 * minute new exactly when the cross-tenant windows have not counted it.
 */
async function writeInOrder(t: { minute: BlockTable; vmMinute: BlockTable }, cross: StoredBlock[], perVm: readonly BlockOfBytes[]): Promise<void> {
  await t.minute.write(cross);
  // The VMs' blocks are made text a part at a time, as they are written: the text of a slot's blocks made at once (some
  // 15 MB for 2,000 VMs) outlived young-generation collections and was copied into the old generation (at 2M metrics
  // 20 of the 40 MB a fold promoted). Two parts in flight, so that the store is never left idle between them (a part's
  // last requests finishing alone made a 2M-metric replay's windows 9% slower).
  let previous: Promise<void> | undefined;
  for (let i = 0; i < perVm.length; i += VM_TEXT_PART) {
    const current = t.vmMinute.write(perVm.slice(i, i + VM_TEXT_PART).map((b) => ({ ...b, data: blockText(b.data) })));
    current.catch(() => undefined); // awaited below: its failure is thrown there
    await previous;
    previous = current;
  }
  await previous;
}

/** The metrics of a record the quarantine does not hold. */
function keptOf(metrics: readonly Metric[], skip: ReadonlySet<number> | undefined): Kept {
  if (skip === undefined) return { metrics };
  const indexes = metrics.map((_, i) => i).filter((i) => !skip.has(i));
  return { metrics: indexes.map((i) => metrics[i]), indexes };
}

/**
 * The reads that try the storage keys a metric needs, by id: its two blocks, or, when it is too
 * late for any window, its row in the late-events ledger. The catalog's keys are parts of the blocks'.
 */
function probesOf(m: Metric, lateBound: number, t: WindowsTables): [string, () => Promise<unknown>][] {
  const ws = windowStartOf(m.t);
  // Too late for any window: it goes into a late-ledger page, whose keys are log positions, not its ids.
  if (ws + WINDOW_SECONDS <= lateBound) return [];
  const slot = slotStartOf(ws);
  return [
    [JSON.stringify(['minute', m.key, slot]), () => tryBlock(t.minute, [m.key], slot)],
    [JSON.stringify(['vmMinute', m.tenant, m.vm, slot]), () => tryBlock(t.vmMinute, [m.tenant, m.vm], slot)],
  ];
}

/** Tries a block's keys: without I/O where the table can, else by reading it. */
async function tryBlock(table: BlockTable, partition: readonly string[], slot: number): Promise<unknown> {
  return table.checkKeys ? table.checkKeys(partition, slot) : table.read(partition, slot);
}

function checkKeys(table: BlockTable, blocks: readonly Pick<StoredBlock, 'partition' | 'row'>[]): void {
  if (table.checkKeys) for (const b of blocks) table.checkKeys(b.partition, b.row);
}

function checkRowKeys(table: RowTable, rows: readonly Row[]): void {
  if (table.checkKeys) for (const r of rows) table.checkKeys(r.partition, r.row);
}

/**
 * A checkpoint taken before the watermark was bounded by arrival may hold a far-future event time
 * (a metric at year 3000 took every later one to the late ledger): bound it by the checkpoint's own
 * time, which is later than every record it covers. (An event time of -Infinity is stored as null.)
 */
function boundedResume(checkpoint: Checkpoint, maxFutureSeconds: number): FolderCheckpoint {
  const bound = checkpoint.atMs / 1000 + maxFutureSeconds;
  const resume: FolderCheckpoint = { maxEventTime: Number.isFinite(bound) && checkpoint.maxEventTime > bound ? bound : checkpoint.maxEventTime };
  // Absent from checkpoints taken before finality was kept; null when it was -Infinity (JSON).
  if (checkpoint.finalThrough !== undefined) resume.finalThrough = checkpoint.finalThrough ?? -Infinity;
  return resume;
}
