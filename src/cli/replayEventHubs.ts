import type { EventHubConsumerClient, ReceivedEventData } from '@azure/event-hubs';
import type { EventLog } from '../core/ports';
import { createConsumer } from '../adapters/eventHubs/azureClients';
import { PartitionFeed } from '../adapters/eventHubs/PartitionFeed';
import type { DuplicateFilter } from '../adapters/eventHubs/DuplicateFilter';
import type { CaptureArchive } from '../adapters/capture/CaptureArchive';
import { receivedEventOf } from '../adapters/capture/receivedEventOf';
import type { Settings } from '../config/settings';
import { HistoryGapError, missingRanges, SequenceCursor, type SequenceGap } from '../core/sequenceGaps';
import { ConfigError } from '../core/errors';
import { scopeOfPartition } from '../../projections/projectionCatalog';

export interface ReplayHistory {
  /** Event Hubs Capture's files of the hub: read first, for what the hub no longer retains. */
  capture?: CaptureArchive;
  /** Go on past a true gap (neither captured nor retained), recording it, instead of refusing. */
  allowGap?: boolean;
  /** Told of each gap gone past (with `allowGap`). */
  onGap?: (gap: SequenceGap) => void;
}

export interface ReplayOutcome {
  /** Events handed to the folds, each once. */
  events: number;
  /** Of those, read from Capture. */
  captured: number;
  /** Sequence numbers nobody holds, gone past with `allowGap`. */
  gaps: SequenceGap[];
}

interface PartitionPlan {
  id: string;
  /** The last sequence number to read: the last enqueued when the rebuild started (or the last captured). */
  end: number;
  capturedAny: boolean;
  retainedAny: boolean;
  /** What neither source holds, as far as their ends tell. */
  missing: SequenceGap[];
}

/**
 * Reads every partition of the Event Hub from its first event up to the last one enqueued when the
 * rebuild started, handing each partition to `fold(feed, scope)` (one feed per partition and
 * projection, so each scope is rebuilt by its own projector). With Capture, a partition's captured
 * files come first, in order, then the hub from the first sequence number after the last captured
 * one: an event both still hold is read once, none is skipped. History that neither holds (the
 * retention passed it before Capture wrote it, or Capture was enabled late) is refused before
 * anything is folded, naming the missing sequence numbers, unless `allowGap`; a gap met only while
 * reading (a Capture file deleted) stops the rebuild then. No load balancing and no hub
 * checkpoints: a rebuild writes a new version and its own per-scope checkpoints, which the
 * service's processor for that version resumes from.
 */
