import { Subject, type Observable } from 'rxjs';
import type { BlockTable, EventLog, Row, RowTable, StoredBlock, TableStore } from '../src/core/ports';
import { decodeEvent } from '../src/core/logCodec';
import { boundedJson } from '../src/core/boundedJson';
import type { Metric } from '../src/core/metric';
import { METRIC_GATE_VERSION, metricRejection } from '../src/core/metricRejection';
import type { QuarantineSink } from '../src/core/quarantine';
import { MAX_RAW_CHARS } from '../src/core/validateSpoc';
import type { WindowEvent, WindowRecorder } from '../src/core/windowMath';
import { MinuteBlocks, SLOT_SECONDS, slotStartOf } from '../projections/minuteBlocks';
import { CATALOG_LAYOUT, MINUTE_LAYOUT, VM_MINUTE_LAYOUT, windowTables, type WindowTables } from '../projections/projectionCatalog';
import { EVENT_HUBS_LATE_SPAN, FILE_LOG_LATE_SPAN, LateLedger } from '../projections/lateLedger';
import { readVmCatalog, vmCatalogRows } from '../projections/vmCatalog';
import { WindowFolder, type FolderCheckpoint, type WindowOptions } from './WindowFolder';
import { foldWindows, type FoldStep, type MetricRecord } from './foldWindows';
import { SerialQueue } from './SerialQueue';
import type { Checkpoint, ProjectionVersions } from './projectionVersions';

/**
 * The log is folded in batches of this much. Between two, the writes in flight go on (their answers
 * and next requests wait for this thread) and a rebuild seals the slots the watermark has left, so
 * smaller batches keep the table store busy while the fold runs; 4 MB ones left it idle for ~70 ms.
 */
const READ_BATCH_BYTES = 512 * 1024;
/**
 * Late-ledger pages waiting to be written (JSON characters) before they are written at once, flush
 * or not: a log of mostly too-late metrics holds memory to this, however long (~30,000 metrics).
 */
const LATE_PENDING_CHARS = 1_000_000;

export interface WindowsProjectorOptions {
  log: EventLog;
  tables: TableStore;
  versions: ProjectionVersions;
  tablePrefix: string;
  version: number;
  windows: WindowOptions;
  /** How often dirty blocks are written and a checkpoint taken (processing time). */
  flushIntervalMs: number;
  /** Follow the log's tail (the service) or stop at its end (a rebuild). */
  follow: boolean;
  /** Called once per batch of records with how far the fold has come (for progress bars). */
  onProgress?: (position: number) => void;
  /** Awaited after each batch of records: lets a consumer that writes the windows keep up (a rebuild's event history). */
  afterBatch?: () => Promise<void>;
  /** Told every emitted revision as fields, as it is emitted (a rebuild's event history: no object per window). */
  recorder?: WindowRecorder;
  /** The log partition this projector folds ('' for the whole file log); see scopeOfPartition. */
  scope?: string;
  /** Log positions per span of the late ledger (see LateLedger): by default the file log's, or an Event Hubs partition's with a scope. */
  lateSpan?: number;
  /** After each checkpoint is durable (e.g. to move an Event Hubs checkpoint to `resumeFrom`). */
  onCheckpoint?: (checkpoint: Checkpoint) => Promise<void>;
  /**
   * With a scope, this projector's cross-tenant windows are only its partition's share: they are
   * then held back from `windows$` and handed here after the flush that made them durable, so
   * that whoever merges them with the other scopes' shares reads after this share was written.
   */
  onCrossTenantFlushed?: (windows: WindowEvent[]) => Promise<void>;
  /**
   * Told each metric the gate refuses at fold time (a log written before the gate may hold what it
   * refuses: epoch milliseconds, year 3000, lone surrogates, ids too long for a key); the metric is
   * not folded, the rest of its record is. Without a sink such metrics are only counted.
   */
  quarantine?: QuarantineSink;
  now?: () => number;
}

export interface ProjectorStats {
  position: number;
  watermark: number;
  windowsEmitted: number;
  revisions: number;
  late: number;
  metrics: number;
  /** Metrics the gate refused at fold time (handed to the quarantine sink, not folded). */
  quarantined: number;
  flushes: number;
}

/**
 * Folds the log into the minute-average projections: cross-tenant and per-VM blocks, the
 * late-events ledger and the catalog. Effects are written before the checkpoint that covers
 * them, and every write is idempotent, so a crash at any moment neither loses nor doubles.
 */
