/**
 * The contracts between the pure core and the outside world. Adapters in
 * src/adapters implement them; streams/ and the CLI only see these.
 */

/** A record as read back from the log. */
export interface LogRecord {
  /** Position of this record: reading from it returns this record first. */
  position: number;
  /** Position just after this record: reading from it returns the next record. */
  next: number;
  /** Wall-clock time of the append (epoch ms), stored in the record; replays use it as processing time. */
  appendedAtMs: number;
  payload: Buffer;
}

export interface AppendResult {
  /** Position of the first appended record. */
  first: number;
  /** Position just after the last appended record (= the log's end after this append). */
  end: number;
}

/**
 * An append-only, durable event log.
 * - `append` resolves only once every payload is durable (fsynced), in order, contiguous,
 *   never interleaved with another appender's records (also across processes).
 * - Positions are opaque, monotonically increasing numbers; 0 is the start of the log.
 */
/** How an append is routed where the log has partitions. */
export interface AppendOptions {
  /**
   * One per payload: records with one key stay in order in one partition (the tenant for
   * metrics, the team for backlog samples). A log of one partition (the file log) ignores them.
   */
  partitionKeys?: readonly (string | undefined)[];
}

/** How a log is read (see EventLog.read). */
export interface LogReadOptions {
  follow?: boolean;
  signal?: AbortSignal;
  maxBatchBytes?: number;
  /**
   * Read each batch on the calling thread, the event loop waiting for the disk (a file log; others
   * ignore it): for a process that does nothing else meanwhile, a rebuild, which then neither waits
   * for the thread pool nor hands each batch over from it. Never in a service: a slow disk would
   * stall every request.
   */
  blocking?: boolean;
}

export interface EventLog {
  append(payloads: readonly Buffer[], options?: AppendOptions): Promise<AppendResult>;
  /**
   * Records from `from` (a position returned earlier, or 0), in order, in batches.
   * With `follow: false` it ends at the log's end as of the call; with `follow: true` it waits
   * for new appends (also by other processes) until `signal` aborts.
   */
  read(from: number, options?: LogReadOptions): AsyncIterable<LogRecord[]>;
  /** The current end position (the position the next append will get). */
  end(): Promise<number>;
  /**
   * A position at or before the first record appended at or after `timeMs` (0 when the log
   * cannot tell): where a reader interested only in recent records may start.
   */
  positionSince?(timeMs: number): Promise<number>;
  close(): Promise<void>;
}

/** A scalar a table row may hold. */
export type FieldValue = string | number | boolean | null;

/**
 * A packed block of a projection: e.g. one counter key's minutes of one hour, or one VM's
 * minutes of one hour for all its keys. The store does not interpret `data`.
 */
export interface StoredBlock {
  /** Raw (unencoded) id components of the partition, e.g. [key] or [tenant, vm]. */
  partition: readonly string[];
  /** The block's row number inside the partition, e.g. the hour start in epoch seconds (>= 0). */
  row: number;
  /** Serialized contents; may be large (hundreds of KB): the store splits it as it must. */
  data: string;
  /** Log position (a record's `next`) through which this block reflects every event. */
  appliedThrough: number;
}

/** A table of packed blocks. Writes replace whole blocks and are idempotent. */
export interface BlockTable {
  /** Replaces the given blocks; batched in transactions of at most 100 entities of one partition. */
  write(blocks: readonly StoredBlock[]): Promise<void>;
  read(partition: readonly string[], row: number): Promise<StoredBlock | undefined>;
  /** Blocks with `fromRow <= row <= toRow`, ascending by row. */
  readRange(partition: readonly string[], fromRow: number, toRow: number): Promise<StoredBlock[]>;
  /**
   * Throws InvalidInputError, without any I/O, when the table could not hold a block with this
   * partition and row (keys too long once encoded, not well-formed, a row out of range).
   * Optional: a table without it takes any keys.
   */
  checkKeys?(partition: readonly string[], row: number): void;
}

/** A plain row, for ledgers, catalogs and metadata. */
export interface Row {
  /** Raw (unencoded) id components of the partition. */
  partition: readonly string[];
  /** Raw (unencoded) row key; rows of a partition sort by it (as strings). */
  row: string;
  fields: Readonly<Record<string, FieldValue>>;
}

export interface RowTable {
  /** Inserts or replaces rows; batched per partition. */
  upsert(rows: readonly Row[]): Promise<void>;
  get(partition: readonly string[], row: string): Promise<Row | undefined>;
  /** Rows of one partition (or of all when `partition` is omitted), ascending by (partition, row). */
  list(options?: { partition?: readonly string[]; fromRow?: string; toRow?: string; limit?: number }): Promise<Row[]>;
  /** Deletes one row if it exists. */
  delete(partition: readonly string[], row: string): Promise<void>;
  /** Throws InvalidInputError, without any I/O, when the table could not hold a row with these keys. Optional, as for BlockTable. */
  checkKeys?(partition: readonly string[], row: string): void;
}

/**
 * How a block table lays its blocks out in storage: the first `partitionDepth` components of a
 * block's partition are the storage partition (default: all), so blocks that share them can be
 * written in one transaction. With `partitionBuckets` (block tables only), those components pick
 * one of that many storage partitions by a hash instead, so that blocks of several of them (e.g.
 * the VMs of several tenants) share a transaction. Readers and writers of one table must use the
 * same layout.
 */
export interface BlockLayout {
  partitionDepth?: number;
  partitionBuckets?: number;
}

/** Where projections live: named tables, created on first use. */
export interface TableStore {
  blockTable(name: string, layout?: BlockLayout): Promise<BlockTable>;
  rowTable(name: string, layout?: BlockLayout): Promise<RowTable>;
  /** Names of existing tables that start with `prefix`. */
  listTables(prefix: string): Promise<string[]>;
  dropTable(name: string): Promise<void>;
}

/**
 * The write side of a log alone: on Event Hubs appends go to the hub and reading is the
 * processors' business; the file log is both.
 */
export type EventAppender = Pick<EventLog, 'append'> & Partial<Pick<EventLog, 'read' | 'positionSince'>>;

/** Idempotency keys remembered durably outside the log (where the log cannot be scanned for them). */
export interface IdempotencyLedger {
  get(key: string): Promise<{ accepted: number; rejected: { index: number; reason: string }[]; atMs: number } | undefined>;
  put(key: string, answer: { accepted: number; rejected: { index: number; reason: string }[] }, atMs: number): Promise<void>;
}

/** A run of consecutive window events of the history, packed (projections/windowEventHistory). */
export interface HistoryChunk {
  readonly firstId: number;
  readonly lastId: number;
  readonly count: number;
  readonly data: Buffer;
}

/**
 * Where the window-event history of one 'windows' version is kept: per hour of ids, an
 * append-only run of chunks (ids increasing). Files beside the file log, or tables on Event Hubs.
 */
export interface WindowHistoryStore {
  /** The hours that hold chunks, ascending. */
  hours(): Promise<number[]>;
  /** Appends chunks of `hour` (ids above every one written); durable once it resolves. */
  append(hour: number, chunks: readonly HistoryChunk[]): Promise<void>;
  /** The chunks of `hour` that hold ids above `after` (maybe one before them too), ascending. */
  read(hour: number, after: number): AsyncIterable<HistoryChunk>;
  /** The newest id written to `hour`, or undefined when it has none. */
  lastId(hour: number): Promise<number | undefined>;
  /** Forgets an hour and everything in it. */
  drop(hour: number): Promise<void>;
  close(): Promise<void>;
}
