import type { Observable, Subscription } from 'rxjs';
import type { HistoryChunk, WindowHistoryStore } from '../src/core/ports';
import { windowEvent, withExtras, type FinalMinute, type WindowEvent, type WindowExtras, type WindowRecorder } from '../src/core/windowMath';
import {
  IDS_PER_MS, feedEntry, finalEventId, nextEventId,
  type FeedEntry, type FinalSink, type SubscribeOptions, type WindowEventSource, type WindowFilter, type WindowSink,
} from '../src/core/windowStream';
import { ChunkBuilder, firstIdOfHour, hourOfId, isExpired } from '../projections/windowEventHistory';
import { HistorySlices } from './HistorySlices';
import { SerialQueue } from './SerialQueue';
import { subscribeResumable } from './subscribeResumable';

export interface WindowEventFeedOptions {
  /** The windows projection's events (the hosts' windows$); or none, when the feed is the fold's `recorder` (a rebuild). */
  windows$?: Observable<WindowEvent>;
  /** Where the history of the 'windows' version is kept (the feed closes it). */
  store: WindowHistoryStore;
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
  /** Told of an event the feed could not take (it is not in the history) and of a listener that threw. */
  onError?: (error: unknown) => void;
  /**
   * The smallest id this history can hold: a resume from before it is told `truncated`. For a
   * history of final notices whose version began telling them late (after a rebuild, see
   * Checkpoint.finalFrom): those before were never kept.
   */
  floorId?: number;
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

/** A sealed chunk waiting to be written, numbered in order of sealing. */
interface Pending {
  readonly seq: number;
  readonly hour: number;
  readonly chunk: HistoryChunk;
}

/**
 * Gives every window event of the projector an id, keeps the recent ones in a durable
 * history (hours of packed chunks in a WindowHistoryStore, see projections/windowEventHistory)
 * and delivers them to subscribers: live in batches, or resumed after an id from the history
 * first. Events are packed as they come, so the unwritten ones cost a few bytes each and no
 * object.
 *
 * A feed of final notices is told them by the fold instead (`told`, as its FinalSink): their ids
 * are given (finalEventId), so one told again after a restart is dropped when the feed already
 * has its id, and the stream stays in id order. One feed takes one kind.
 *
 * @example
 * const feed = await WindowEventFeed.open({ windows$: projector.windows$, store, retentionHours: 24, flushIntervalMs: 1000 });
 * const stop = feed.subscribe({ key: 'win_cpu.percent' }, { next: (entries) => send(entries), error: console.error }, { after: 1700000000000000 });
 */
export class WindowEventFeed implements WindowEventSource, WindowRecorder, FinalSink {
  readonly stats: FeedStats = { lastId: 0, emitted: 0, written: 0, subscribers: 0, undurable: 0 };
  /** The slices of history that resumes share (see HistorySlices). */
  readonly historySlices = new HistorySlices();
  /** The chunk being filled: small enough that trimming to maxUnwritten cuts close to it. */
  private readonly builder: ChunkBuilder;
  /** Sealed, not yet durable (some maybe being written), ids increasing. */
  private pending: Pending[] = [];
  private sealed = 0;
  /** Events in `pending` and the builder. */
  private unwritten = 0;
  /** The chunks up to this number are being written: not trimmed meanwhile. */
  private writingThrough = 0;
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
    this.builder = new ChunkBuilder(Math.ceil(this.maxUnwritten / 8));
  }

  /** Finds the history's hours and newest id, prunes, then follows `windows$`. */
  static async open(options: WindowEventFeedOptions): Promise<WindowEventFeed> {
    const feed = new WindowEventFeed(options);
    await feed.load();
    feed.subscription = options.windows$?.subscribe({ next: (w) => feed.take(w), error: (error: unknown) => options.onError?.(error) });
    feed.timer = setInterval(() => void feed.flush().catch(() => undefined), options.flushIntervalMs);
    feed.timer.unref();
    return feed;
  }

  /** Stops following, writes what is left, closes the store. Subscribers are not ended (the HTTP adapter ends its streams). */
  async close(): Promise<void> {
    this.subscription?.unsubscribe();
    if (this.timer) clearInterval(this.timer);
    this.dispatch();
    await this.flush();
    await this.writes.run(() => this.options.store.close());
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
    if (this.unwritten < batch) return;
    await this.keeping; // one write in flight while the producer goes on
    if (this.writeFailing) throw this.writeError;
    this.keeping = this.flush();
  }

