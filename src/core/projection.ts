import type { Clock } from './clock';
import type { BlockLayout, BlockTable, LogRecord, Row, RowTable } from './ports';
import type { QuarantineSink } from './quarantine';

/**
 * The projection contract: a projection is one definition that owns its tables (names, layouts)
 * and its fold; one projector loop (streams/Projector.ts) runs every projection. The loop reads
 * the log, opens the tables, keeps the quarantine ledger and the checkpoints, times the flushes,
 * ticks the clock and routes every failure to the supervisor; a definition brings only what is
 * its own. Readers open a projection's tables through its definition (projections/projectionTables.ts),
 * so none can pair a table with another layout.
 *
 * @example
 * // A projection that counts the records of the log, one row per scope.
 * const tables = { counts: rowTableSpec('Counts', { scoped: true }), quarantine: rowTableSpec('CountsQuarantine', { scoped: true }) };
 * const counting: Projection<typeof tables, void, { records: number }> = {
 *   name: 'counting',
 *   tables,
 *   fold: () => {
 *     const stats = { records: 0 };
 *     let table: RowTable;
 *     return {
 *       stats,
 *       open: async (opened, checkpoint) => {
 *         table = opened.counts;
 *         stats.records = checkpoint ? Number((await table.get(['n'], 'n'))?.fields.records ?? 0) : 0;
 *       },
 *       prepare: (record) => ({}),
 *       apply: () => void stats.records++,
 *       take: () => {
 *         const records = stats.records;
 *         return { empty: false, write: () => table.upsert([{ partition: ['n'], row: 'n', fields: { records } }]) };
 *       },
 *     };
 *   },
 * };
 * await new Projector({ projection: counting, config: undefined, log, tables: store, versions, tablePrefix: 'x', version: 1, follow: false, flushIntervalMs: 1000 }).run();
 */
export interface Projection<T extends ProjectionTables = ProjectionTables, C = unknown, S extends object = object> {
  /** `windows`, `rejects`, `backlog`, or a declared projection's name: its versions and checkpoints are kept under it. */
  readonly name: string;
  /** Every table one version of it owns; `quarantine` is its quarantine ledger, which the loop keeps. */
  readonly tables: T;
  /** Records read per batch, in bytes (default: the log's own); a fold that writes while it folds wants smaller ones. */
  readonly readBatchBytes?: number;
  /** The fold of one run over one log (or log partition), given the fold's own settings. */
  fold(config: C, context: FoldContext): Fold<OpenedTables<T>, S>;
}

/** A projection's definition, whatever its fold's config and figures: for what its name and tables tell. */
export type AnyProjection = Projection<ProjectionTables, never, object>;

/**
 * One run's fold. The loop calls, in this order: `open` once; then per record `prepare` and, with
 * what it returned, `apply`; `tick` on the clock while following the log; `afterBatch` between
 * batches; `take` whenever a flush is due; `end` when a rebuild has read the whole log; `take` once
 * more. Effects are written (by the work `take` returns) before the checkpoint that covers them,
 * and every write must be idempotent: a restart folds again from the checkpoint's `resumeFrom`.
 */
export interface Fold<Tables = OpenedTables<ProjectionTables>, S extends object = object> {
  /** Figures of the run (counts, the watermark…) as the fold goes: /healthz, /metrics and a replay's summary show them. */
  readonly stats: S;
  /** With `tick`: how often the clock ticks while following the log (ms). */
  readonly tickMs?: number;
  /**
   * Loads what the run resumes with: nothing on a fresh version (no checkpoint), else what the
   * tables hold. Reading starts at the checkpoint's `resumeFrom` (0 without one).
   */
  open(tables: Tables, checkpoint: Checkpoint | undefined): Promise<void>;
  /**
   * What of `record` to apply, read ahead (the stored state late data needs, the keys a careful pass
   * tries), or undefined to pass it by (another kind of record, or one that does not decode, which
   * it hands to `context.quarantine`). It may quarantine single parts (metrics) and leave them out.
   * A throw is the run's failure, not the record's: the supervisor decides (ProjectorRestarts).
   */
  prepare(record: LogRecord, how: ApplyHow): Prepared | undefined | Promise<Prepared | undefined>;
  /**
   * Applies what `prepare` returned, synchronously. A throw means the record could not be applied,
   * and the state may hold part of it: the run ends, and the record is quarantined when it is at
   * fault (see isRecordFault), so that the next run goes on after it.
   */
  apply(record: LogRecord, prepared: Prepared): void;
  /** Processing time has moved on to `nowMs` without a record (the live tail). */
  tick?(nowMs: number): void;
  /** After each batch of records (not during a careful pass that writes after each record): a chance to write early with `context.startWrite`. */
  afterBatch?(): Promise<void>;
  /** The log has been read to its end and no more will come (a rebuild): close what is still open. */
  end?(): void;
  /**
   * Whether rows wait that readers expect soon (a ledger): then the loop writes after the batch
   * (also for a quarantine entry alone) and reads on once that write is done, so that a slow store
   * slows the reading. Absent: at the flush interval only, one flush in flight while the fold goes on.
   */
  pending?(): boolean;
  /**
   * Takes what a flush writes for the records before `position`, at once (encoded), so that the
   * fold may go on while it is written.
   */
  take(position: number): FlushWork;
}

