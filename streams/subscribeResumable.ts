import type { HistoryChunk } from '../src/core/ports';
import {
  isMatchAll, matchesWindow,
  type FeedEntry, type SubscribeOptions, type WindowFilter, type WindowSink,
} from '../src/core/windowStream';
import { approxFrameBytes, HistorySlices } from './HistorySlices';

/** History is handed on in slices of about this many bytes of frames (fewer for a small `maxQueuedBytes`). */
export const HISTORY_SLICE_BYTES = 32 * 1024;
/** Bytes of frames of live events a resume queues while it reads the history, unless told otherwise. */
export const DEFAULT_MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/**
 * A resume's pause after each slice: what the sink asks for, then a turn of the event loop. Its
 * writes may all complete at once (a fast reader on loopback) and its chunks come from a cache:
 * without the turn, one resume could run through the whole history while nothing else (other
 * clients, new connections) gets a turn.
 */
const giveWay = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What a resumable subscription needs of a feed. */
export interface ResumableFeed {
  /** Every batch of events from now on, ids increasing; returns a function that stops it. */
  listen(listener: (batch: readonly FeedEntry[]) => void): () => void;
  /**
   * The chunks holding the events with an id above `after`, oldest first: what is durable, then
   * what is not written yet, as of the call (taken synchronously, before the first read). A chunk
   * may also hold ids up to `after`, and one written meanwhile may come twice: the reader skips
   * ids it has seen.
   */
  history(after: number): AsyncIterable<HistoryChunk>;
  /** The smallest id the history can still hold. */
  retainedFrom(): number;
  /** Where resumes cut chunks into slices, shared among them; absent: each resume cuts its own. */
  readonly historySlices?: HistorySlices;
}

/**
 * Delivers a feed's matching events to `sink`, each once and in id order. Without `after`: live
 * batches. With it, a resume: the history after `after` is read chunk by chunk and handed on in
 * slices, each awaited with `sink.ready` (a slow consumer paces the reading; a resume holds one
 * chunk's bytes and one slice, however far back it starts; it gives way to other work after each
 * slice). Live batches are queued meanwhile, up to about `maxQueuedBytes` of frames; past it the
 * queue is dropped, and once this pass ends another reads on from the history. When a pass ends with its queue whole, the queue is sent (paced the
 * same way) and the subscription is live. Listening starts before a pass takes its snapshot, so
 * an event emitted meanwhile is in one or the other, never in neither.
 *
 * @example
 * const stop = subscribeResumable(feed, { key: 'win_cpu.percent' }, { next: send, ready: drained, error: close }, { after: lastId });
 */
export function subscribeResumable(feed: ResumableFeed, filter: WindowFilter, sink: WindowSink, options: SubscribeOptions = {}): () => void {
  const all = isMatchAll(filter);
  // An unfiltered batch past `after` is passed on as the same array (the HTTP adapter encodes it once).
  const select = (batch: readonly FeedEntry[], after: number): readonly FeedEntry[] => {
    if (all && (batch.length === 0 || batch[0].id > after)) return batch;
    return batch.filter((e) => e.id > after && (all || matchesWindow(filter, e.event)));
  };
  const maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
  const sliceBytes = Math.max(1, Math.min(HISTORY_SLICE_BYTES, Math.floor(maxQueuedBytes / 8)));
  let closed = false;
  let resuming = options.after !== undefined;
  /** The newest id delivered. */
  let last = options.after ?? 0;
  /** Live events since the current pass began; undefined once it overflowed. */
  let queue: FeedEntry[] | undefined = [];
  let queuedBytes = 0;
  const startQueue = () => {
    queue = [];
    queuedBytes = 0;
  };
  const deliver = (selected: readonly FeedEntry[]) => {
    if (selected.length === 0) return;
    last = selected[selected.length - 1].id;
    sink.next(selected);
  };
  const unlisten = feed.listen((batch) => {
    if (!resuming) return deliver(select(batch, last));
    if (!queue) return; // this pass's queue overflowed: the next pass reads these from the history
    for (const e of select(batch, last)) {
      queue.push(e);
      queuedBytes += approxFrameBytes(e);
    }
    if (queuedBytes > maxQueuedBytes) queue = undefined;
  });
  const paced = async (): Promise<void> => {
    await sink.ready?.();
    await giveWay();
  };
  const slices = feed.historySlices ?? new HistorySlices(0);
  const leaveSlices = resuming ? slices.open() : () => undefined;
  function stop(): void {
    if (closed) return;
    closed = true;
    queue = undefined;
    unlisten();
    leaveSlices();
  }

  /** One pass over the history after `seen`; returns the newest id it examined. */
  const pass = async (seen: number): Promise<number> => {
    for await (const chunk of feed.history(seen)) {
      if (closed) return seen;
      let delivered = false;
      for (const slice of slices.of(chunk, seen, sliceBytes)) {
        seen = slice[slice.length - 1].id;
        const selected = all ? slice : slice.filter((e) => matchesWindow(filter, e.event));
        if (selected.length === 0) continue;
        deliver(selected);
        delivered = true;
        await paced();
        if (closed) return seen;
      }
      if (!delivered) await giveWay(); // a filter that matches little still lets others in
    }
    return seen;
  };

  /** Hands on entries in slices of about `sliceBytes`, each awaited with `sink.ready`; false when closed meanwhile. */
  const sendSlices = async (entries: readonly FeedEntry[]): Promise<boolean> => {
    let from = 0;
    let bytes = 0;
    for (let i = 0; i < entries.length; i++) {
      if ((bytes += approxFrameBytes(entries[i])) < sliceBytes && i < entries.length - 1) continue;
      deliver(from === 0 && i === entries.length - 1 ? entries : entries.slice(from, i + 1));
      await paced();
      if (closed) return false;
      from = i + 1;
      bytes = 0;
    }
    return true;
  };

  /**
   * Sends what was queued, while new live events queue behind it; a rest of at most a slice goes
   * in the same turn as the switch to live, so a resume ends even while events keep coming. True
   * once live; false when the queue overflowed meanwhile (another pass) or the sink closed.
   */
  const sendQueue = async (): Promise<boolean> => {
    while (queue) {
      const taken = queue;
      const bytes = queuedBytes;
      startQueue();
      if (bytes <= sliceBytes) {
        deliver(select(taken, last));
        resuming = false;
        leaveSlices();
        return true;
      }
      if (!(await sendSlices(select(taken, last)))) return false;
    }
    return false;
  };

  const resume = async (after: number): Promise<void> => {
    let seen = after;
    let toldTruncated = false;
    for (;;) {
      const retainedFrom = feed.retainedFrom();
      if (seen < retainedFrom && !toldTruncated) {
        toldTruncated = true;
        sink.truncated?.(retainedFrom);
      }
      startQueue(); // in the same turn as the pass takes its snapshot
      seen = await pass(seen);
      if (closed) return;
      if ((await sendQueue()) || closed) return;
      // What the queue sent is past the pass; the next pass reads on from both.
      seen = Math.max(seen, last);
    }
  };

  if (options.after !== undefined) {
    resume(options.after).catch((error: unknown) => {
      if (closed) return;
      stop();
      sink.error(error instanceof Error ? error : new Error(String(error)));
    });
  }
  return stop;
}
