import { OpsfoldError } from './errors';
import { WINDOW_SECONDS, type FinalMinute, type WindowEvent } from './windowMath';

/**
 * Window events as a subscribable stream: every emitted window revision gets an `id`, a
 * positive integer that only grows (also across restarts), so a subscriber can say "after id
 * N" and be sent what it missed from the durable history, then the live events.
 */

/** A window event with its stream id; `final` is always there (false on revisions). */
export interface StreamedWindowEvent extends WindowEvent {
  readonly id: number;
  final: boolean;
}

/** A streamed event and its JSON text, serialized once for every subscriber. */
export interface FeedEntry {
  readonly id: number;
  /** The event as emitted (without its id). */
  readonly event: WindowEvent;
  /** The event with its id. */
  readonly window: StreamedWindowEvent;
  readonly json: string;
}

/**
 * A FeedEntry whose streamed form and JSON are made when first asked for: a rebuild writes its
 * history (from `id` and `event`) without making either.
 */
class LazyFeedEntry implements FeedEntry {
  private streamed?: StreamedWindowEvent;
  private text?: string;
  constructor(readonly id: number, readonly event: WindowEvent) {}
  get window(): StreamedWindowEvent {
    return (this.streamed ??= { id: this.id, ...this.event, final: this.event.final === true });
  }
  get json(): string {
    return (this.text ??= JSON.stringify(this.window));
  }
}

export function feedEntry(id: number, event: WindowEvent): FeedEntry {
  return new LazyFeedEntry(id, event);
}

/** Which window events a subscriber wants; every given field must match. */
export interface WindowFilter {
  key?: string;
  /** Per-VM windows of this tenant and VM (both or neither). */
  tenant?: string;
  vm?: string;
  /** Only cross-tenant windows, or only per-VM ones. */
  grouping?: 'cross' | 'vm';
}

export function matchesWindow(filter: WindowFilter, w: WindowEvent): boolean {
  if (filter.key !== undefined && w.key !== filter.key) return false;
  if (filter.grouping === 'cross' && w.tenant !== undefined) return false;
  if (filter.grouping === 'vm' && w.tenant === undefined) return false;
  if (filter.tenant !== undefined && (w.tenant !== filter.tenant || w.vm !== filter.vm)) return false;
  return true;
}

export function isMatchAll(filter: WindowFilter): boolean {
  return filter.key === undefined && filter.tenant === undefined && filter.grouping === undefined;
}

/**
 * Ids are the emission's processing time in microsecond units (epoch ms × 1000) made strictly
 * increasing: a burst of events in one millisecond counts on, and an id never repeats after a
 * restart (the clock has moved on) nor when the clock steps back (the last id is remembered).
 */
export const IDS_PER_MS = 1000;

export function nextEventId(lastId: number, processingTimeMs: number): number {
  const fromClock = Math.floor(processingTimeMs) * IDS_PER_MS;
  return fromClock > lastId ? fromClock : lastId + 1;
}

/**
 * The id of a final notice: its window's start in the same microsecond units (epoch seconds ×
 * 10^6), plus its rank among the windows of that start (FinalMinute order). Unlike a revision's id
 * it is a function of the log alone, so a notice told again after a restart (or by a rebuild of the
 * same log) has the id it had, and a feed drops what it already holds by comparing ids.
 */
export function finalEventId(windowStart: number, rank: number): number {
  if (!(rank >= 0 && rank < WINDOW_SECONDS * 1000 * IDS_PER_MS)) throw new RangeError(`a window start has more final windows than its ids can number (${rank + 1})`);
  return windowStart * 1000 * IDS_PER_MS + rank;
}

/**
 * Where a fold tells the windows that became final (WindowsConfig.finals). An implementation must
 * keep, once `durable` has resolved, every minute told before the call: the fold awaits it before
 * each checkpoint, and after a restart tells again only the minutes after its checkpoint's
 * `finalThrough`, each with the ids it had (finalEventId), so that what it already holds is known.
 */
export interface FinalSink {
  told(minute: FinalMinute): void;
  durable(): Promise<void>;
}

/** The processing time (epoch ms) an id was assigned at, give or take a burst's run-ahead. */
export function eventIdTimeMs(id: number): number {
  return Math.floor(id / IDS_PER_MS);
}

/** A subscriber did not keep up: the live events waiting for it passed its bound. */
export class SlowSubscriberError extends OpsfoldError {
  constructor(message: string) {
    super('slow_subscriber', message, { retriable: true });
  }
}

/** What a subscriber is handed. */
export interface WindowSink {
  /** Matching events, oldest first, ids increasing, none twice. */
  next(entries: readonly FeedEntry[]): void;
  /** Awaited between batches of history during a resume: a slow consumer paces the history read. */
  ready?(): Promise<void>;
  /** The history no longer reaches back to the requested id: events from before `retainedFrom` were pruned. */
  truncated?(retainedFrom: number): void;
  /** Delivery stopped for good: the history could not be read (or, for a source that cannot resume otherwise, a SlowSubscriberError). */
  error(error: Error): void;
}

export interface SubscribeOptions {
  /** Resume: deliver every matching event with an id above this one first. Absent: live events only. */
  after?: number;
  /**
   * While the history of a resume is sent, live events wait in a queue of about this many bytes
   * of JSON at most; beyond, the resume reads them from the history instead. The history is
   * handed on in slices of an eighth of this (32 KB at most).
   */
  maxQueuedBytes?: number;
}

/**
 * The port the HTTP adapter and embedders subscribe through. An implementation must deliver
 * each matching event exactly once and in id order, with no gap between history and live.
 */
export interface WindowEventSource {
  /** Returns a function that stops delivery. */
  subscribe(filter: WindowFilter, sink: WindowSink, options?: SubscribeOptions): () => void;
}
