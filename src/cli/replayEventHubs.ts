import { earliestEventPosition, type EventHubConsumerClient, type ReceivedEventData } from '@azure/event-hubs';
import type { EventLog } from '../core/ports';
import { createConsumer } from '../adapters/eventHubs/azureClients';
import { PartitionFeed } from '../adapters/eventHubs/PartitionFeed';
import type { DuplicateFilter } from '../adapters/eventHubs/DuplicateFilter';
import type { Settings } from '../config/settings';
import { ConfigError } from '../core/errors';
import { scopeOfPartition } from '../../projections/projectionCatalog';

/**
 * Reads every partition of the Event Hub from its earliest retained event up to the last one
 * enqueued when the rebuild started, handing each partition to `fold(feed, scope)` (one feed per
 * partition and projection, so each scope is rebuilt by its own projector). No load balancing
 * and no hub checkpoints: a rebuild writes a new version and its own per-scope checkpoints,
 * which the service's processor for that version resumes from.
 */
export async function replayPartitions(
  settings: Settings,
  fold: (log: EventLog, scope: string, partitionId: string) => Promise<void>,
  onProgress?: (done: number, total: number) => void,
  consumer: EventHubConsumerClient = createConsumer({ ...settings, eventHubConsumerGroup: settings.eventHubReplayConsumerGroup ?? settings.eventHubConsumerGroup }, undefined),
  duplicates?: DuplicateFilter,
): Promise<void> {
  try {
    const ids = await consumer.getPartitionIds();
    const ends = await Promise.all(ids.map(async (id) => {
      const p = await consumer.getPartitionProperties(id);
      return { id, first: p.beginningSequenceNumber, last: p.isEmpty ? -1 : p.lastEnqueuedSequenceNumber };
    }));
    const total = ends.reduce((s, e) => s + Math.max(0, e.last - e.first + 1), 0);
    let done = 0;
    await Promise.all(ends.filter((e) => e.last >= 0).map(async ({ id, last }) => {
      const feed = new PartitionFeed(id);
      const folding = fold(feed, scopeOfPartition(id), id);
      let refused: (error: Error) => void = () => undefined;
      const held = new Promise<never>((_, reject) => (refused = reject));
      // Either may settle after the other decided (a fold that fails on its closed feed, a refusal after the end): told once, below.
      folding.catch(() => undefined);
      held.catch(() => undefined);
      const subscription = consumer.subscribe(id, {
        processEvents: async (events: ReceivedEventData[]) => {
          const upTo = events.filter((e) => e.sequenceNumber <= last);
          await feed.push(duplicates ? await duplicates.filter(id, upTo) : upTo);
          done += upTo.length;
          onProgress?.(done, total);
          if (upTo.length < events.length || events.some((e) => e.sequenceNumber === last)) await feed.close();
        },
        processError: async (error: Error) => {
          // The processor instances' receivers hold the partition on this consumer group (the hub admits no other reader beside them): waiting would not help.
          if ((error as { code?: string }).code === 'ReceiverDisconnectedError') {
            refused(new ConfigError('EVENTHUB_REPLAY_CONSUMER_GROUP', `partition ${id} of ${settings.eventHubName} is held by the processor instances on consumer group ${settings.eventHubReplayConsumerGroup ?? settings.eventHubConsumerGroup}; to rebuild while they run, set EVENTHUB_REPLAY_CONSUMER_GROUP to another consumer group of the hub`));
            return;
          }
          process.stderr.write(`opsfold replay: partition ${id}: ${error.message}\n`);
        },
      }, { startPosition: earliestEventPosition, maxBatchSize: 1000, maxWaitTimeInSeconds: 1 });
      try {
        await Promise.race([folding, held]);
      } finally {
        await subscription.close();
        await feed.close();
      }
    }));
  } finally {
    await consumer.close();
  }
}
