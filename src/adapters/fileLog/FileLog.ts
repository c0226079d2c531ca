import { constants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { InvalidInputError, StorageError } from '../../core/errors';
import type { AppendResult, EventLog, LogReadOptions, LogRecord } from '../../core/ports';
import { DirLock } from './DirLock';
import { LogWriter, type TailRepair } from './LogWriter';
import { MAX_PAYLOAD_BYTES } from './recordFormat';
import { readRecords } from './readRecords';
import { notifyAppend } from './waitForAppend';
import { listSegments } from './segmentFiles';

export type { TailRepair } from './LogWriter';

export interface FileLogOptions {
  /** Roll to a new segment file when a record would take the active one past this size. */
  segmentBytes?: number;
  /** A lock file older than this is presumed abandoned, even if its pid is alive. */
  lockStaleMs?: number;
  /** How often followers look for records appended by other processes. */
  pollIntervalMs?: number;
  /** Told of every bad tail repaired, on open or later (when a writer died mid-append): see repairTail. */
  onRepair?: (repair: TailRepair) => void;
  /** The clock stamped into records as `appendedAtMs`. */
  now?: () => number;
}

export interface FileLogStats {
  /** `append` calls that carried at least one payload. */
  appends: number;
  records: number;
  /** Group commits: one locked write + fdatasync each, however many appends it carried. */
  syncs: number;
  bytesWritten: number;
}

interface PendingAppend {
  payloads: readonly Buffer[];
  bytes: number;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/** Appends queued behind a commit in flight are coalesced into the next one, up to this many bytes. */
const MAX_GROUP_BYTES = 32 * 1024 * 1024;
const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * The embedded event log: segment files of checksummed records in one directory, shared safely
 * by several processes through a lock file. See recordFormat.ts for the bytes on disk.
 *
 * @example
 * const log = await FileLog.open('./data/log');
 * const { end } = await log.append([Buffer.from('{"type":"x"}')]);
 * for await (const batch of log.read(0)) for (const record of batch) console.log(record.position);
 */
export class FileLog implements EventLog {
  private readonly queue: PendingAppend[] = [];
  private flushing?: Promise<void>;
  private closed = false;
  private readonly closing = new AbortController();
  private readonly readerHandles = new Set<FileHandle>();
  private readonly counters: FileLogStats = { appends: 0, records: 0, syncs: 0, bytesWritten: 0 };

  private constructor(
    readonly dir: string,
    private readonly lock: DirLock,
    private readonly writer: LogWriter,
    private readonly repairList: readonly TailRepair[],
    private readonly pollIntervalMs: number,
    private readonly now: () => number,
  ) {}

  static async open(dir: string, options: FileLogOptions = {}): Promise<FileLog> {
    const {
      segmentBytes = 128 * 1024 * 1024, // 128 MiB
      lockStaleMs = 30_000,
      pollIntervalMs = 100,
      onRepair,
      now = Date.now,
    } = options;
    requirePositiveInteger('segmentBytes', segmentBytes);
    requirePositiveInteger('lockStaleMs', lockStaleMs);
    requirePositiveInteger('pollIntervalMs', pollIntervalMs);
    await prepareDirectory(dir);
    const repairs: TailRepair[] = [];
    const writer = new LogWriter(dir, segmentBytes, (repair) => {
      repairs.push(repair);
      onRepair?.(repair);
    }, now);
    const lock = new DirLock(path.join(dir, 'append.lock'), { staleMs: lockStaleMs });
    try {
      await lock.withLock(() => writer.prepare());
    } catch (error) {
      await writer.close();
      throw error;
    }
    return new FileLog(dir, lock, writer, repairs, pollIntervalMs, now);
  }

  /** Bad tails this instance repaired, oldest first. */
  get repairs(): readonly TailRepair[] {
    return [...this.repairList];
  }

  get stats(): Readonly<FileLogStats> {
    return { ...this.counters };
  }

  async append(payloads: readonly Buffer[]): Promise<AppendResult> {
    if (this.closed) throw closedError(this.dir);
    let bytes = 0;
    for (const [index, payload] of payloads.entries()) {
      if (!(payload instanceof Uint8Array)) throw new InvalidInputError(`payload ${index} is not a Buffer`, { parameter: 'payloads' });
      if (payload.length > MAX_PAYLOAD_BYTES) {
        throw new InvalidInputError(`payload ${index} has ${payload.length} bytes, above the ${MAX_PAYLOAD_BYTES} a record can hold`, { parameter: 'payloads' });
      }
      bytes += payload.length;
    }
    if (payloads.length === 0) {
      const end = await this.end();
      return { first: end, end };
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ payloads: [...payloads], bytes, resolve, reject });
      this.flushing ??= this.flush().finally(() => (this.flushing = undefined));
    });
  }

  read(from: number, options: LogReadOptions = {}): AsyncIterable<LogRecord[]> {
    const { follow = false, signal, maxBatchBytes = DEFAULT_MAX_BATCH_BYTES, blocking = false } = options;
    if (!Number.isSafeInteger(from) || from < 0) throw new InvalidInputError(`position ${from} is not a log position`, { parameter: 'from' });
    requirePositiveInteger('maxBatchBytes', maxBatchBytes);
    if (this.closed) throw closedError(this.dir);
    return readRecords(from, {
      dir: this.dir,
      probeEnd: () => this.writer.probeEnd(),
      follow,
      maxBatchBytes,
      blocking,
      pollIntervalMs: this.pollIntervalMs,
      signals: [signal, this.closing.signal],
      handles: this.readerHandles,
    });
  }

  async end(): Promise<number> {
    return (await this.writer.probeEnd()).end;
  }

  /**
   * The base of the first segment last written at or after `timeMs` (its mtime), so whole
   * older segments are skipped; the end when none is. Files copied without their times only
   * look newer, which reads more, never less.
   */
  async positionSince(timeMs: number): Promise<number> {
    for (const segment of await listSegments(this.dir)) {
      try {
        if ((await fs.stat(segment.path)).mtimeMs >= timeMs) return segment.base;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return this.end();
  }

  /** Waits for queued appends, ends followers, closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    this.closing.abort();
    // Readers parked at a `yield` would otherwise keep theirs until resumed.
    await Promise.all([...this.readerHandles].map((handle) => handle.close()));
    await this.writer.close();
  }

  /** One group commit after another until the queue is empty: one locked write + fdatasync per group. */
  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      let take = 1;
      let bytes = this.queue[0].bytes;
      while (take < this.queue.length && bytes + this.queue[take].bytes <= MAX_GROUP_BYTES) bytes += this.queue[take++].bytes;
      const group = this.queue.splice(0, take);
      try {
        const results = await this.lock.withLock(() => this.writer.write(group.map((g) => g.payloads), this.now()));
        this.counters.syncs++;
        this.counters.appends += group.length;
        for (const g of group) this.counters.records += g.payloads.length;
        this.counters.bytesWritten += results[results.length - 1].end - results[0].first;
        notifyAppend(this.dir);
        group.forEach((g, i) => g.resolve(results[i]));
      } catch (error) {
        for (const g of group) g.reject(error);
      }
    }
  }
}

async function prepareDirectory(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (cause) {
    throw new StorageError(`cannot create the log directory ${dir}: ${(cause as Error).message}`, { cause, retriable: false });
  }
  try {
    await fs.access(dir, constants.W_OK);
  } catch (cause) {
    throw new StorageError(`the log directory ${dir} is not writable: ${(cause as Error).message}`, { cause, retriable: false });
  }
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidInputError(`${name} must be a positive integer, got ${value}`, { parameter: name });
}

function closedError(dir: string): StorageError {
  return new StorageError(`the log in ${dir} is closed`, { retriable: false });
}
