import type { Observable, Subscription } from 'rxjs';
import type { BlockTable, TableStore } from '../src/core/ports';
import type { WindowEvent } from '../src/core/windowMath';
import {
  IDS_PER_MS, feedEntry, nextEventId,
  type FeedEntry, type SubscribeOptions, type WindowEventSource, type WindowFilter, type WindowSink,
} from '../src/core/windowStream';
import {
  HEAD_ROW, HISTORY_PARTITION, firstIdOfHour, fromChunk, headBlock, historyTable, historyTablePrefix, hourOfId, hourOfTable,
  isExpired, resumeRow, toChunks,
} from '../projections/windowEventHistory';
import { SerialQueue } from './SerialQueue';
import { subscribeResumable } from './subscribeResumable';

export interface WindowEventFeedOptions {
  /** The projector's window events (WindowsProjector.windows$). */
  windows$: Observable<WindowEvent>;
  tables: TableStore;
  tablePrefix: string;
  /** The 'windows' projection version the history belongs to. */
  version: number;
  /** Events older than this are pruned (whole hours) and, in a rebuild, not written. */
  retentionHours: number;
  /** How often new events are written (processing time). */
  flushIntervalMs: number;
  /** Processing time of an emission (epoch ms): the wall clock live, the record's append time in a rebuild. */
  clock?: () => number;
  /** Wall clock, for the retention cutoff. */
  now?: () => number;
  /** Unwritten events kept for a retry while the store fails; beyond, the oldest lose durability. */
  maxUnwritten?: number;
  /** Told once per failed write (the feed retries on the next flush). */
  onWriteError?: (error: unknown) => void;
}

export interface FeedStats {
  lastId: number;
  emitted: number;
  written: number;
  subscribers: number;
  /** Events that were delivered live but never made durable (the store failed for too long). */
  undurable: number;
}

type Listener = (batch: readonly FeedEntry[]) => void;

/**
 * Gives every window event of the projector an id, keeps the recent ones in a durable
 * history (hourly block tables, see projections/windowEventHistory) and delivers them to
 * subscribers: live in batches, or resumed after an id from the history first.
 *
 * @example
 * const feed = await WindowEventFeed.open({ windows$: projector.windows$, tables, tablePrefix, version, retentionHours: 24, flushIntervalMs: 1000 });
 * const stop = feed.subscribe({ key: 'win_cpu.percent' }, { next: (entries) => send(entries), error: console.error }, { after: 1700000000000000 });
 */
export class WindowEventFeed implements WindowEventSource {
  readonly stats: FeedStats = { lastId: 0, emitted: 0, written: 0, subscribers: 0, undurable: 0 };
  /** Emitted, not yet durable (pending and being written), ids increasing. */
  private unwritten: FeedEntry[] = [];
  private readonly hours = new Set<number>();
  private readonly listeners = new Set<Listener>();
  private dispatchQueue: FeedEntry[] = [];
  private dispatchScheduled = false;
  private readonly writes = new SerialQueue();
  private subscription?: Subscription;
  private timer?: NodeJS.Timeout;
  private writeFailing = false;
  private writeError?: unknown;
  private keeping: Promise<void> = Promise.resolve();
  private cutoff = -Infinity;
  private readonly clock: () => number;
  private readonly now: () => number;

  private constructor(private readonly options: WindowEventFeedOptions) {
    this.clock = options.clock ?? Date.now;
    this.now = options.now ?? Date.now;
  }

  /** Finds the history's tables and newest id, prunes, then follows `windows$`. */
  static async open(options: WindowEventFeedOptions): Promise<WindowEventFeed> {
    const feed = new WindowEventFeed(options);
    await feed.load();
    feed.subscription = options.windows$.subscribe((w) => feed.take(w));
    feed.timer = setInterval(() => void feed.flush().catch(() => undefined), options.flushIntervalMs);
    feed.timer.unref();
    return feed;
  }

  /** Stops following, writes what is left. Subscribers are not ended (the HTTP adapter ends its streams). */
  async close(): Promise<void> {
    this.subscription?.unsubscribe();
    if (this.timer) clearInterval(this.timer);
    this.dispatch();
    await this.flush();
  }

  /** Writes the events emitted so far (and prunes); resolves once they are durable. */
  flush(): Promise<void> {
    return this.writes.run(() => this.write());
  }

  /**
   * For a producer that can wait (a rebuild, between batches of the log): once more than `batch`
   * events are unwritten, waits for the write before (if any) and starts writing them, so nothing
   * piles up unwritten and nothing is dropped.
   */
  async keepUp(batch = 6_000): Promise<void> {
    if (this.unwritten.length < batch) return;
    await this.keeping; // one write in flight while the producer goes on
    if (this.writeFailing) throw this.writeError;
    this.keeping = this.flush();
  }

  private get maxUnwritten(): number {
    return this.options.maxUnwritten ?? 500_000;
  }

  /** The smallest id the history can still hold: a resume from before it has missed events. */
  retainedFrom(): number {
    if (this.hours.size > 0) return firstIdOfHour(Math.min(...this.hours));
    return this.cutoffId();
  }

