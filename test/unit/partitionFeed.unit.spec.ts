import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReceivedEventData } from '@azure/event-hubs';
import { PartitionFeed } from '../../src/adapters/eventHubs/PartitionFeed';

const event = (sequenceNumber: number): ReceivedEventData => ({
  sequenceNumber, offset: String(sequenceNumber * 100), body: Buffer.from([sequenceNumber]), enqueuedTimeUtc: new Date(1_700_000_000_000 + sequenceNumber),
} as ReceivedEventData);

/** The positions of the first batch a reader gets, after which it stops (as a projector that failed). */
async function firstBatch(feed: PartitionFeed, from: number): Promise<number[]> {
  for await (const batch of feed.read(from, { follow: true })) return batch.map((r) => r.position);
  return [];
}

describe('PartitionFeed: a projector restarted from its checkpoint reads again what it had taken since', () => {
  it('a new reader gets the records taken since `from` again, then new ones; forgetBefore lets go of those a checkpoint passed', async () => {
    // Given a projector that took events 0–2 and then failed.
    const feed = new PartitionFeed('0');
    const pushed = feed.push([event(0), event(1), event(2)]);
    assert.deepEqual(await firstBatch(feed, 0), [0, 1, 2]);
    await pushed; // taken: the processor goes on receiving

    // When it is restarted from its checkpoint at 1: it reads 1 and 2 again, then what comes next.
    const again = feed.read(1, { follow: true })[Symbol.asyncIterator]();
    assert.deepEqual((await again.next()).value.map((r: { position: number }) => r.position), [1, 2]);
    const more = feed.push([event(3)]);
    assert.deepEqual((await again.next()).value.map((r: { position: number }) => r.position), [3]);
    await again.return?.();
    await more;

    // Then, once a checkpoint resumes from 3, the records before it are let go: a restart reads from 3.
    feed.forgetBefore(3);
    const later = feed.read(0, { follow: true })[Symbol.asyncIterator]();
    assert.deepEqual((await later.next()).value.map((r: { position: number }) => r.position), [3]);
    await later.return?.();
    await feed.close();
  });
});
