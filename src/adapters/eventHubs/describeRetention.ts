import type { EventHubConsumerClient, ReceivedEventData } from '@azure/event-hubs';
import type { CaptureArchive } from '../capture/CaptureArchive';

/** What one partition's history is kept in: the hub's retention and Event Hubs Capture's files. */
export interface PartitionRetention {
  partitionId: string;
  /** The events the hub retains now; null when it retains none. */
  hub: { earliest: number; earliestEnqueuedAt: string | null; last: number; lastEnqueuedAt: string } | null;
  /** The events Capture holds; null when it holds none, undefined when Capture is not configured. */
  captured?: { first: number; firstEnqueuedAt: string; last: number; lastEnqueuedAt: string; files: number } | null;
}

/**
 * Per partition, the hub's earliest retained sequence number and its enqueued time (the hub
 * tells the number; the time is that of the event, received once), the last one, and what
 * Capture holds. Each question has `timeoutMs`; a time that does not come in time is null.
 */
export async function describeRetention(consumer: EventHubConsumerClient, capture?: CaptureArchive, timeoutMs = 5000): Promise<PartitionRetention[]> {
  const ids = await consumer.getPartitionIds({ abortSignal: AbortSignal.timeout(timeoutMs) });
  return Promise.all(ids.map(async (partitionId): Promise<PartitionRetention> => {
    const p = await consumer.getPartitionProperties(partitionId, { abortSignal: AbortSignal.timeout(timeoutMs) });
    const range = capture ? await capture.range(partitionId) : undefined;
    const earliest = p.isEmpty ? undefined : await enqueuedTimeOf(consumer, partitionId, p.beginningSequenceNumber, timeoutMs)
      // A receiver is refused beside a processor's on the same consumer group: then Capture may know the event (to the second).
      ?? (range && range.first <= p.beginningSequenceNumber && p.beginningSequenceNumber <= range.last ? await capturedTimeOf(capture!, partitionId, p.beginningSequenceNumber) : undefined);
    const hub = p.isEmpty ? null : {
      earliest: p.beginningSequenceNumber,
      earliestEnqueuedAt: earliest?.toISOString() ?? null,
      last: p.lastEnqueuedSequenceNumber,
      lastEnqueuedAt: p.lastEnqueuedOnUtc.toISOString(),
    };
    if (!capture) return { partitionId, hub };
    return {
      partitionId, hub,
      captured: range ? { first: range.first, firstEnqueuedAt: new Date(range.firstEnqueuedMs).toISOString(), last: range.last, lastEnqueuedAt: new Date(range.lastEnqueuedMs).toISOString(), files: range.files } : null,
    };
  }));
}

async function capturedTimeOf(capture: CaptureArchive, partitionId: string, sequenceNumber: number): Promise<Date | undefined> {
  for await (const batch of capture.events(partitionId, sequenceNumber)) return batch[0].sequenceNumber === sequenceNumber ? new Date(batch[0].enqueuedTimeMs) : undefined;
  return undefined;
}

/** The enqueued time of one event, received alone; undefined when it does not come within `timeoutMs`. */
function enqueuedTimeOf(consumer: EventHubConsumerClient, partitionId: string, sequenceNumber: number, timeoutMs: number): Promise<Date | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (time: Date | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void subscription.close().finally(() => resolve(time));
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const subscription = consumer.subscribe(partitionId, {
      processEvents: async (events: ReceivedEventData[]) => { if (events.length > 0) finish(events[0].enqueuedTimeUtc); },
      processError: async () => {},
    }, { startPosition: { sequenceNumber, isInclusive: true }, maxBatchSize: 1, maxWaitTimeInSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)) });
  });
}

/** One line per partition for `opsfold config`. */
export function retentionLine(r: PartitionRetention): string {
  const hub = r.hub ? `the hub retains ${r.hub.earliest}..${r.hub.last} (from ${r.hub.earliestEnqueuedAt ?? 'an unknown time'} to ${r.hub.lastEnqueuedAt})` : 'the hub retains no event';
  const captured = r.captured === undefined ? 'Event Hubs Capture is not configured'
    : r.captured === null ? 'Event Hubs Capture holds no event'
      : `Event Hubs Capture holds ${r.captured.first}..${r.captured.last} (from ${r.captured.firstEnqueuedAt} to ${r.captured.lastEnqueuedAt}, ${r.captured.files} file${r.captured.files === 1 ? '' : 's'})`;
  return `partition ${r.partitionId}: ${hub}; ${captured}`;
}
