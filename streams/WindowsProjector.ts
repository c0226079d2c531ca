import { Subject, type Observable } from 'rxjs';
import type { BlockTable, EventLog, LogRecord, Row, RowTable, StoredBlock, TableStore } from '../src/core/ports';
import { decodeEvent } from '../src/core/logCodec';
import { boundedJson } from '../src/core/boundedJson';
import { METRIC_GATE_VERSION, metricRejection } from '../src/core/metricRejection';
import { MAX_RAW_CHARS } from '../src/core/validateSpoc';
import type { OpsEvent } from '../src/core/events';
import type { Metric } from '../src/core/metric';
import type { QuarantineEntry, QuarantineSink } from '../src/core/quarantine';
import { isRecordFault, reasonOf } from '../src/core/recordFault';
import { windowStartOf, WINDOW_SECONDS, type WindowEvent, type WindowRecorder } from '../src/core/windowMath';
import { MinuteBlocks, SLOT_SECONDS, slotStartOf } from '../projections/minuteBlocks';
import { CATALOG_LAYOUT, MINUTE_LAYOUT, VM_MINUTE_LAYOUT, windowTables, type WindowTables } from '../projections/projectionCatalog';
import { EVENT_HUBS_LATE_SPAN, FILE_LOG_LATE_SPAN, LateLedger } from '../projections/lateLedger';
import { readVmCatalog, vmCatalogRows } from '../projections/vmCatalog';
import { WindowFolder, type FolderCheckpoint, type WindowOptions } from './WindowFolder';
import { foldWindows, type FoldStep, type MetricRecord } from './foldWindows';
import { SerialQueue } from './SerialQueue';
import type { Checkpoint, ProjectionVersions } from './projectionVersions';
import { isCareful, type Careful } from './ProjectorRestarts';
import { QuarantineLedger, type QuarantinedPart } from './QuarantineLedger';
import { setAside, undecodable } from './setAside';

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
  now?: () => number;
  /** A restart after a failure: care over the records before `careful.through` (see ProjectorRestarts). */
  careful?: Careful;
  /**
   * Where a record or metric that cannot be applied goes (the fold calls it for what it refuses).
   * The projector's own quarantine ledger takes every entry first, written before the checkpoint
   * that passes it; the sink given here is then told too.
   */
  quarantine?: QuarantineSink;
}

export interface ProjectorStats {
  position: number;
  watermark: number;
  windowsEmitted: number;
  revisions: number;
  late: number;
  metrics: number;
  flushes: number;
  /** When the last flush ended, also one with nothing new to write (epoch ms; the start of the run before the first). */
  lastFlushAtMs: number;
}

/** Metrics of one record being folded, with their indexes in it when some were left out. */
interface Kept {
  metrics: readonly Metric[];
  indexes?: number[];
}

/** Probed block and row ids (cleared beyond this many): '' when the store took the key, else why it refused it. */
const MAX_PROBED = 100_000;

/**
 * Folds the log into the minute-average projections: cross-tenant and per-VM blocks, the
 * late-events ledger and the catalog. Effects are written before the checkpoint that covers
 * them, and every write is idempotent, so a crash at any moment neither loses nor doubles.
 *
 * What cannot be applied goes to the quarantine ledger and the fold goes on: a record that does
 * not decode, a metric whose keys the store refuses (found when reading its blocks fails, or by a
 * careful pass after a failed write), a record whose fold throws. Every failure ends `run` with
 * an error (none is thrown from a timer) for the supervisor to decide on (ProjectorRestarts).
 */
export class WindowsProjector {
  readonly stats: ProjectorStats = { position: 0, watermark: -Infinity, windowsEmitted: 0, revisions: 0, late: 0, metrics: 0, flushes: 0, lastFlushAtMs: 0 };
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
  private ledger?: QuarantineLedger;
  /** The failure of a write of this run: nothing is written after it. */
  private broken?: { error: unknown };
  private readonly probed = new Map<string, string>();
  private readonly options: WindowsProjectorOptions;
  /** The sink the caller gave, told of each entry after the ledger took it. */
  private readonly told?: QuarantineSink;

  constructor(options: WindowsProjectorOptions) {
    this.told = options.quarantine;
    // Whatever hands an entry to `options.quarantine` (the fold) reaches this projector's ledger first.
    this.options = { ...options, quarantine: (entry) => this.quarantine(entry) };
    this.names = windowTables(options.tablePrefix, options.version, options.scope);
    this.late = new LateLedger(options.lateSpan ?? (options.scope ? EVENT_HUBS_LATE_SPAN : FILE_LOG_LATE_SPAN));
  }

  /** Just after the last record read (where a careful pass after a failure must reach). */
  get readThrough(): number {
    return this.processedThrough;
  }