export class WindowsProjector {
  readonly stats: ProjectorStats = { position: 0, watermark: -Infinity, windowsEmitted: 0, revisions: 0, late: 0, metrics: 0, quarantined: 0, flushes: 0 };
  private readonly windowSubject = new Subject<WindowEvent>();
  /** Every emitted window revision, as it is emitted. */
  readonly windows$: Observable<WindowEvent> = this.windowSubject.asObservable();
  private readonly names: WindowTables;
  private readonly writes = new SerialQueue();
  private readonly late: LateLedger;
  private crossPending: WindowEvent[] = [];
  private processedThrough = 0;
  private folder?: WindowFolder;
  /** The rebuild's write of sealed slots in flight: blocks of slots that ended by `endedBy` are on their way to the table. */
  private sealing?: { endedBy: number; done: Promise<void> };

  constructor(private readonly options: WindowsProjectorOptions) {
    this.names = windowTables(options.tablePrefix, options.version, options.scope);
    this.late = new LateLedger(options.lateSpan ?? (options.scope ? EVENT_HUBS_LATE_SPAN : FILE_LOG_LATE_SPAN));
  }

  /** Runs until the log's end (follow: false) or until `signal` aborts (follow: true). */
  async run(signal?: AbortSignal): Promise<ProjectorStats> {
    const { log, tables, versions, version, flushIntervalMs, follow } = this.options;
    const now = this.options.now ?? Date.now;
    const [minute, vmMinute, late, catalog] = await Promise.all([
      tables.blockTable(this.names.minute, MINUTE_LAYOUT),
      tables.blockTable(this.names.vmMinute, VM_MINUTE_LAYOUT),
      tables.rowTable(this.names.late),
      tables.rowTable(this.names.catalog, CATALOG_LAYOUT),
    ]);
    const checkpoint = await versions.checkpoint('windows', version, this.options.scope);
    const fresh = checkpoint === undefined;
    const folder = new WindowFolder(this.options.windows, new MinuteBlocks('minute', fresh), new MinuteBlocks('vmMinute', fresh), checkpoint && boundedResume(checkpoint, this.options.windows.maxFutureSeconds));
    this.folder = folder;
    folder.recorder = this.options.recorder;
    if (!fresh) await this.loadCatalog(folder, catalog);
    // Folding again from inside a span of the late ledger: go on from its stored pages (later spans are folded whole again).
    if (!fresh) this.late.resume(await late.list(this.late.spanQuery(checkpoint.resumeFrom)));
    this.processedThrough = checkpoint?.position ?? 0;
    const records = new Subject<MetricRecord>();
    const folded = records.pipe(foldWindows(folder, follow ? { idleTickMs: Math.min(1000, this.options.windows.idleCloseSeconds * 1000) } : {}));
    const subscription = folded.subscribe((step) => this.take(step));
    const projectionTables = { minute, vmMinute, late, catalog };
    const flush = () => this.writes.run(() => this.flush(folder, projectionTables));
    const timer = follow ? setInterval(() => void flush().catch((e) => records.error(e)), flushIntervalMs) : undefined;
    let lastFlush = now();
    let inFlight: Promise<void> | undefined;
    let lastSealed = -Infinity;
    try {
      for await (const batch of log.read(checkpoint?.resumeFrom ?? 0, { follow, signal, maxBatchBytes: READ_BATCH_BYTES })) {
        for (const record of batch) {
          const event = decodeEvent(record.payload);
          // A record the gate admitted at ingest is folded as it is; an older one's metrics pass the gate here, their
          // arrival the later of reception and append (the ingest gate's clock, or the log's on Event Hubs).
          const admitted = event.type !== 'MetricsReceived' || event.metrics.length === 0 ? undefined
            : (event.gate ?? 0) >= METRIC_GATE_VERSION ? { metrics: event.metrics }
            : this.admit(event.metrics, record.position, Math.max(record.appendedAtMs, event.receivedAtMs));
          if (admitted && admitted.metrics.length > 0) {
            await this.prefetch(folder, admitted.metrics, minute, vmMinute);
            this.stats.metrics += admitted.metrics.length;
            folder.events = this.eventsWanted;
            records.next({ position: record.position, next: record.next, appendedAtMs: record.appendedAtMs, ...admitted });
          }
          this.processedThrough = Math.max(this.processedThrough, record.next);
        }
        this.options.onProgress?.(this.processedThrough);
        await this.options.afterBatch?.();
        if (this.late.pendingChars > LATE_PENDING_CHARS) {
          // Mostly too-late data: its pages are written now, not at the next flush, so memory stays bounded. Taken when
          // the write runs, behind the writes already queued, so a page is never written over by an older copy of itself.
          await inFlight;
          inFlight = this.writes.run(() => late.upsert(this.late.take()));
          inFlight.catch(() => undefined);
        }
        const sealed = slotStartOf(folder.watermark);
        if (!follow && sealed > lastSealed && !Number.isNaN(sealed)) {
          // A rebuild: once the watermark leaves a 15-minute slot, its blocks are (nearly always) final; write them
          // while the fold goes on. No checkpoint: the blocks carry the position they reflect, which is all a restart needs.
          lastSealed = sealed;
          await inFlight;
          inFlight = this.writes.run(() => this.writeSealed(folder, sealed, minute, vmMinute));
          inFlight.catch(() => undefined);
          this.sealing = { endedBy: sealed, done: inFlight };
        }
        if (now() - lastFlush >= flushIntervalMs) {
          // One flush in flight while the fold goes on: its blocks were encoded when it began.
          await inFlight;
          inFlight = flush();
          inFlight.catch(() => undefined); // awaited (and thrown) at the next flush or the end
          lastFlush = now();
        }
      }
      folder.events = this.eventsWanted;
      if (!follow) this.take({ windows: folder.closeAll(), late: [] });
      // The log is read. The last blocks are taken (encoded) now, while a write may still be in flight: at the end of a
      // rebuild it is the table store everything waits for. They are written after that write, and not if it failed.
      const last = this.takeFlush(folder);
      const pending = inFlight;
      await this.writes.run(async () => {
        await pending;
        await this.flush(folder, projectionTables, last);
      });
    } finally {
      if (timer) clearInterval(timer);
      subscription.unsubscribe();
      records.complete();
    }
    return this.stats;
  }

