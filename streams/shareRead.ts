import type { EventLog, LogRecord } from '../src/core/ports';

/** One reader of a shared read: its view of the log, and how it says it is done with it. */
export interface SharedReader {
  /** Reads like the log; its first read (not following the tail) joins the shared one. */
  log: EventLog;
  /** This reader reads no more (its rebuild ended, or failed before reading): the others stop waiting for it. */
  leave(): void;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * One read of `log` for `readers` readers (the projections of `opsfold replay --projection all`):
 * each view's first read, up to the log's end, gets the very same batches, read and checked once,
 * in lockstep. The next batch is read when every reader still reading has asked for it, so the
 * slowest reader sets the pace and no batch is held longer than the slowest one needs it. The read
 * begins once every reader has joined or left; the first to join chooses where it begins and the
 * batch size (the smallest asked for). A reader that asks for anything else (another start, the
 * tail, a second read after a restart) reads the log on its own, and leaves the shared read.
 *
 * @example
 * const [a, b] = shareRead(log, 2);
 * await Promise.all([fold(a.log).finally(() => a.leave()), fold(b.log).finally(() => b.leave())]);
 */
export function shareRead(log: EventLog, readers: number): SharedReader[] {
  const group = new ReadGroup(log, readers);
  return Array.from({ length: readers }, () => group.reader());
}

type ReaderState = 'waiting' | 'joined' | 'gone';

class ReadGroup {
  private readonly states = new Map<object, ReaderState>();
  /** Readers that have neither joined nor left: the read does not begin before they do. */
  private pending: number;
  private readonly joined = new Set<object>();
  private start?: { from: number; maxBatchBytes?: number };
  private source?: AsyncIterator<LogRecord[]>;
  /** Joined readers that asked for the next batch. */
  private asked = new Set<object>();
  private next?: Deferred<IteratorResult<LogRecord[]>>;
  private reading = false;

  constructor(private readonly log: EventLog, readers: number) {
    this.pending = readers;
  }

  reader(): SharedReader {
    const me = {};
    this.states.set(me, 'waiting');
    const log = this.log;
    const view: EventLog = {
      append: (payloads, options) => log.append(payloads, options),
      end: () => log.end(),
      positionSince: log.positionSince && ((timeMs) => log.positionSince!(timeMs)),
      close: async () => undefined, // the log is its owner's, and the other readers'
      read: (from, options = {}) => {
        if (!options.follow && this.join(me, from, options.maxBatchBytes)) return this.iterable(me);
        this.leave(me);
        return log.read(from, options);
      },
    };
    return { log: view, leave: () => this.leave(me) };
  }

  /** Whether `me` reads with the group: only its first read, before the read began, from where the first joiner reads. */
  private join(me: object, from: number, maxBatchBytes: number | undefined): boolean {
    if (this.states.get(me) !== 'waiting' || this.source !== undefined) return false;
    if (this.start !== undefined && this.start.from !== from) return false;
    this.start = { from, maxBatchBytes: smaller(this.start?.maxBatchBytes, maxBatchBytes) };
    this.states.set(me, 'joined');
    this.pending--;
    this.joined.add(me);
    return true;
  }

  private leave(me: object): void {
    const state = this.states.get(me);
    if (state === 'gone') return;
    this.states.set(me, 'gone');
    if (state === 'waiting') this.pending--;
    this.joined.delete(me);
    this.asked.delete(me);
    this.pull();
  }

  private iterable(me: object): AsyncIterable<LogRecord[]> {
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

  private ask(me: object): Promise<IteratorResult<LogRecord[]>> {
    if (!this.joined.has(me)) return Promise.resolve({ done: true, value: undefined });
    this.asked.add(me);
    this.next ??= deferred();
    const answer = this.next.promise;
    this.pull();
    return answer;
  }

  /** Reads the next batch once every joined reader has asked for it (the first one once nobody is left to join). */
  private pull(): void {
    if (this.reading || this.next === undefined || this.pending > 0 || this.asked.size === 0 || this.asked.size < this.joined.size) return;
    const answer = this.next;
    this.next = undefined;
    this.asked = new Set();
    this.reading = true;
    this.source ??= this.log.read(this.start!.from, { follow: false, maxBatchBytes: this.start!.maxBatchBytes })[Symbol.asyncIterator]();
    this.source.next().then((result) => {
      this.reading = false;
      answer.resolve(result);
    }, (error: unknown) => {
      this.reading = false;
      answer.reject(error);
    });
  }
}

function smaller(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