  /** Entries in this version's quarantine ledger (of this scope), as of the records read. */
  get quarantined(): number {
    return this.ledger?.count ?? 0;
  }

  /** Runs until the log's end (follow: false) or until `signal` aborts (follow: true); rejects with the first failure. */
  async run(signal?: AbortSignal): Promise<ProjectorStats> {
    const { log, tables, versions, version, flushIntervalMs, follow, careful } = this.options;
    const now = this.options.now ?? Date.now;
    this.stats.lastFlushAtMs = now();
    const [minute, vmMinute, late, catalog, quarantineTable] = await Promise.all([
      tables.blockTable(this.names.minute, MINUTE_LAYOUT),
      tables.blockTable(this.names.vmMinute, VM_MINUTE_LAYOUT),
      tables.rowTable(this.names.late),
      tables.rowTable(this.names.catalog, CATALOG_LAYOUT),
      tables.rowTable(this.names.quarantine),
    ]);
    const checkpoint = await versions.checkpoint('windows', version, this.options.scope);
    const fresh = checkpoint === undefined;
    const folder = new WindowFolder(this.options.windows, new MinuteBlocks('minute', fresh), new MinuteBlocks('vmMinute', fresh), checkpoint && boundedResume(checkpoint, this.options.windows.maxFutureSeconds));
    this.folder = folder;
    folder.recorder = this.options.recorder;
    if (!fresh) await this.loadCatalog(folder, catalog);
    // Folding again from inside a span of the late ledger: go on from its stored pages (later spans are folded whole again).
    if (!fresh) this.late.resume(await late.list(this.late.spanQuery(checkpoint.resumeFrom)));
    const resumeFrom = checkpoint?.resumeFrom ?? 0;
    const ledger = await QuarantineLedger.open(quarantineTable, { from: resumeFrom, counted: { before: checkpoint?.position ?? 0, entries: checkpoint?.quarantined ?? 0 } });
    this.ledger = ledger;
    this.processedThrough = checkpoint?.position ?? 0;
    // A failure off the read loop (a timer's flush, an idle tick) stops the loop, which then throws it.
    const stopped = new AbortController();
    let failure: { error: unknown } | undefined;
    const fail = (error: unknown) => {
      failure ??= { error };
      stopped.abort();
    };
    const records = new Subject<MetricRecord>();
    const folded = records.pipe(foldWindows(folder, follow ? { idleTickMs: Math.min(1000, this.options.windows.idleCloseSeconds * 1000) } : {}));
    const subscription = folded.subscribe({ next: (step) => this.take(step), error: fail });
    const t: ProjectionTables = { minute, vmMinute, late, catalog, ledger };
    const flush = () => this.writes.run(() => this.flush(folder, t));
    // A careful pass that writes after each record writes nothing else meanwhile: a failing write then names its record.
    const eachRecord = () => isCareful(careful, this.processedThrough) && careful.eachRecord;
    const timer = follow ? setInterval(() => void (failure || eachRecord() ? undefined : flush().catch(fail)), flushIntervalMs) : undefined;
    let lastFlush = now();
    let inFlight: Promise<void> | undefined;
    let lastSealed = -Infinity;
    try {
      const reading = signal ? AbortSignal.any([signal, stopped.signal]) : stopped.signal;
      for await (const batch of log.read(resumeFrom, { follow, signal: reading, maxBatchBytes: READ_BATCH_BYTES })) {
        for (const record of batch) {
          if (failure) break;
          const careOf = isCareful(careful, record.position);
          const event = await this.foldRecord(record, folder, t, careOf, records, () => failure?.error);
          if (failure) break; // failed meanwhile (a timer's flush): the record is not folded, and no checkpoint may pass it
          this.processedThrough = Math.max(this.processedThrough, record.next);
          if (careOf && careful.eachRecord) {
            try {
              await inFlight;
              await flush();
            } catch (error) {
              throw await setAside(error, record, { projection: 'windows', ledger, allowed: careful.quarantine, decoded: event });
            }
          }
        }
        if (failure) break;
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
        if (!follow && !eachRecord() && sealed > lastSealed && !Number.isNaN(sealed)) {
          // A rebuild: once the watermark leaves a 15-minute slot, its blocks are (nearly always) final; write them
          // while the fold goes on. No checkpoint: the blocks carry the position they reflect, which is all a restart needs.
          lastSealed = sealed;
          await inFlight;
          inFlight = this.writes.run(() => this.writeSealed(folder, sealed, minute, vmMinute));
          inFlight.catch(() => undefined);
          this.sealing = { endedBy: sealed, done: inFlight };
        }
        if (!eachRecord() && now() - lastFlush >= flushIntervalMs) {
          // One flush in flight while the fold goes on: its blocks were encoded when it began.
          await inFlight;
          inFlight = flush();
          inFlight.catch(() => undefined); // awaited (and thrown) at the next flush or the end
          lastFlush = now();
        }
      }
      if (failure) throw failure.error;
      folder.events = this.eventsWanted;
      if (!follow) this.take({ windows: folder.closeAll(), late: [] });
      // The log is read. The last blocks are taken (encoded) now, while a write may still be in flight: at the end of a
      // rebuild it is the table store everything waits for. They are written after that write, and not if it failed.
      const last = this.takeFlush(folder);
      const pending = inFlight;
      await this.writes.run(async () => {
        await pending;
        await this.flush(folder, t, last);
      });
    } finally {
      if (timer) clearInterval(timer);
      subscription.unsubscribe();
      records.complete();
    }
    return this.stats;
  }