  private get maxUnwritten(): number {
    return this.options.maxUnwritten ?? 500_000;
  }

  /** The smallest id the history can still hold: a resume from before it has missed events. */
  retainedFrom(): number {
    const held = this.hours.size > 0 ? firstIdOfHour(Math.min(...this.hours)) : this.cutoffId();
    return Math.max(held, this.options.floorId ?? -Infinity);
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
   * The chunks holding the events with an id above `after`, oldest first: the durable ones, hour
   * by hour and one read at a time, then the ones not written yet. Those are taken (the chunk
   * being filled as a copy, so many resumes do not cut the history into small chunks)
   * synchronously, before the first read, so an event whose write completes meanwhile is read
   * from one place or the other, maybe both (see ResumableFeed). A chunk may hold ids up to
   * `after` too: the reader skips them (ChunkReader.skipThrough).
   */
  async *history(after: number): AsyncGenerator<HistoryChunk> {
    const memory = this.pending.map((p) => p.chunk);
    if (this.builder.count > 0) memory.push(this.builder.peek());
    let last = after;
    const hours = [...this.hours].filter((h) => h >= hourOfId(after)).sort((a, b) => a - b);
    for (const hour of hours) {
      if (!this.hours.has(hour)) continue; // pruned meanwhile
      for await (const chunk of this.options.store.read(hour, last)) {
        if (chunk.lastId <= last) continue;
        last = chunk.lastId;
        yield chunk;
      }
    }
    for (const chunk of memory) {
      if (chunk.lastId <= last) continue;
      last = chunk.lastId;
      yield chunk;
    }
  }

  /** An event of the projector's: one the feed cannot pack (an id too long for the history) is reported and left out, never thrown at the projector. */
  private take(w: WindowEvent): void {
    let id: number;
    try {
      id = this.keep(w.key, w.tenant, w.vm, w.windowStart, w.count, w.sum, w.min, w.max, w.revision, w);
    } catch (error) {
      this.options.onError?.(error);
      return;
    }
    if (this.listeners.size > 0) this.deliver(feedEntry(id, w));
  }

  /**
   * A window revision told as fields (the feed as the windows fold's recorder, in a rebuild):
   * packed straight into the history, and an object made only for live subscribers.
   */
  record(key: string, tenant: string | undefined, vm: string | undefined, windowStart: number,
    count: number, sum: number, min: number, max: number, revision: number, extras?: WindowExtras): void {
    const id = this.keep(key, tenant, vm, windowStart, count, sum, min, max, revision, extras);
    if (this.listeners.size > 0) {
      // The sketch's bytes are for in-process readers, not subscribers.
      const event = withExtras(windowEvent({ count, sum, min, max }, key, windowStart, revision, tenant, vm), extras && { vms: extras.vms, expectedVms: extras.expectedVms });
      this.deliver(feedEntry(id, event));
    }
  }

  /**
   * A window start's final notices, each with its given id (finalEventId: the start and its rank):
   * those at or below the newest id held (told before a restart, or already by this run) are
   * dropped, the others packed and delivered like events.
   */
  told(minute: FinalMinute): void {
    minute.windows.forEach((w, rank) => {
      let id: number;
      try {
        id = finalEventId(minute.windowStart, rank);
        if (id <= this.stats.lastId) return;
        this.keepAt(id, w.key, w.tenant, w.vm, w.windowStart, w.count, w.sum, w.min, w.max, w.revision, w, true);
      } catch (error) {
        this.options.onError?.(error);
        return;
      }
      if (this.listeners.size > 0) this.deliver(feedEntry(id, w));
    });
  }

  /** Writes what was taken so far; rejects when that write failed (the fold then takes no checkpoint past it). */
  async durable(): Promise<void> {
    await this.flush();
    if (this.writeFailing) throw this.writeError;
  }

  /** Gives the event its id and packs it into the history (unless older than the retention); returns the id. */
  private keep(key: string, tenant: string | undefined, vm: string | undefined, windowStart: number,
    count: number, sum: number, min: number, max: number, revision: number, extras?: WindowExtras): number {
    const id = nextEventId(this.stats.lastId, this.clock());
    this.keepAt(id, key, tenant, vm, windowStart, count, sum, min, max, revision, extras, false);
    return id;
  }

  /** Packs an event with id `id` (above the last) into the history, unless older than the retention. */
  private keepAt(id: number, key: string, tenant: string | undefined, vm: string | undefined, windowStart: number,
    count: number, sum: number, min: number, max: number, revision: number, extras: WindowExtras | undefined, final: boolean): void {
    this.stats.lastId = id;
    this.stats.emitted++;
    // A rebuild passes over older events without packing them (the cutoff is read every 1,024 events: it moves slowly).
    if ((this.stats.emitted & 1023) === 1) this.cutoff = this.cutoffId();
    if (id >= this.cutoff) {
      if (!this.builder.fits(id, windowStart)) this.seal();
      this.builder.addFields(id, key, tenant, vm, windowStart, count, sum, min, max, revision, extras, final);
      if (++this.unwritten > this.maxUnwritten + Math.ceil(this.maxUnwritten / 8)) this.trim();
    }
  }

  /** Queues an event for the live subscribers (a later subscriber finds it in the history). */
  private deliver(entry: FeedEntry): void {
    this.dispatchQueue.push(entry);
    if (!this.dispatchScheduled) {
      this.dispatchScheduled = true;
      setImmediate(() => this.dispatch());
    }
  }

  private seal(): void {
    if (this.builder.count === 0) return;
    const chunk = this.builder.seal();
    this.pending.push({ seq: ++this.sealed, hour: hourOfId(chunk.firstId), chunk });
  }

  /** The store has failed for long: the oldest chunks (not being written) go, down to maxUnwritten events. */
  private trim(): void {
    this.seal();
    while (this.unwritten > this.maxUnwritten) {
      const i = this.pending.findIndex((p) => p.seq > this.writingThrough);
      if (i < 0) return;
      const [gone] = this.pending.splice(i, 1);
      this.unwritten -= gone.chunk.count;
      this.stats.undurable += gone.chunk.count;
    }
  }

  /** Delivers the events of this turn as one batch: one write per subscriber per burst. */
  private dispatch(): void {
    this.dispatchScheduled = false;
    const batch = this.dispatchQueue;
    if (batch.length === 0) return;
    this.dispatchQueue = [];
    for (const listener of [...this.listeners]) {
      try {
        listener(batch);
      } catch (error) {
        // Runs from setImmediate: a throw here would end the process. One listener's failure is its own.
        this.options.onError?.(error);
      }
    }
  }

  private async write(): Promise<void> {
    this.seal();
    const batch = this.pending.slice();
    try {
      if (batch.length > 0) {
        this.writingThrough = batch[batch.length - 1].seq;
        let from = 0;
        while (from < batch.length) {
          const hour = batch[from].hour;
          let to = from;
          while (to < batch.length && batch[to].hour === hour) to++;
          await this.options.store.append(hour, batch.slice(from, to).map((p) => p.chunk));
          this.hours.add(hour);
          from = to;
        }
        // Chunks sealed meanwhile stay.
        const done = batch.reduce((n, p) => n + p.chunk.count, 0);
        this.pending = this.pending.filter((p) => p.seq > this.writingThrough);
        this.unwritten -= done;
        this.stats.written += done;
      }
      await this.prune();
      this.writeFailing = false;
    } catch (error) {
      if (!this.writeFailing) this.options.onWriteError?.(error);
      this.writeFailing = true;
      this.writeError = error;
    } finally {
      this.writingThrough = 0;
    }
  }

  private async load(): Promise<void> {
    for (const hour of await this.options.store.hours()) this.hours.add(hour);
    const newest = Math.max(-1, ...this.hours);
    if (newest >= 0) this.stats.lastId = (await this.options.store.lastId(newest)) ?? 0;
    await this.prune();
  }

  private async prune(): Promise<void> {
    const cutoff = this.cutoffId();
    const newest = Math.max(...this.hours);
    for (const hour of [...this.hours]) {
      // The newest hour stays, so a restart after a long pause still continues its ids.
      if (hour === newest || !isExpired(hour, cutoff)) continue;
      this.hours.delete(hour);
      await this.options.store.drop(hour);
    }
  }

  private cutoffId(): number {
    return (this.now() - this.options.retentionHours * 3600_000) * IDS_PER_MS;
  }
}
