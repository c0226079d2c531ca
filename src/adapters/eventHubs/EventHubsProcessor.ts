import {
  earliestEventPosition, type CheckpointStore, type EventHubConsumerClient, type EventPosition, type PartitionContext, type ReceivedEventData, type Subscription,
} from '@azure/event-hubs';
import type { Checkpoint } from '../../../streams/projectionVersions';
import { PartitionFeed } from './PartitionFeed';
import type { DuplicateFilter } from './DuplicateFilter';

/** What runs over one partition: projectors reading their own feed, each checkpointing on its own. */
export interface PartitionWork {
  /** One feed per projector; each gets every event. */
  feeds: PartitionFeed[];
  /** Runs until the feeds end or `signal` aborts. */
  run(signal: AbortSignal): Promise<unknown>;
}

export interface EventHubsProcessorOptions {
  consumer: EventHubConsumerClient;
  checkpointStore: CheckpointStore;
  /**
   * Builds the work of a partition this instance now owns. `onCheckpoint(i)` is what projector i
   * calls after each of its checkpoints; the hub's checkpoint follows the slowest projector.
   */
  createWork(partitionId: string, onCheckpoint: (projector: number) => (checkpoint: Checkpoint) => Promise<void>): PartitionWork;
  /**
   * What the hub no longer retains (its retention passed a partition's checkpoint): read from
   * Event Hubs Capture, or recorded as a gap. Without it, the processor goes on from what the hub
   * hands it, as the SDK does.
   */
  history?: { fill(partitionId: string, from: number, to: number): AsyncIterable<ReceivedEventData[]> };
  /**
   * The first sequence number any projector of a partition still needs, from their own
   * checkpoints (0 when one has none). The hub's checkpoint may lie before it, or be missing: a
   * rebuild's new versions get a new checkpoint container, their projectors' checkpoints at the end
   * of the history the rebuild read (from Capture too). What lies before it is not looked for.
   */
  resumeFloor?(partitionId: string): Promise<number>;
  /** Where each partition is read from while the checkpoint store holds no checkpoint of it (default: its earliest event). */
  startFrom?: Readonly<Record<string, EventPosition>>;
  /** Drops the repeated appends of one message before the projectors see them. */
  duplicates?: DuplicateFilter;
  /** How often the duplicate filter's keys of events no longer retained are forgotten (default hourly). */
  pruneIntervalMs?: number;
  maxBatchSize?: number;
  maxWaitTimeInSeconds?: number;
  onError?(error: Error, partitionId?: string): void;
}

interface Claimed {
  work: PartitionWork;
  abort: AbortController;
  running: Promise<unknown>;
  /** Each projector's latest resume point (set by its checkpoints). */
  resumeFrom: (number | undefined)[];
  /** Offsets of the events received since the hub's checkpoint, to move it to a sequence number later. */
  offsets: Map<number, string>;
  context: PartitionContext;
  /** The last sequence number every projector has taken (-1: none); unknown when the hub's checkpoint could not be read. */
  processed?: number;
  /** Whether the projectors' own checkpoints were consulted (once a claim, when the hub's checkpoint is older than what it retains). */
  floorRead?: boolean;
}

/**
 * Runs the projections over an Event Hub with the SDK's own load balancing: instances that
 * share the consumer group and the Blob checkpoint store split the partitions among them, and
 * take over the partitions of an instance that stops. Each owned partition gets its own
 * projectors (one scope each); the hub's checkpoint of a partition is set, after their
 * checkpoints are durable, to just before the earliest record any of them still needs, so a
 * new owner re-reads from there and the projections' skip rule counts nothing twice.
 */
export class EventHubsProcessor {
  private subscription?: Subscription;
  private pruneTimer?: NodeJS.Timeout;
  private readonly claimed = new Map<string, Claimed>();

  constructor(private readonly options: EventHubsProcessorOptions) {}

  /** Partitions this instance owns right now. */
  get partitions(): string[] {
    return [...this.claimed.keys()].sort();
  }