  /**
   * Folds one log record, passing over what the quarantine holds of it and quarantining what
   * cannot be applied: a record that does not decode, metrics whose keys the store refuses (tried
   * first in a careful pass, or when reading their blocks fails), a record whose fold throws (then
   * the projector stops: its state holds part of the record). Returns the decoded event.
   */
  private async foldRecord(
    record: LogRecord, folder: WindowFolder, t: ProjectionTables, careful: boolean, records: Subject<MetricRecord>, failed: () => unknown,
  ): Promise<OpsEvent | undefined> {
    const part = t.ledger.partOf(record.position);
    if (part === 'record') return undefined;
    let event: OpsEvent;
    try {
      event = decodeEvent(record.payload);
    } catch (error) {
      this.quarantine(undecodable('windows', record, error));
      return undefined;
    }
    if (event.type !== 'MetricsReceived' || event.metrics.length === 0) return event;
    let kept = keptOf(event.metrics, part);
    // A record the gate admitted at ingest is folded as it is; an older one's metrics pass the gate here, their
    // arrival the later of reception and append (the ingest gate's clock, or the log's on Event Hubs).
    if ((event.gate ?? 0) < METRIC_GATE_VERSION) kept = this.admit(kept, record.position, Math.max(record.appendedAtMs, event.receivedAtMs));
    if (careful) kept = await this.probe(record.position, kept, folder, t);
    try {
      await this.prefetch(folder, kept.metrics, t.minute, t.vmMinute);
    } catch (error) {
      if (!isRecordFault(error)) throw error;
      kept = await this.probe(record.position, kept, folder, t);
      await this.prefetch(folder, kept.metrics, t.minute, t.vmMinute);
    }
    if (kept.metrics.length === 0 || failed() !== undefined) return event;
    this.stats.metrics += kept.metrics.length;
    folder.events = this.eventsWanted;
    records.next({ position: record.position, next: record.next, appendedAtMs: record.appendedAtMs, metrics: kept.metrics, indexes: kept.indexes });
    // The fold runs synchronously within `next`: a failure now is this record's.
    const error = failed();
    if (error !== undefined) throw await setAside(error, record, { projection: 'windows', ledger: t.ledger, allowed: this.options.careful?.quarantine ?? true, decoded: event.metrics });
    return event;
  }

  /**
   * Tries the storage keys each metric needs (its blocks, or its late-ledger row), once per block:
   * with the tables' checkKeys (no I/O), else by reading them. A metric whose keys the store
   * refuses is quarantined and left out.
   */
  private async probe(position: number, kept: Kept, folder: WindowFolder, t: ProjectionTables): Promise<Kept> {
    if (this.probed.size > MAX_PROBED) this.probed.clear();
    const lateBound = folder.watermark - this.options.windows.allowedLatenessSeconds;
    const probes = kept.metrics.map((m, j) => probesOf(m, position, kept.indexes?.[j] ?? j, lateBound, t));
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
    const out: Kept = { metrics: [], indexes: [] };
    kept.metrics.forEach((m, j) => {
      const index = kept.indexes?.[j] ?? j;
      const refused = probes[j].map(([id]) => this.probed.get(id)).find((reason) => reason !== undefined && reason !== '');
      if (refused === undefined) {
        (out.metrics as Metric[]).push(m);
        out.indexes!.push(index);
      } else {
        this.quarantine({ projection: 'windows', position, index, reason: refused, raw: JSON.stringify(m) });
      }
    });
    return out.metrics.length === kept.metrics.length ? kept : out;
  }