  /** The metrics of a record that pass the gate, with their indexes in the record when some did not; the others go to quarantine. */
  private admit(metrics: readonly Metric[], position: number, arrivalMs: number): { metrics: readonly Metric[]; indexes?: number[] } {
    const limits = { arrivalMs, maxFutureSeconds: this.options.windows.maxFutureSeconds };
    let kept: Metric[] | undefined;
    let indexes: number[] | undefined;
    for (let index = 0; index < metrics.length; index++) {
      const m = metrics[index];
      const reason = metricRejection(m, limits);
      if (reason === undefined) {
        kept?.push(m);
        indexes?.push(index);
        continue;
      }
      if (!kept) {
        kept = metrics.slice(0, index);
        indexes = kept.map((_, i) => i);
      }
      this.stats.quarantined++;
      this.options.quarantine?.({ projection: 'windows', position, index, reason, raw: boundedJson(m, MAX_RAW_CHARS) });
    }
    return kept ? { metrics: kept, indexes } : { metrics };
  }

  private take(step: FoldStep): void {
    for (const w of step.windows) this.publish(w);
    if (this.folder) {
      this.stats.windowsEmitted = this.folder.emitted.windows;
      this.stats.revisions = this.folder.emitted.revisions;
    }
    for (const m of step.late) this.late.add(m);
    this.stats.late += step.late.length;
  }

  private publish(w: WindowEvent): void {
    if (w.tenant === undefined && this.options.onCrossTenantFlushed) this.crossPending.push(w);
    else this.windowSubject.next(w);
  }

  /** Whether window events are wanted at all (building them costs a replay noticeable time). */
  private get eventsWanted(): boolean {
    return this.windowSubject.observed || this.options.onCrossTenantFlushed !== undefined;
  }

  /**
   * Seeds the newest-window catalog from its table, so a restart never moves an entry back, and
   * so that every VM of a tenant is known before the tenant's catalog rows are rewritten.
   */
  private async loadCatalog(folder: WindowFolder, catalog: RowTable): Promise<void> {
    const rows = await catalog.list();
    for (const row of rows) {
      if (row.partition[0] === 'key') folder.cross.seedCatalog([String(row.fields.key)], [['', Number(row.fields.newest)]]);
    }
    for (const [tenant, vms] of readVmCatalog(rows)) {
      for (const [vm, newest] of vms) folder.perVm.seedCatalog([tenant, vm], newest);
    }
  }

  private async prefetch(folder: WindowFolder, metrics: Parameters<WindowFolder['blocksToLoad']>[0], minute: BlockTable, vmMinute: BlockTable): Promise<void> {
    const needed = folder.blocksToLoad(metrics);
    if (needed.length === 0) return;
    // Late data for a slot let go while its write is in flight: read it back once it is in the table.
    const sealing = this.sealing;
    if (sealing && needed.some(({ slot }) => slot + SLOT_SECONDS <= sealing.endedBy)) await sealing.done;
    for (let i = 0; i < needed.length; i += 16) {
      await Promise.all(needed.slice(i, i + 16).map(async ({ grouping, partition, slot }) => {
        const blocks = grouping === 'minute' ? folder.cross : folder.perVm;
        blocks.load(partition, slot, await (grouping === 'minute' ? minute : vmMinute).read(partition, slot));
      }));
    }
  }

