import type { HistoryChunk } from '../src/core/ports';
import type { FeedEntry } from '../src/core/windowStream';
import { ChunkReader } from '../projections/windowEventHistory';

/**
 * About the bytes of an event's frame, without making it: at most ~300 for the id and numbers,
 * and up to 3 bytes of UTF-8 per character of the texts.
 */
export function approxFrameBytes(e: FeedEntry): number {
  const { key, tenant, vm } = e.event;
  return 300 + 3 * (key.length + (tenant?.length ?? 0) + (vm?.length ?? 0));
}

/** The next events of `reader`, up to about `sliceBytes` of frames (at least one, unless none is left). */
function cut(reader: ChunkReader, sliceBytes: number): FeedEntry[] {
  const slice: FeedEntry[] = [];
  let bytes = 0;
  for (let e = reader.next(); e !== undefined; e = reader.next()) {
    slice.push(e);
    if ((bytes += approxFrameBytes(e)) >= sliceBytes) break;
  }
  return slice;
}

/**
 * Cuts history chunks into the slices a resume hands on, and shares them: resumes that read a
 * chunk from its start at about the same time (many clients resuming from one point) get the
 * same slices, decoded once, whose frames the HTTP adapter then encodes once (it caches them per
 * slice). Holds the `maxSlices` used last, and nothing once no resume reads.
 *
 * @example
 * const close = slices.open();
 * for (const slice of slices.of(chunk, lastSeenId, 32 * 1024)) await send(slice);
 * close();
 */
export class HistorySlices {
  private readonly cache = new Map<string, readonly FeedEntry[]>();
  private readers = 0;

  constructor(private readonly maxSlices = 64) {}

  /** A resume starts reading; call the function returned when it stops (once). */
  open(): () => void {
    this.readers++;
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      if (--this.readers === 0) this.cache.clear();
    };
  }

  /** Slices held now. */
  get size(): number {
    return this.cache.size;
  }

  /** The events of `chunk` with an id above `after`, in slices of about `sliceBytes` of frames. */
  *of(chunk: HistoryChunk, after: number, sliceBytes: number): Generator<readonly FeedEntry[]> {
    const reader = new ChunkReader(chunk.data);
    // Read from its start, a chunk is cut the same way for everyone: its slices can be shared.
    const shared = after < chunk.firstId && this.readers > 0;
    reader.skipThrough(after);
    for (let index = 0; ; index++) {
      // A chunk still being filled is read as a copy of its start: the count tells the copies apart.
      const key = `${chunk.firstId}/${chunk.count}/${sliceBytes}/${index}`;
      let slice = shared ? this.cache.get(key) : undefined;
      if (slice) {
        this.cache.delete(key); // most recently used last
        this.cache.set(key, slice);
        reader.skipThrough(slice[slice.length - 1].id);
      } else {
        slice = cut(reader, sliceBytes);
        if (slice.length === 0) return;
        if (shared) this.keep(key, slice);
      }
      yield slice;
    }
  }

  private keep(key: string, slice: readonly FeedEntry[]): void {
    this.cache.set(key, slice);
    if (this.cache.size > this.maxSlices) this.cache.delete(this.cache.keys().next().value as string);
  }
}
