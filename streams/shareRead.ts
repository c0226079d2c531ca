import type { EventLog, LogReadOptions, LogRecord } from '../src/core/ports';

/** One reader of a shared read: its view of the log, and how it says it is done with it. */
export interface SharedReader {
  /** Reads like the log; its first read (not following the tail) joins the shared one. */
  log: EventLog;
  /** This reader reads no more (its rebuild ended, or failed before reading): the others stop waiting for it. */
  leave(): void;
}

export interface ShareReadOptions {
  /**
   * How far the fastest reader may get ahead of the slowest, in log bytes held for the slowest
   * (16 MB: ~330,000 metrics). A reader that pauses (its checkpoint waiting behind the windows'
   * block writes) does not stop the others at once; one that stays behind holds them back.
   */
  maxLeadBytes?: number;
}

/**
 * One read of `log` for `readers` readers (the projections of `opsfold replay --projection all`):
 * each view's first read, up to the log's end, gets the very same batches, read and checked once.
 * A batch is kept until every reader still reading has had it, and the log is read on only while
 * what is kept stays under `maxLeadBytes`: memory stays bounded, and the slowest reader sets the pace.
 * The read begins once every reader has joined or left; the first to join chooses where it begins
 * and the batch size (the smallest asked for). A reader that asks for anything else (another start,
 * the tail, a second read after a restart) reads the log on its own, and leaves the shared read.
 *
 * @example
 * const [a, b] = shareRead(log, 2);
 * await Promise.all([fold(a.log).finally(() => a.leave()), fold(b.log).finally(() => b.leave())]);
 */
export function shareRead(log: EventLog, readers: number, { maxLeadBytes = 16 * 1024 * 1024 }: ShareReadOptions = {}): SharedReader[] {
  const group = new ReadGroup(log, readers, maxLeadBytes);
  return Array.from({ length: readers }, () => group.reader());
}

/** What the shared read got, in order: a batch, its end, or its failure. */
type Read = { batch: LogRecord[]; bytes: number } | { end: true } | { error: unknown };

interface Reader {
  state: 'waiting' | 'joined' | 'gone';
  /** The index of the next read it gets. */
  next: number;
  /** Its ask for a read not made yet. */
  waiting?: { resolve(result: IteratorResult<LogRecord[]>): void; reject(error: unknown): void };
}

class ReadGroup {
  private readonly readers = new Set<Reader>();
  /** Readers that have neither joined nor left: the read does not begin before they do. */
  private pending: number;
  private start?: { from: number; maxBatchBytes?: number; blocking?: boolean };
  private source?: AsyncIterator<LogRecord[]>;
  /** Reads some joined reader has not had yet; `kept[0]` has index `first`. */
  private kept: Read[] = [];
  private first = 0;
  private keptBytes = 0;
  private reading = false;

  constructor(private readonly log: EventLog, readers: number, private readonly maxLeadBytes: number) {
    this.pending = readers;
  }

  reader(): SharedReader {
    const me: Reader = { state: 'waiting', next: 0 };
    this.readers.add(me);
    const log = this.log;
    const view: EventLog = {
      append: (payloads, options) => log.append(payloads, options),
      end: () => log.end(),
      positionSince: log.positionSince && ((timeMs) => log.positionSince!(timeMs)),
      close: async () => undefined, // the log is its owner's, and the other readers'
      read: (from, options = {}) => {
        if (!options.follow && this.join(me, from, options)) return this.iterable(me);
        this.leave(me);
        return log.read(from, options);
      },
    };
    return { log: view, leave: () => this.leave(me) };
  }

  /** Whether `me` reads with the group: only its first read, before the read began, from where the first joiner reads. */
  private join(me: Reader, from: number, { maxBatchBytes, blocking }: LogReadOptions): boolean {
    if (me.state !== 'waiting' || this.source !== undefined) return false;
    if (this.start !== undefined && this.start.from !== from) return false;
    // Blocking reads only when every reader asked for them (they share one read).
    this.start = { from, maxBatchBytes: smaller(this.start?.maxBatchBytes, maxBatchBytes), blocking: (this.start?.blocking ?? true) && blocking === true };
    me.state = 'joined';
    this.pending--;
    this.readOn();
    return true;
  }

  private leave(me: Reader): void {
    if (me.state === 'gone') return;
    if (me.state === 'waiting') this.pending--;
    me.state = 'gone';
    me.waiting?.resolve({ done: true, value: undefined });
    me.waiting = undefined;
    this.readers.delete(me);
    this.letGo();
    this.readOn();
  }

  private iterable(me: Reader): AsyncIterable<LogRecord[]> {
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => this.ask(me),
        return: async () => {
          this.leave(me);
          return { done: true, value: undefined };
        },
      }),
    };
  }

  private ask(me: Reader): Promise<IteratorResult<LogRecord[]>> {
    if (me.state !== 'joined') return Promise.resolve({ done: true, value: undefined });
    if (me.next < this.first + this.kept.length) return this.hand(me);
    return new Promise((resolve, reject) => {
      me.waiting = { resolve, reject };
      this.readOn();
    });
  }

  /** Gives `me` the next read it has not had (kept), and lets go of what every reader has had. */
  private hand(me: Reader): Promise<IteratorResult<LogRecord[]>> {
    const read = this.kept[me.next - this.first];
    if ('error' in read) return Promise.reject(read.error);
    if ('end' in read) return Promise.resolve({ done: true, value: undefined });
    me.next++;
    this.letGo();
    this.readOn();
    return Promise.resolve({ done: false, value: read.batch });
  }

  private letGo(): void {
    let slowest = Infinity;
    for (const r of this.readers) if (r.state === 'joined') slowest = Math.min(slowest, r.next);
    if (slowest === Infinity) slowest = this.first + this.kept.length;
    while (this.first < slowest && this.kept.length > 0) {
      const gone = this.kept.shift()!;
      if ('bytes' in gone) this.keptBytes -= gone.bytes;
      this.first++;
    }
  }

  /** Reads the next batch when a reader waits for it, everyone has joined, and what is kept leaves room. */
  private readOn(): void {
    if (this.reading || this.pending > 0 || this.keptBytes >= this.maxLeadBytes) return;
    const last = this.kept[this.kept.length - 1];
    if (last !== undefined && !('batch' in last)) return;
    const wanted = [...this.readers].some((r) => r.waiting !== undefined);
    if (!wanted) return;
    this.reading = true;
    const { from, maxBatchBytes, blocking } = this.start!;
    this.source ??= this.log.read(from, { follow: false, maxBatchBytes, blocking })[Symbol.asyncIterator]();
    this.source.next().then(
      (result) => this.got(result.done ? { end: true } : { batch: result.value, bytes: bytesOf(result.value) }),
      (error: unknown) => this.got({ error }),
    );
  }

  private got(read: Read): void {
    this.reading = false;
    this.kept.push(read);
    if ('bytes' in read) this.keptBytes += read.bytes;
    for (const r of this.readers) {
      const waiting = r.waiting;
      if (waiting === undefined || r.next >= this.first + this.kept.length) continue;
      r.waiting = undefined;
      this.hand(r).then(waiting.resolve, waiting.reject);
    }
    this.readOn();
  }
}

function bytesOf(batch: readonly LogRecord[]): number {
  return batch.length === 0 ? 0 : batch[batch.length - 1].next - batch[0].position;
}

function smaller(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