  /** Writes the dirty blocks of the slots that ended by `endedBy` (the watermark's slot start). */
  private async writeSealed(folder: WindowFolder, endedBy: number, minute: BlockTable, vmMinute: BlockTable): Promise<void> {
    const position = this.processedThrough;
    const cross = folder.cross.takeDirty(position, endedBy);
    const perVm = folder.perVm.takeDirty(position, endedBy);
    // Encoded, so let them go at once: memory stays at about one slot however long the log. Late data
    // for them reads them back from the table once this write is done (see prefetch).
    folder.cross.evict(endedBy);
    folder.perVm.evict(endedBy);
    await Promise.all([minute.write(cross), vmMinute.write(perVm)]);
  }

  /** What a flush writes, taken from the state at once (blocks encoded), so that the state may move on while it is written. */
  private takeFlush(folder: WindowFolder): FlushContent {
    const position = this.processedThrough;
    const crossBlocks = folder.cross.takeDirty(position);
    const vmBlocks = folder.perVm.takeDirty(position);
    const lateRows = this.late.take();
    const cross = this.crossPending;
    this.crossPending = [];
    // A VM's newest window moved: its tenant's rows are written again, from all the tenant's VMs.
    const tenants = new Set(folder.perVm.takeCatalog().map(({ partition: [tenant] }) => tenant));
    const catalogRows: Row[] = [
      ...folder.cross.takeCatalog().map(({ partition: [key], newest }): Row => ({ partition: ['key'], row: key, fields: { key, newest: newest.get('') as number } })),
      ...[...tenants].flatMap((tenant) => vmCatalogRows(tenant, folder.perVm.vmPartitionsOf(tenant).map((p) => [p.partition[1], p.newest] as const))),
    ];
    return { position, crossBlocks, vmBlocks, lateRows, cross, catalogRows };
  }

  private async flush(folder: WindowFolder, t: ProjectionTables, content = this.takeFlush(folder)): Promise<void> {
    const { position, crossBlocks, vmBlocks, lateRows, cross, catalogRows } = content;
    const nothingNew = position === this.stats.position && crossBlocks.length + vmBlocks.length + lateRows.length + catalogRows.length === 0;
    if (nothingNew && this.stats.flushes > 0) return; // an idle tail: no table I/O every interval
    await Promise.all([t.minute.write(crossBlocks), t.vmMinute.write(vmBlocks), t.late.upsert(lateRows), t.catalog.upsert(catalogRows)]);
    const checkpoint: Checkpoint = { position, resumeFrom: folder.resumePosition(position), maxEventTime: folder.checkpoint().maxEventTime, atMs: Date.now() };
    await this.options.versions.saveCheckpoint('windows', this.options.version, checkpoint, this.options.scope);
    await this.options.onCheckpoint?.(checkpoint);
    if (cross.length > 0) await this.options.onCrossTenantFlushed?.(cross);
    const evictBefore = folder.watermark - this.options.windows.allowedLatenessSeconds;
    folder.cross.evict(evictBefore);
    folder.perVm.evict(evictBefore);
    this.stats.position = position;
    this.stats.watermark = folder.watermark;
    this.stats.windowsEmitted = folder.emitted.windows;
    this.stats.revisions = folder.emitted.revisions;
    this.stats.flushes++;
  }
}

interface ProjectionTables {
  minute: BlockTable;
  vmMinute: BlockTable;
  late: RowTable;
  catalog: RowTable;
}

/** The writes of one flush and the log position they reflect. */
interface FlushContent {
  position: number;
  crossBlocks: StoredBlock[];
  vmBlocks: StoredBlock[];
  lateRows: Row[];
  /** Cross-tenant windows held back until their blocks are durable (see onCrossTenantFlushed). */
  cross: WindowEvent[];
  catalogRows: Row[];
}

/**
 * A checkpoint taken before the watermark was bounded by arrival may hold a far-future event time
 * (a metric at year 3000 took every later one to the late ledger): bound it by the checkpoint's own
 * time, which is later than every record it covers. (An event time of -Infinity is stored as null.)
 */
function boundedResume(checkpoint: Checkpoint, maxFutureSeconds: number): FolderCheckpoint {
  const bound = checkpoint.atMs / 1000 + maxFutureSeconds;
  return { maxEventTime: Number.isFinite(bound) && checkpoint.maxEventTime > bound ? bound : checkpoint.maxEventTime };
}