/** How the loop hands a record to `prepare`. */
export interface ApplyHow {
  /** Indexes of parts of the record (metrics) the quarantine ledger holds: leave them out. */
  skip?: ReadonlySet<number>;
  /** A restart after a failure: try each storage key the record needs first, and quarantine the parts the store refuses. */
  careful: boolean;
}

/** What `prepare` found in a record, handed to `apply`. */
export interface Prepared {
  /** The decoded record, shown (as JSON) by a quarantine entry should the record be set aside. */
  decoded?: unknown;
}

/** The writes of one flush. */
export interface FlushWork {
  /** Nothing to write: with no record read since the last checkpoint, the loop does no I/O at all. */
  readonly empty: boolean;
  /** Writes everything; tries every key first (checkKeys), so that a refused key fails it before anything is written. */
  write(): Promise<void>;
  /** Once written: where a restart re-reads from, and the event time it resumes with (default: the flush's position, 0). */
  resume?(): { resumeFrom: number; maxEventTime: number; finalThrough?: number; finalFrom?: number };
  /** After the checkpoint is durable (e.g. to hand on what is now readable, or to let go of state). */
  done?(): Promise<void>;
}

/** What the loop gives a fold when it makes it. */
export interface FoldContext {
  /** '' for the whole file log, `P<id>` for an Event Hubs partition (see scopeOfPartition). */
  scope: string;
  /** Following the log's tail (the service) or reading it to its end (a rebuild). */
  follow: boolean;
  /** Where a record or part that cannot be applied goes: the run's ledger, written before the checkpoint that passes it. */
  quarantine: QuarantineSink;
  clock: Clock;
  /** Just after the last record folded (or passed over): the position a write of the fold's state now reflects. */
  readThrough(): number;
  /** Whether the loop writes after each record now (a careful pass looking for the record whose write fails): write nothing early then. */
  writesEachRecord(): boolean;
  /**
   * Starts a write now rather than at the next flush, behind the writes in flight: resolves once
   * those are done and this one has begun, with the promise of its end. A failed write ends the run,
   * and no checkpoint is taken after it.
   */
  startWrite(write: () => Promise<void>): Promise<{ done: Promise<void> }>;
}

/** Where a projection version has folded the log to, written after the writes it covers. */
export interface Checkpoint {
  /** Every record before this position is reflected in the tables. */
  position: number;
  /** A restart re-reads from here: the earliest record an open window depends on. */
  resumeFrom: number;
  maxEventTime: number;
  /**
   * Windows ending by this (the watermark minus the allowed lateness) are final, and were told so
   * (WindowsConfig.finals); null for -Infinity, absent in checkpoints from before it was kept.
   */
  finalThrough?: number | null;
  /** Where the live fold of this version began telling final windows (its first run's finalThrough): none were told before. */
  finalFrom?: number | null;
  /** Wall-clock time of the checkpoint (epoch ms). */
  atMs: number;
  /** Entries in the quarantine ledger for the records before `position` (absent: none, or written by an older opsfold). */
  quarantined?: number;
}

/**
 * One table of a projection version. Its name is `<prefix><base>V<version>`, then, when `scoped`,
 * the log partition's scope: on Event Hubs each partition folds into tables of its own (no two
 * writers race on a row), and readers merge them. A table that is not scoped holds what one
 * partition alone writes (a tenant's or a team's rows: all its events are in one partition).
 */
export interface TableSpecBase {
  base: string;
  scoped: boolean;
  /** How rows are laid out in storage (see BlockLayout); readers and writers of the table share it. */
  layout?: BlockLayout;
}

export interface BlockTableSpec extends TableSpecBase {
  kind: 'block';
}

export interface RowTableSpec extends TableSpecBase {
  kind: 'row';
  /** How a reader of several scopes combines one row found in more than one (default: the first). */
  merge?: (a: Row, b: Row) => Row;
}

export type TableSpec = BlockTableSpec | RowTableSpec;

/** A projection's tables by role; every projection has a quarantine ledger. */
export type ProjectionTables = Readonly<Record<string, TableSpec>> & { readonly quarantine: RowTableSpec };

/** The table a spec opens to. */
export type OpenedTable<S extends TableSpec> = S extends BlockTableSpec ? BlockTable : RowTable;

/** The tables of a projection, opened for one version and scope. */
export type OpenedTables<T extends Readonly<Record<string, TableSpec>>> = { readonly [K in keyof T]: OpenedTable<T[K]> };
