import { every, systemClock, type Clock } from '../src/core/clock';
import type { EventLog, LogRecord, TableStore } from '../src/core/ports';
import type { Checkpoint, FlushWork, Fold, OpenedTables, Prepared, Projection, ProjectionTables } from '../src/core/projection';
import type { QuarantineEntry, QuarantineSink } from '../src/core/quarantine';
import { openTables } from '../projections/projectionTables';
import type { ProjectionVersions } from './projectionVersions';
import { isCareful, type Careful, type RestartableProjector } from './ProjectorRestarts';
import { QuarantineLedger } from './QuarantineLedger';
import { SerialQueue } from './SerialQueue';
import { setAside } from './setAside';

export interface ProjectorOptions<T extends ProjectionTables, C, S extends object> {
  /** The definition run: its tables and its fold. */
  projection: Projection<T, C, S>;
  /** The fold's own settings (window options, a time zone…). */
  config: C;
  log: EventLog;
  tables: TableStore;
  versions: ProjectionVersions;
  tablePrefix: string;
  version: number;
  /** The log partition folded ('' for the whole file log); see scopeOfPartition. */
  scope?: string;
  /** Follow the log's tail (the service) or stop at its end (a rebuild). */
  follow: boolean;
  /** Read the log on this thread (a rebuild's process, which does nothing else: see LogReadOptions.blocking). */
  blockingReads?: boolean;
  /** How often a flush writes what the fold took and a checkpoint (processing time). */
  flushIntervalMs: number;
  /** Whose time the flushes, ticks and checkpoints go by (the machine's by default; a test's TestClock). */
  clock?: Clock;
  /** A restart after a failure: care over the records before `careful.through` (see ProjectorRestarts). */
  careful?: Careful;
  /** Called with the resume point at the start, then once per batch with how far the fold has come (progress bars). */
  onProgress?: (position: number) => void;
  /** Awaited after each batch of records: lets a consumer of what the fold emits keep up (a rebuild's event history). */
  afterBatch?: () => Promise<void>;
  /** After each checkpoint is durable (e.g. to move an Event Hubs checkpoint to `resumeFrom`). */
  onCheckpoint?: (checkpoint: Checkpoint) => Promise<void>;
  /** Also told of every entry this run quarantines (its own ledger keeps them, written before the checkpoint that passes them). */
  quarantine?: QuarantineSink;
}

/** The loop's own figures of a run; a projector's `stats` adds the fold's. */
export interface RunFigures {
  /** The position of the last checkpoint (of the one resumed from, before the first). */
  position: number;
  flushes: number;
  /** When the last flush ended, also one with nothing new to write (epoch ms; the start of the run before the first). */
  lastFlushAtMs: number;
}

export type ProjectorStats<S extends object> = S & RunFigures;

/** What a flush took, and the log position it reflects. */
interface Taken {
  position: number;
  work: FlushWork;
  /** Quarantine entries of the records before `position`. */
  quarantined: number;
}

const ignore = (): void => undefined;

/**
 * The one projector loop: runs one run of one projection over one log (the file log, or an Event
 * Hubs partition's feed) into one version's tables. It opens the tables from the definition,
 * resumes from the version's checkpoint, reads the log in batches and hands each record to the
 * fold (passing over what the quarantine ledger holds), writes what the fold took at every flush
 * interval of its clock, then the ledger, then the checkpoint, and ticks the fold's clock while
 * following the tail. Effects are written before the checkpoint that covers them, so a crash at
 * any moment neither loses nor doubles.
 *
 * Every failure ends `run` with an error (none is thrown from a timer) for the supervisor to decide
 * on (ProjectorRestarts): a record whose apply throws is first quarantined when it is at fault
 * (setAside); after a failed write no checkpoint is taken in this run.
 *
 * @example
 * const projector = new Projector({ projection: rejectsProjection, config: {}, log, tables, versions, tablePrefix: 'opsfold', version: 1, follow: false, flushIntervalMs: 1000 });
 * const stats = await projector.run();
 */