  /**
   * The metrics of a record written before the gate that pass it now; each refused one (epoch
   * milliseconds, year 3000, a lone surrogate, ids too long for a key…) is quarantined and left out.
   */
  private admit(kept: Kept, position: number, arrivalMs: number): Kept {
    const limits = { arrivalMs, maxFutureSeconds: this.options.windows.maxFutureSeconds };
    const reasons = kept.metrics.map((m) => metricRejection(m, limits));
    if (reasons.every((reason) => reason === undefined)) return kept;
    const out: Kept = { metrics: [], indexes: [] };
    kept.metrics.forEach((m, j) => {
      const index = kept.indexes?.[j] ?? j;
      const reason = reasons[j];
      if (reason === undefined) {
        (out.metrics as Metric[]).push(m);
        out.indexes!.push(index);
      } else {
        this.quarantine({ projection: 'windows', position, index, reason, raw: boundedJson(m, MAX_RAW_CHARS) });
      }
    });
    return out;
  }

  private quarantine(entry: QuarantineEntry): void {
    this.ledger?.take(entry);
    this.told?.(entry);
  }

  private clock(): number {
    return (this.options.now ?? Date.now)();
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
    if (this.broken) throw this.broken.error;
    const position = this.processedThrough;
    const cross = folder.cross.takeDirty(position, endedBy);
    const perVm = folder.perVm.takeDirty(position, endedBy);
    // Encoded, so let them go at once: memory stays at about one slot however long the log. Late data
    // for them reads them back from the table once this write is done (see prefetch).
    folder.cross.evict(endedBy);
    folder.perVm.evict(endedBy);
    try {
      checkKeys(minute, cross);
      checkKeys(vmMinute, perVm);
      await Promise.all([minute.write(cross), vmMinute.write(perVm)]);
    } catch (error) {
      this.broken ??= { error };
      throw error;
    }
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
    return { position, crossBlocks, vmBlocks, lateRows, cross, catalogRows, quarantined: this.ledger?.count ?? 0 };
  }

  /**
   * Writes what a flush took, then the checkpoint. A flush that failed took blocks it did not write: no later flush of
   * this run may write a checkpoint past them, so each fails with the same error (the run is over; a new one re-reads).
   */
  private async flush(folder: WindowFolder, t: ProjectionTables, content?: FlushContent): Promise<void> {
    if (this.broken) throw this.broken.error;
    try {
      await this.write(folder, t, content ?? this.takeFlush(folder));
    } catch (error) {
      this.broken ??= { error };
      throw error;
    }
  }

  private async write(folder: WindowFolder, t: ProjectionTables, content: FlushContent): Promise<void> {
    const { position, crossBlocks, vmBlocks, lateRows, cross, catalogRows, quarantined } = content;
    const nothingNew = position === this.stats.position && crossBlocks.length + vmBlocks.length + lateRows.length + catalogRows.length === 0;
    if (nothingNew && this.stats.flushes > 0) {
      this.stats.lastFlushAtMs = this.clock(); // an idle tail: nothing to write, and no table I/O every interval
      return;
    }
    // Every key is tried first, so that keys the store refuses fail the flush before anything of it is written:
    // a block written with a metric that a careful pass then quarantines would keep it (its position says it has it).
    checkKeys(t.minute, crossBlocks);
    checkKeys(t.vmMinute, vmBlocks);
    checkRowKeys(t.late, lateRows);
    checkRowKeys(t.catalog, catalogRows);
    await Promise.all([t.minute.write(crossBlocks), t.vmMinute.write(vmBlocks), t.late.upsert(lateRows), t.catalog.upsert(catalogRows), t.ledger.write()]);
    const checkpoint: Checkpoint = {
      position, resumeFrom: folder.resumePosition(position), maxEventTime: folder.checkpoint().maxEventTime, atMs: Date.now(), quarantined,
    };
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
    this.stats.lastFlushAtMs = this.clock();
  }
}

interface ProjectionTables {
  minute: BlockTable;
  vmMinute: BlockTable;
  late: RowTable;
  catalog: RowTable;
  ledger: QuarantineLedger;
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
  /** Quarantine entries of the records before `position`. */
  quarantined: number;
}
/** The metrics of a record the quarantine does not hold. */
function keptOf(metrics: readonly Metric[], part: QuarantinedPart | undefined): Kept {
  if (part === undefined || part === 'record') return { metrics };
  const indexes = metrics.map((_, i) => i).filter((i) => !part.has(i));
  return { metrics: indexes.map((i) => metrics[i]), indexes };
}

/**
 * The reads that try the storage keys a metric needs, by id: its two blocks, or, when it is too
 * late for any window, its row in the late-events ledger. The catalog's keys are parts of the blocks'.
 */
function probesOf(m: Metric, position: number, index: number, lateBound: number, t: ProjectionTables): [string, () => Promise<unknown>][] {
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

function checkKeys(table: BlockTable, blocks: readonly StoredBlock[]): void {
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
  return { maxEventTime: Number.isFinite(bound) && checkpoint.maxEventTime > bound ? bound : checkpoint.maxEventTime };
}
