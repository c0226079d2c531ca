import type { ReceivedEventData } from '@azure/event-hubs';
import type { CapturedEvent } from './readCaptureFile';

/**
 * A captured event in the shape the hub's receivers hand out, so that everything downstream (the
 * duplicate filter, the partition feeds) takes it as it takes the hub's: the body as the bytes
 * that were sent, the partition key, sequence number, offset and enqueued time.
 */
export function receivedEventOf(e: CapturedEvent): ReceivedEventData {
  const enqueuedTimeUtc = new Date(e.enqueuedTimeMs);
  const annotations = { 'x-opt-sequence-number': e.sequenceNumber, 'x-opt-offset': e.offset, 'x-opt-enqueued-time': enqueuedTimeUtc, ...(e.partitionKey === undefined ? {} : { 'x-opt-partition-key': e.partitionKey }) };
  return {
    body: e.body,
    properties: e.properties,
    systemProperties: e.systemProperties,
    enqueuedTimeUtc,
    partitionKey: e.partitionKey ?? null,
    offset: e.offset,
    sequenceNumber: e.sequenceNumber,
    getRawAmqpMessage: () => ({ body: e.body, bodyType: 'data', applicationProperties: e.properties as never, messageAnnotations: annotations }),
  };
}