  start(): void {
    const { consumer, maxBatchSize = 500, maxWaitTimeInSeconds = 1, duplicates } = this.options;
    // Now and then, the duplicate filter forgets keys of events the hub no longer retains.
    if (duplicates) {
      this.pruneTimer = setInterval(() => void this.prune(duplicates), this.options.pruneIntervalMs ?? 3_600_000);
      this.pruneTimer.unref();
    }
    this.subscription = consumer.subscribe({
      processInitialize: async (context) => this.claim(context),
      processEvents: async (events, context) => this.deliver(events, context),
      processError: async (error, context) => this.options.onError?.(error as Error, context.partitionId || undefined),
      processClose: async (_reason, context) => this.release(context.partitionId),
    }, { startPosition: this.options.startFrom ?? earliestEventPosition, maxBatchSize, maxWaitTimeInSeconds });
  }

  /** Forgets the duplicate filter's keys older than what each owned partition still retains. */
  async prune(duplicates: DuplicateFilter): Promise<number> {
    let forgotten = 0;
    for (const id of this.partitions) {
      try {
        const { beginningSequenceNumber } = await this.options.consumer.getPartitionProperties(id);
        forgotten += await duplicates.forgetBefore(id, beginningSequenceNumber);
      } catch (error) {
        this.options.onError?.(error as Error, id);
      }
    }
    return forgotten;
  }

  /**
   * Events of each owned partition not yet taken by every projector: its last enqueued sequence
   * number, asked of the hub now, minus the last one processed. A partition the hub does not
   * answer for within `timeoutMs`, or whose start is unknown, is left out.
   */
  async consumerLag(timeoutMs = 2000): Promise<Record<string, number>> {
    const lag: Record<string, number> = {};
    await Promise.all(this.partitions.map(async (id) => {
      try {
        const { lastEnqueuedSequenceNumber, beginningSequenceNumber } = await this.options.consumer.getPartitionProperties(id, { abortSignal: AbortSignal.timeout(timeoutMs) });
        const processed = this.claimed.get(id)?.processed;
        // Events the hub no longer retains cannot be behind.
        if (processed !== undefined) lag[id] = Math.max(0, lastEnqueuedSequenceNumber - Math.max(processed, beginningSequenceNumber - 1));
      } catch {
        // Not known now (the hub is unreachable or slow): the processor reports its own errors.
      }
    }));
    return Object.fromEntries(Object.keys(lag).sort().map((id) => [id, lag[id]]));
  }

  async stop(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.subscription?.close();
    this.subscription = undefined;
    await Promise.all([...this.claimed.keys()].map((id) => this.release(id)));
  }

  private async claim(context: PartitionContext): Promise<void> {
    const id = context.partitionId;
    if (this.claimed.has(id)) return;
    const resumeFrom: (number | undefined)[] = [];
    const work = this.options.createWork(id, (projector) => async (checkpoint) => {
      resumeFrom[projector] = checkpoint.resumeFrom;
      await this.moveCheckpoint(id);
    });
    const abort = new AbortController();
    const running = work.run(abort.signal).catch((error: unknown) => this.options.onError?.(error as Error, id));
    const claimed: Claimed = { work, abort, running, resumeFrom, offsets: new Map(), context };
    this.claimed.set(id, claimed);
    // Everything up to the hub's checkpoint was taken by every projector; the SDK starts after it once this returns.
    try {
      const { fullyQualifiedNamespace, eventHubName, consumerGroup } = context;
      const checkpoints = await this.options.checkpointStore.listCheckpoints(fullyQualifiedNamespace, eventHubName, consumerGroup);
      claimed.processed ??= checkpoints.find((c) => c.partitionId === id)?.sequenceNumber ?? this.before(id);
    } catch (error) {
      this.options.onError?.(error as Error, id);
    }
    // A checkpoint older than what the hub retains: the history in between first, before the SDK reads the hub.
    if (this.options.history && claimed.processed !== undefined) {
      try {
        const p = await this.options.consumer.getPartitionProperties(id);
        await this.catchUp(claimed, id, p.isEmpty ? p.lastEnqueuedSequenceNumber + 1 : p.beginningSequenceNumber);
      } catch (error) {
        // The SDK tries the partition again later: it must find it unclaimed.
        await this.release(id);
        throw error;
      }
    }
  }

