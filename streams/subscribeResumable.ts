import {
  SlowSubscriberError, isMatchAll, matchesWindow,
  type FeedEntry, type SubscribeOptions, type WindowFilter, type WindowSink,
} from '../src/core/windowStream';

/** History is handed on in slices of about this many characters of JSON. */
export const HISTORY_SLICE_CHARS = 32 * 1024;

function* slices(entries: readonly FeedEntry[]): Generator<readonly FeedEntry[]> {
  let start = 0;
  let size = 0;
  for (let i = 0; i < entries.length; i++) {
    size += entries[i].json.length;
    if (size >= HISTORY_SLICE_CHARS) {
      yield entries.slice(start, i + 1);
      start = i + 1;
      size = 0;
    }
  }
  if (start < entries.length) yield start === 0 ? entries : entries.slice(start);
}

/** What a resumable subscription needs of a feed. */
export interface ResumableFeed {
  /** Every batch of events from now on, ids increasing; returns a function that stops it. */
  listen(listener: (batch: readonly FeedEntry[]) => void): () => void;
  /** Events with an id above `after`, oldest first; may repeat some that `listen` also gives. */
  history(after: number): AsyncIterable<FeedEntry[]>;
  /** The smallest id the history can still hold. */
  retainedFrom(): number;
}

/**
 * Delivers a feed's matching events to `sink`, each once and in id order. Without `after`: live
 * batches. With it: live batches are queued (up to `maxQueuedBytes`, else a SlowSubscriberError)
 * while the history after `after` is sent, paced by `sink.ready`; then the queue, skipping what
 * the history already sent, then live. Listening starts before the history is read, so an event
 * emitted meanwhile is in one or the other, never in neither.
 *
 * @example
 * const stop = subscribeResumable(feed, { key: 'win_cpu.percent' }, { next: send, error: close }, { after: lastId });
 */
export function subscribeResumable(feed: ResumableFeed, filter: WindowFilter, sink: WindowSink, options: SubscribeOptions = {}): () => void {
  const all = isMatchAll(filter);
  // An unfiltered batch past `after` is passed on as the same array (the HTTP adapter encodes it once).
  const select = (batch: readonly FeedEntry[], after: number): readonly FeedEntry[] => {
    if (all && (batch.length === 0 || batch[0].window.id > after)) return batch;
    return batch.filter((e) => e.window.id > after && (all || matchesWindow(filter, e.window)));
  };
  let closed = false;
  let last = options.after ?? 0;
  let queue: FeedEntry[] | undefined = options.after === undefined ? undefined : [];
  let queuedBytes = 0;
  const maxQueuedBytes = options.maxQueuedBytes ?? Infinity;
  const deliver = (selected: readonly FeedEntry[]) => {
    if (selected.length === 0) return;
    last = selected[selected.length - 1].window.id;
    sink.next(selected);
  };
  const unlisten = feed.listen((batch) => {
    const selected = select(batch, last);
    if (!queue) return deliver(selected);
    for (const e of selected) queuedBytes += e.json.length;
    queue.push(...selected);
    if (queuedBytes > maxQueuedBytes) {
      stop();
      sink.error(new SlowSubscriberError(`more than ${maxQueuedBytes} bytes of live events waited while the history was sent`));
    }
  });
  function stop(): void {
    if (closed) return;
    closed = true;
    unlisten();
  }
  if (options.after !== undefined) {
    const after = options.after;
    const retainedFrom = feed.retainedFrom();
    if (after < retainedFrom) sink.truncated?.(retainedFrom);
    void (async () => {
      for await (const batch of feed.history(after)) {
        if (closed) return;
        // History comes in stored chunks of up to thousands of events: hand it on in slices,
        // so a consumer that bounds what it holds is paced by `ready`, not flooded.
        for (const slice of slices(select(batch, last))) {
          deliver(slice);
          await sink.ready?.();
          if (closed) return;
        }
      }
      if (closed) return;
      const waiting = select(queue as FeedEntry[], last);
      queue = undefined;
      deliver(waiting);
    })().catch((error: unknown) => {
      if (closed) return;
      stop();
      sink.error(error instanceof Error ? error : new Error(String(error)));
    });
  }
  return stop;
}