  subscribe(filter: WindowFilter, sink: WindowSink, options: SubscribeOptions = {}): () => void {
    return subscribeResumable(this, filter, sink, options);
  }

  /** Calls `listener` with every batch of events from now on; returns a function that stops it. */
  listen(listener: (batch: readonly FeedEntry[]) => void): () => void {
    this.listeners.add(listener);
    this.stats.subscribers = this.listeners.size;
    return () => {
      this.listeners.delete(listener);
      this.stats.subscribers = this.listeners.size;
    };
  }

  /**
   * Events with an id above `after`, oldest first, in batches: the durable chunks, then what is
   * not written yet. The unwritten ones are copied before the first read, so an event whose
   * write completes meanwhile is read from one place or the other (the caller drops repeats).
   */
  async *history(after: number): AsyncGenerator<FeedEntry[]> {
    const memory = this.unwritten.slice();
    let last = after;
    const hours = [...this.hours].filter((h) => h >= hourOfId(after)).sort((a, b) => a - b);
    for (const hour of hours) {
      if (!this.hours.has(hour)) continue; // pruned meanwhile
      const table = await this.table(hour);
      for (const block of await table.readRange(HISTORY_PARTITION, resumeRow(hour, after), HEAD_ROW - 1)) {
        const entries = fromChunk(block).filter((e) => e.window.id > last);
        if (entries.length === 0) continue;
        last = entries[entries.length - 1].window.id;
        yield entries;
      }
    }
    const rest = memory.filter((e) => e.window.id > last);
    if (rest.length > 0) yield rest;
  }

  private take(w: WindowEvent): void {
    const id = nextEventId(this.stats.lastId, this.clock());
    this.stats.lastId = id;
    this.stats.emitted++;
    // A rebuild passes over older events without serializing them (the cutoff is read every 1,024 events: it moves slowly).
    if ((this.stats.emitted & 1023) === 1) this.cutoff = this.cutoffId();
    const kept = id >= this.cutoff;
    if (!kept && this.listeners.size === 0) return;
    const entry = feedEntry(id, w);
    if (kept) {
      this.unwritten.push(entry);
      // Trimmed in steps (an eighth of the bound over it), never one event at a time from the front of a long array.
      const max = this.maxUnwritten;
      if (this.unwritten.length > max + Math.ceil(max / 8)) {
        this.stats.undurable += this.unwritten.length - max;
        this.unwritten.splice(0, this.unwritten.length - max);
      }
    }
    if (this.listeners.size === 0) return; // a later subscriber finds it in the history
    this.dispatchQueue.push(entry);
    if (!this.dispatchScheduled) {
      this.dispatchScheduled = true;
      setImmediate(() => this.dispatch());
    }
  }

  /** Delivers the events of this turn as one batch: one write per subscriber per burst. */
  private dispatch(): void {
    this.dispatchScheduled = false;
    const batch = this.dispatchQueue;
    if (batch.length === 0) return;
    this.dispatchQueue = [];
    for (const listener of [...this.listeners]) listener(batch);
  }

  private async write(): Promise<void> {
    const entries = this.unwritten;
    const count = entries.length;
    try {
      if (count > 0) {
        const chunks = toChunks(entries.slice(0, count));
        for (const [hour, blocks] of chunks) {
          await (await this.table(hour)).write(blocks);
          this.hours.add(hour);
        }
        const newest = entries[count - 1].window.id;
        await (await this.table(hourOfId(newest))).write([headBlock(newest)]);
        // Events pushed meanwhile stay; a splice keeps the array others may be copying intact.
        this.unwritten.splice(0, count);
        this.stats.written += count;
      }
      await this.prune();
      this.writeFailing = false;
    } catch (error) {
      if (!this.writeFailing) this.options.onWriteError?.(error);
      this.writeFailing = true;
      this.writeError = error;
    }
  }

  private async load(): Promise<void> {
    const { tables, tablePrefix, version } = this.options;
    for (const name of await tables.listTables(historyTablePrefix(tablePrefix, version))) {
      const hour = hourOfTable(tablePrefix, version, name);
      if (hour !== undefined) this.hours.add(hour);
    }
    const newest = Math.max(-1, ...this.hours);
    if (newest >= 0) {
      const head = await (await this.table(newest)).read(HISTORY_PARTITION, HEAD_ROW);
      this.stats.lastId = head?.appliedThrough ?? 0;
    }
    await this.prune();
  }

  private async prune(): Promise<void> {
    const cutoff = this.cutoffId();
    const newest = Math.max(...this.hours);
    for (const hour of [...this.hours]) {
      // The newest table keeps the head row, so a restart after a long pause still continues its ids.
      if (hour === newest || !isExpired(hour, cutoff)) continue;
      this.hours.delete(hour);
      await this.options.tables.dropTable(historyTable(this.options.tablePrefix, this.options.version, hour));
    }
  }

  private cutoffId(): number {
    return (this.now() - this.options.retentionHours * 3600_000) * IDS_PER_MS;
  }

  private table(hour: number): Promise<BlockTable> {
    return this.options.tables.blockTable(historyTable(this.options.tablePrefix, this.options.version, hour));
  }
}
