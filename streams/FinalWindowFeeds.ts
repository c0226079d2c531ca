import type { Checkpoint } from '../src/core/projection';
import { windowStartOf, type FinalMinute } from '../src/core/windowMath';
import { finalEventId, type FinalSink } from '../src/core/windowStream';
import type { WindowEventFeed } from './WindowEventFeed';

/** One version's feed of final notices, and what was told before it was open. */
interface VersionFeed {
  opening: Promise<WindowEventFeed>;
  feed?: WindowEventFeed;
  waiting: FinalMinute[];
}

/**
 * The feeds of final notices, one per windows version (each with its own history), opened when
 * first needed: by the version's fold, which tells them synchronously (`sink`), or by the stream
 * (`feed`). What a fold tells before its feed is open waits, in order.
 *
 * @example
 * const finals = new FinalWindowFeeds((version) => WindowEventFeed.open({ store: await storeFor(version), … }));
 * const config = { windows: settings, finals: finals.sink(version) };
 * const stop = (await finals.feed(version)).subscribe({}, sink, { after: lastEventId });
 */
export class FinalWindowFeeds {
  private readonly feeds = new Map<number, VersionFeed>();

  constructor(private readonly open: (version: number) => Promise<WindowEventFeed>) {}

  /** Where the fold of `version` tells its final windows. */
  sink(version: number): FinalSink {
    /** The feed told into before it was open: if it then failed to open, what it was told is gone. */
    let waitedOn: VersionFeed | undefined;
    return {
      told: (minute) => {
        const entry = this.entry(version);
        if (entry.feed) return entry.feed.told(minute);
        entry.waiting.push(minute);
        waitedOn = entry;
      },
      durable: async () => {
        const waited = waitedOn;
        waitedOn = undefined;
        // Rejects for a feed that did not open: the fold then takes no checkpoint past what it told, and tells it again.
        if (waited) await waited.opening;
        await (await this.entry(version).opening).durable();
      },
    };
  }

  /** The feed of `version`'s final notices (opened now if it is not yet). */
  feed(version: number): Promise<WindowEventFeed> {
    return this.entry(version).opening;
  }

  /** Closes the feeds of every version but `keep` (a rebuild switched the active version). */
  async closeAllBut(keep: number): Promise<void> {
    const others = [...this.feeds].filter(([version]) => version !== keep);
    for (const [version] of others) this.feeds.delete(version);
    await Promise.all(others.map(async ([, entry]) => (await entry.opening.catch(() => undefined))?.close()));
  }

  async close(): Promise<void> {
    await this.closeAllBut(Number.NaN);
  }

  private entry(version: number): VersionFeed {
    let entry = this.feeds.get(version);
    if (!entry) {
      const created: VersionFeed = { opening: this.open(version), waiting: [] };
      created.opening.then((feed) => {
        for (const minute of created.waiting) feed.told(minute);
        created.waiting = [];
        created.feed = feed;
      }, () => {
        // Opened again at the next use; the fold's next `durable` fails for what it told meanwhile.
        if (this.feeds.get(version) === created) this.feeds.delete(version);
      });
      this.feeds.set(version, (entry = created));
    }
    return entry;
  }
}

/**
 * The id of the first final notice a version's history holds, from its checkpoint: none before
 * where its live runs began telling them (Checkpoint.finalFrom; a version built by a rebuild begins
 * where the rebuild ended), and all from the start for a version without a checkpoint.
 */
export function finalFloorId(checkpoint: Checkpoint | undefined): number {
  if (checkpoint === undefined || checkpoint.finalFrom === null) return 0;
  const from = checkpoint.finalFrom ?? checkpoint.finalThrough ?? -Infinity;
  return Number.isFinite(from) ? finalEventId(windowStartOf(from), 0) : 0;
}