export class Projector<T extends ProjectionTables, C, S extends object> implements RestartableProjector<ProjectorStats<S>> {
  private readonly fold: Fold<OpenedTables<T>, S>;
  private readonly figures: RunFigures = { position: 0, flushes: 0, lastFlushAtMs: 0 };
  private readonly clock: Clock;
  private readonly writes = new SerialQueue();
  /** The write in flight while the fold goes on: awaited before the next one begins. */
  private inFlight?: Promise<void>;
  /** A write of this run failed: nothing is written after it. */
  private broken?: { error: unknown };
  /** A failure off the read loop (a timer's flush, a tick): the loop stops and throws it. */
  private failure?: { error: unknown };
  private ledger?: QuarantineLedger;
  private processedThrough = 0;

  constructor(private readonly options: ProjectorOptions<T, C, S>) {
    this.clock = options.clock ?? systemClock;
    this.fold = options.projection.fold(options.config, {
      scope: options.scope ?? '',
      follow: options.follow,
      clock: this.clock,
      quarantine: (entry) => this.quarantine(entry),
      readThrough: () => this.processedThrough,
      writesEachRecord: () => this.writesEachRecord(),
      startWrite: (write) => this.startWrite(write),
    });
  }

  /** The fold's figures and the loop's. */
  get stats(): ProjectorStats<S> {
    return { ...this.fold.stats, ...this.figures };
  }

  /** Just after the last record folded (where a careful pass after a failure must reach). */
  get readThrough(): number {
    return this.processedThrough;
  }

  /** Entries in this version's quarantine ledger (of this scope), as of the records read. */
  get quarantined(): number {
    return this.ledger?.count ?? 0;
  }

  /** Runs until the log's end (follow: false) or until `signal` aborts (follow: true); rejects with the first failure. */
  async run(signal?: AbortSignal): Promise<ProjectorStats<S>> {
    const { projection, log, tables, versions, version, follow, flushIntervalMs } = this.options;
    const scope = this.options.scope ?? '';
    this.figures.lastFlushAtMs = this.clock.now();
    const opened = await openTables(tables, projection.tables, { prefix: this.options.tablePrefix, version, scope });
    const checkpoint = await versions.checkpoint(projection.name, version, scope);
    const from = checkpoint?.resumeFrom ?? 0;
    this.ledger = await QuarantineLedger.open(opened.quarantine, { from, counted: { before: checkpoint?.position ?? 0, entries: checkpoint?.quarantined ?? 0 } });
    await this.fold.open(opened, checkpoint);
    this.processedThrough = this.figures.position = checkpoint?.position ?? 0;
    this.options.onProgress?.(this.processedThrough);
    const stopped = new AbortController();
    const fail = (error: unknown) => {
      this.failure ??= { error };
      stopped.abort();
    };
    const timers = follow ? this.startTimers(fail) : [];
    let lastFlush = this.clock.now();
    try {
      const reading = signal ? AbortSignal.any([signal, stopped.signal]) : stopped.signal;
      for await (const batch of log.read(from, { follow, signal: reading, maxBatchBytes: projection.readBatchBytes, blocking: this.options.blockingReads })) {
        for (const record of batch) {
          if (this.failure) break;
          await this.foldRecord(record);
        }
        if (this.failure) break;
        this.options.onProgress?.(this.processedThrough);
        await this.options.afterBatch?.();
        if (this.writesEachRecord()) continue;
        await this.fold.afterBatch?.();
        if (this.clock.now() - lastFlush >= flushIntervalMs || this.eager()) {
          // One flush in flight while the fold goes on: what it writes was taken when it began. A fold that writes
          // after each batch (a ledger) reads on once it is written, so that a slow store slows the reading.
          await this.inFlight;
          this.inFlight = this.flush();
          this.inFlight.catch(ignore); // awaited (and thrown) at the next flush or the end
          if (this.fold.pending) await this.inFlight;
          lastFlush = this.clock.now();
        }
      }
      if (this.failure) throw this.failure.error;
      if (!follow) this.fold.end?.();
      // The log is read. The last writes are taken now, while a write may still be in flight (at the end of a
      // rebuild it is the table store everything waits for), and written after it, not at all if it failed.
      const last = this.take();
      const pending = this.inFlight;
      await this.writes.run(async () => {
        await pending;
        await this.write(last);
      });
    } finally {
      for (const stop of timers) stop();
    }
    return this.stats;
  }