export async function replayPartitions(
  settings: Settings,
  fold: (log: EventLog, scope: string, partitionId: string) => Promise<void>,
  onProgress?: (done: number, total: number) => void,
  consumer: EventHubConsumerClient = createConsumer({ ...settings, eventHubConsumerGroup: settings.eventHubReplayConsumerGroup ?? settings.eventHubConsumerGroup }, undefined),
  duplicates?: DuplicateFilter,
  history: ReplayHistory = {},
): Promise<ReplayOutcome> {
  const { capture, allowGap = false } = history;
  const outcome: ReplayOutcome = { events: 0, captured: 0, gaps: [] };
  try {
    const plans = await Promise.all((await consumer.getPartitionIds()).map((id) => planOf(consumer, capture, id)));
    const foreseen = plans.flatMap((p) => p.missing);
    if (foreseen.length > 0 && !allowGap) throw new HistoryGapError(foreseen, capture !== undefined);
    const total = plans.reduce((s, p) => s + p.end + 1 - p.missing.reduce((n, g) => n + g.to - g.from + 1, 0), 0);
    let failed: unknown;
    const record = (gap: SequenceGap) => {
      if (!allowGap) throw new HistoryGapError([gap], capture !== undefined);
      outcome.gaps.push(gap);
      history.onGap?.(gap);
    };
    const runs = plans.filter((p) => p.end >= 0).map(async (plan) => {
      const feed = new PartitionFeed(plan.id);
      const folding = fold(feed, scopeOfPartition(plan.id), plan.id);
      const cursor = new SequenceCursor(plan.id, 0);
      /** Hands on the events not taken yet, up to the end, in order; a jump is a gap. */
      const take = async (events: readonly ReceivedEventData[], fromCapture: boolean) => {
        if (failed !== undefined) throw failed; // another partition stopped the rebuild
        const kept: ReceivedEventData[] = [];
        for (const e of events) {
          if (e.sequenceNumber > plan.end) break;
          const step = cursor.take(e.sequenceNumber);
          if (step.gap) record(step.gap);
          if (step.take) kept.push(e);
        }
        await feed.push(duplicates ? await duplicates.filter(plan.id, kept) : kept);
        outcome.events += kept.length;
        if (fromCapture) outcome.captured += kept.length;
        onProgress?.(outcome.events, total);
      };
      try {
        if (capture && plan.capturedAny) {
          for await (const batch of capture.events(plan.id)) {
            await take(batch.map(receivedEventOf), true);
            if (cursor.next > plan.end) break;
          }
        }
        if (cursor.next <= plan.end && plan.retainedAny) await readHub(consumer, settings, plan, cursor.next, () => cursor.next > plan.end, (events) => take(events, false));
        // The hub retains nothing (any more) after what Capture holds.
        if (cursor.next <= plan.end) record({ partitionId: plan.id, from: cursor.next, to: plan.end });
      } catch (error) {
        failed ??= error;
        throw error;
      } finally {
        await feed.close();
        await folding.catch((error: unknown) => (failed ??= error));
      }
    });
    const settled = await Promise.allSettled(runs);
    if (failed !== undefined) throw failed;
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    return outcome;
  } finally {
    await consumer.close();
  }
}

async function planOf(consumer: EventHubConsumerClient, capture: CaptureArchive | undefined, id: string): Promise<PartitionPlan> {
  const p = await consumer.getPartitionProperties(id);
  const captured = capture ? await capture.range(id) : undefined;
  const retained = p.isEmpty ? undefined : { first: p.beginningSequenceNumber, last: p.lastEnqueuedSequenceNumber };
  const end = Math.max(p.lastEnqueuedSequenceNumber, captured?.last ?? -1);
  return { id, end, capturedAny: captured !== undefined, retainedAny: retained !== undefined, missing: missingRanges(id, end, captured, retained) };
}

/** Reads the hub's partition from `from` (inclusive) until `done()`; a failure of `take` ends the read with it. */
function readHub(consumer: EventHubConsumerClient, settings: Settings, plan: PartitionPlan, from: number, done: () => boolean, take: (events: ReceivedEventData[]) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let finished = false;
    const finish = (error?: unknown) => {
      if (finished) return;
      finished = true;
      subscription.close().then(() => (error === undefined ? resolve() : reject(error)), reject);
    };
    const subscription = consumer.subscribe(plan.id, {
      processEvents: async (events: ReceivedEventData[]) => {
        if (finished || events.length === 0) return;
        try {
          await take(events);
          if (done()) finish();
        } catch (error) {
          finish(error);
        }
      },
      processError: async (error: Error) => {
        // The processor instances' receivers hold the partition on this consumer group (the hub admits no other reader beside them): waiting would not help.
        if ((error as { code?: string }).code === 'ReceiverDisconnectedError') {
          const group = settings.eventHubReplayConsumerGroup ?? settings.eventHubConsumerGroup;
          finish(new ConfigError('EVENTHUB_REPLAY_CONSUMER_GROUP', `partition ${plan.id} of ${settings.eventHubName} is held by the processor instances on consumer group ${group}; to rebuild while they run, set EVENTHUB_REPLAY_CONSUMER_GROUP to another consumer group of the hub`));
          return;
        }
        process.stderr.write(`opsfold replay: partition ${plan.id}: ${error.message}\n`);
      },
    }, { startPosition: { sequenceNumber: from, isInclusive: true }, maxBatchSize: 1000, maxWaitTimeInSeconds: 1 });
  });
}