  /** Hands the projectors what lies between the last event processed and `earliest`, the first the hub still retains. */
  private async catchUp(claimed: Claimed, id: string, earliest: number): Promise<void> {
    if (!this.options.history || claimed.processed === undefined || earliest <= claimed.processed + 1) return;
    // The projectors' own checkpoints may be ahead of the hub's (after a rebuild, it has none): what they folded is not missing.
    if (this.options.resumeFloor && !claimed.floorRead) {
      claimed.floorRead = true;
      try {
        claimed.processed = Math.max(claimed.processed, (await this.options.resumeFloor(id)) - 1);
      } catch (error) {
        this.options.onError?.(error as Error, id); // then from the hub's checkpoint: more is read, nothing is missed
      }
      if (earliest <= claimed.processed + 1) return;
    }
    const processed = claimed.processed;
    for await (const older of this.options.history.fill(id, processed + 1, earliest - 1)) {
      if (this.claimed.get(id) !== claimed) return; // the partition went to another instance meanwhile
      await this.take(claimed, id, older);
    }
    // Whatever nobody held is behind us too (the history recorded it), so it is not looked for again.
    claimed.processed = Math.max(claimed.processed ?? -1, earliest - 1);
  }

  private async deliver(events: ReceivedEventData[], context: PartitionContext): Promise<void> {
    const id = context.partitionId;
    const claimed = this.claimed.get(id);
    if (!claimed || events.length === 0) return;
    // Sequence numbers have no holes: a first event past the one after the last processed means the retention took those between.
    await this.catchUp(claimed, id, events[0].sequenceNumber);
    if (this.claimed.get(id) !== claimed) return;
    await this.take(claimed, id, events);
  }

  private async take(claimed: Claimed, id: string, events: readonly ReceivedEventData[]): Promise<void> {
    // Also the offsets of events the filter drops: the hub's checkpoint may have to move past them.
    for (const e of events) claimed.offsets.set(e.sequenceNumber, String(e.offset));
    const kept = this.options.duplicates ? await this.options.duplicates.filter(id, events) : events;
    await Promise.all(claimed.work.feeds.map((feed) => feed.push(kept)));
    claimed.processed = Math.max(claimed.processed ?? -1, events[events.length - 1].sequenceNumber);
  }

  /** The sequence number just before where a partition without a hub checkpoint is read from (-1: its start). */
  private before(id: string): number {
    const from = this.options.startFrom?.[id];
    if (from?.sequenceNumber === undefined) return -1;
    return from.isInclusive ? from.sequenceNumber - 1 : from.sequenceNumber;
  }

  /** The hub's checkpoint goes to the event just before the earliest record a projector still needs. */
  private async moveCheckpoint(id: string): Promise<void> {
    const claimed = this.claimed.get(id);
    if (!claimed) return;
    const points = claimed.work.feeds.map((_, i) => claimed.resumeFrom[i]);
    if (points.some((p) => p === undefined)) return; // a projector has not checkpointed yet
    const before = Math.min(...(points as number[])) - 1;
    const offset = claimed.offsets.get(before);
    if (before < 0 || offset === undefined) return; // nothing before it was read in this ownership: the hub's checkpoint stays
    const { fullyQualifiedNamespace, eventHubName, consumerGroup } = claimed.context;
    await this.options.checkpointStore.updateCheckpoint({ fullyQualifiedNamespace, eventHubName, consumerGroup, partitionId: id, sequenceNumber: before, offset });
    for (const n of claimed.offsets.keys()) if (n < before) claimed.offsets.delete(n);
  }

  private async release(id: string): Promise<void> {
    const claimed = this.claimed.get(id);
    if (!claimed) return;
    this.claimed.delete(id);
    claimed.abort.abort();
    await Promise.all(claimed.work.feeds.map((feed) => feed.close()));
    await claimed.running;
  }
}