  /** The live tail's timers: a flush every interval, and the fold's ticks; a failure of either stops the run. */
  private startTimers(fail: (error: unknown) => void): (() => void)[] {
    const timers = [every(this.clock, this.options.flushIntervalMs, () => {
      if (!this.failure && !this.writesEachRecord()) this.flush().catch(fail);
    })];
    const { tickMs } = this.fold;
    if (this.fold.tick && tickMs !== undefined) {
      timers.push(every(this.clock, tickMs, () => {
        if (this.failure) return;
        try {
          this.fold.tick?.(this.clock.now());
        } catch (error) {
          fail(error);
        }
      }));
    }
    return timers;
  }

  /**
   * Folds one record, passing over what the quarantine ledger holds of it. A failure off the loop
   * that came meanwhile leaves it unfolded, and no checkpoint may pass it.
   */
  private async foldRecord(record: LogRecord): Promise<void> {
    const { careful, projection } = this.options;
    const ledger = this.ledger!;
    const careOf = isCareful(careful, record.position);
    const part = ledger.partOf(record.position);
    let prepared: Prepared | undefined;
    if (part !== 'record') {
      prepared = await this.fold.prepare(record, { skip: part, careful: careOf });
      if (this.failure) return;
      if (prepared !== undefined) {
        try {
          this.fold.apply(record, prepared);
        } catch (error) {
          throw await setAside(error, record, { projection: projection.name, ledger, allowed: careful?.quarantine ?? true, decoded: prepared.decoded });
        }
      }
    }
    this.processedThrough = Math.max(this.processedThrough, record.next);
    if (careOf && careful.eachRecord) {
      // A careful pass writes after each record, and nothing else meanwhile: a failing write names its record.
      try {
        await this.inFlight;
        await this.flush();
      } catch (error) {
        throw await setAside(error, record, { projection: projection.name, ledger, allowed: careful.quarantine, decoded: prepared?.decoded });
      }
    }
  }

  private quarantine(entry: QuarantineEntry): void {
    this.ledger?.take(entry);
    this.options.quarantine?.(entry);
  }

  private writesEachRecord(): boolean {
    const { careful } = this.options;
    return isCareful(careful, this.processedThrough) && careful.eachRecord;
  }

  /** Whether the fold wants what waits written after this batch (a ledger's rows, or a quarantine entry alone). */
  private eager(): boolean {
    return this.fold.pending !== undefined && (this.fold.pending() || (this.ledger?.pending ?? 0) > 0);
  }

  private async startWrite(write: () => Promise<void>): Promise<{ done: Promise<void> }> {
    await this.inFlight;
    const done = this.writes.run(() => this.guarded(write));
    this.inFlight = done;
    done.catch(ignore);
    return { done };
  }

  /** A flush, queued behind the writes in flight; what it writes is taken when it begins. */
  private flush(): Promise<void> {
    return this.writes.run(() => {
      if (this.broken) throw this.broken.error;
      return this.write(this.take());
    });
  }

  private take(): Taken {
    const position = this.processedThrough;
    return { position, work: this.fold.take(position), quarantined: this.ledger?.count ?? 0 };
  }

  /**
   * Writes what a flush took, then the ledger, then the checkpoint. A write that failed took state it did not write:
   * no later write of this run may write a checkpoint past it, so each fails with the same error (a new run re-reads).
   */
  private async write({ position, work, quarantined }: Taken): Promise<void> {
    const { projection, versions, version } = this.options;
    await this.guarded(async () => {
      const ledger = this.ledger!;
      if (work.empty && ledger.pending === 0 && position === this.figures.position && this.figures.flushes > 0) {
        this.figures.lastFlushAtMs = this.clock.now(); // an idle tail: nothing to write, and no table I/O every interval
        return;
      }
      await work.write();
      await ledger.write();
      const checkpoint: Checkpoint = { position, ...(work.resume?.() ?? { resumeFrom: position, maxEventTime: 0 }), atMs: this.clock.now(), quarantined };
      await versions.saveCheckpoint(projection.name, version, checkpoint, this.options.scope);
      await this.options.onCheckpoint?.(checkpoint);
      await work.done?.();
      this.figures.position = position;
      this.figures.flushes++;
      this.figures.lastFlushAtMs = this.clock.now();
    });
  }

  private async guarded(write: () => Promise<void>): Promise<void> {
    if (this.broken) throw this.broken.error;
    try {
      await write();
    } catch (error) {
      this.broken ??= { error };
      throw error;
    }
  }
}
