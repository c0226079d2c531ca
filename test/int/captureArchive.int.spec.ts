import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventHubConsumerClient, EventHubProducerClient, earliestEventPosition, type ReceivedEventData } from '@azure/event-hubs';
import { BlobServiceClient } from '@azure/storage-blob';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { captureArchiveFrom } from '../../src/adapters/capture/captureArchiveFrom';
import { describeRetention } from '../../src/adapters/eventHubs/describeRetention';
import type { CapturedEvent } from '../../src/adapters/capture/readCaptureFile';
import { loadSettings } from '../../src/config/settings';
import { startAmqpEmulator } from '../support/amqp/startAmqpEmulator';
import { CaptureWriter } from '../support/amqp/captureWriter';
import { closeLater } from '../support/closeLater';
import { eventually } from '../support/eventually';

const HUB = 'capture-hub';

async function setup(t: TestContext, nameFormat?: string) {
  const later = closeLater(t);
  const emu = later(await startAmqpEmulator({ eventHubs: [{ name: HUB, partitions: 2 }] }));
  const azurite = await EmbeddedAzurite.start({ blob: true });
  later({ close: () => azurite.stop() });
  const container = BlobServiceClient.fromConnectionString(azurite.blobConnectionString!).getContainerClient('capture');
  await container.create();
  const writer = new CaptureWriter({ hub: emu.hub(HUB), container, namespace: '127.0.0.1', nameFormat });
  const { settings } = loadSettings({}, {
    EVENTHUBS_CONNECTION_STRING: emu.connectionString(), EVENTHUB_NAME: HUB,
    CAPTURE_STORAGE_CONNECTION_STRING: azurite.blobConnectionString!, CAPTURE_CONTAINER: 'capture', ...(nameFormat ? { CAPTURE_NAME_FORMAT: nameFormat } : {}),
  });
  const producer = later(new EventHubProducerClient(emu.connectionString(), HUB));
  /** Sends `count` events to partition `partitionId`, bodies `{"n":first…}`, with a partition key and properties. */
  const send = async (partitionId: string, first: number, count: number) => {
    const batch = await producer.createBatch({ partitionId });
    for (let n = first; n < first + count; n++) assert.ok(batch.tryAdd({ body: Buffer.from(JSON.stringify({ n })), properties: { n, team: 'EUC', ratio: 0.25 } }));
    await producer.sendBatch(batch);
  };
  return { later, emu, container, writer, archive: captureArchiveFrom(settings)!, send };
}

async function all(events: AsyncIterable<CapturedEvent[]>): Promise<CapturedEvent[]> {
  const out: CapturedEvent[] = [];
  for await (const batch of events) out.push(...batch);
  return out;
}

describe('the emulator keeps a retention and writes Capture files; opsfold reads them back', () => {
  it("files in Capture's naming and format (null, deflate, empty) read back in order, every field as sent", async (t) => {
    const { writer, archive, send, container } = await setup(t);
    await send('0', 0, 3);
    await writer.capture();                      // partition 0: events 0..2; partition 1: an empty file
    await send('0', 3, 4);
    await send('1', 100, 2);
    await writer.capture({ codec: 'deflate' });  // partition 0: 3..6; partition 1: 0..1
    await writer.capture();                      // nothing arrived: empty files on both

    const names: string[] = [];
    for await (const blob of container.listBlobsFlat()) names.push(blob.name);
    assert.equal(names.length, 6);
    for (const name of names) assert.match(name, /^127\.0\.0\.1\/capture-hub\/[01]\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/\d{2}\/\d{2}\.avro$/);

    const zero = await all(archive.events('0'));
    assert.deepEqual(zero.map((e) => e.sequenceNumber), [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(zero.map((e) => JSON.parse(e.body.toString()).n), [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(zero[4].properties, { n: 4, team: 'EUC', ratio: 0.25 });
    assert.deepEqual((await all(archive.events('1'))).map((e) => JSON.parse(e.body.toString()).n), [100, 101]);
    const range = await archive.range('0');
    assert.deepEqual([range?.first, range?.last, range?.files], [0, 6, 3]);
  });

  it('reading from a sequence number starts in the file holding it; an empty partition has no range', async (t) => {
    const { writer, archive, send } = await setup(t);
    for (let w = 0; w < 6; w++) {
      await send('0', w * 10, 10);
      await writer.capture({ partitions: ['0'], codec: w % 2 === 0 ? 'null' : 'deflate' });
      await writer.capture({ partitions: ['0'] }); // and an empty window after each
    }
    assert.deepEqual((await all(archive.events('0', 37))).map((e) => e.sequenceNumber), Array.from({ length: 23 }, (_, i) => 37 + i));
    assert.deepEqual((await all(archive.events('0', 59))).map((e) => e.sequenceNumber), [59]);
    assert.equal(await archive.range('1'), undefined);
  });

  it('a custom name format; another partition and a stray blob under the prefix are not read', async (t) => {
    const { writer, archive, send, container } = await setup(t, '{Namespace}/{EventHub}/{Year}-{Month}-{Day}/p{PartitionId}/{Hour}{Minute}{Second}');
    await send('0', 0, 2);
    await send('1', 0, 3);
    await writer.capture();
    await container.getBlockBlobClient('127.0.0.1/capture-hub/notes.txt').uploadData(Buffer.from('not capture'));
    assert.deepEqual((await all(archive.events('0'))).map((e) => e.sequenceNumber), [0, 1]);
    assert.deepEqual((await all(archive.events('1'))).map((e) => e.sequenceNumber), [0, 1, 2]);
  });

  it('a property beyond 2^53 does not make a file unreadable', async (t) => {
    const { writer, archive } = await setup(t);
    await writer.writeRaw('0', [{
      SequenceNumber: 0, Offset: '0', EnqueuedTimeUtc: '2/16/2026 2:30:05 PM',
      SystemProperties: { 'x-opt-partition-key': { string: 't1' } }, Properties: { big: { long: 2n ** 62n } }, Body: { bytes: Buffer.from('{}') },
    }]);
    const [event] = await all(archive.events('0'));
    assert.deepEqual([event.partitionKey, event.properties.big], ['t1', 2n ** 62n]);
  });

  it('retention: old events leave, the earliest retained sequence number moves, readers start there', async (t) => {
    const { later, emu, send } = await setup(t);
    await send('0', 0, 10);
    assert.equal(emu.hub(HUB).expireBefore('0', 6), 6);
    const consumer = later(new EventHubConsumerClient('$Default', emu.connectionString(), HUB));
    const properties = await consumer.getPartitionProperties('0');
    assert.deepEqual([properties.beginningSequenceNumber, properties.lastEnqueuedSequenceNumber, properties.isEmpty], [6, 9, false]);
    const seen: number[] = [];
    const subscription = consumer.subscribe('0', {
      processEvents: async (events: ReceivedEventData[]) => { seen.push(...events.map((e) => e.sequenceNumber)); },
      processError: async () => {},
    }, { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1 });
    await eventually('the retained events read', () => seen.length >= 4);
    await subscription.close();
    assert.deepEqual(seen, [6, 7, 8, 9]);
    assert.equal(emu.hub(HUB).expireEnqueuedBefore(new Date(Date.now() + 1000)), 4);
    const empty = await consumer.getPartitionProperties('0');
    assert.deepEqual([empty.beginningSequenceNumber, empty.lastEnqueuedSequenceNumber, empty.isEmpty], [10, 9, true]);
  });

  it("describes per partition what the hub retains (its earliest event's time received, or from Capture beside a processor) and what Capture holds", async (t) => {
    const { later, emu, writer, archive, send } = await setup(t);
    await send('0', 0, 10);
    await writer.capture({ partitions: ['0'] });
    const stored = emu.hub(HUB).events('0');
    emu.hub(HUB).expireBefore('0', 4);
    const consumer = later(new EventHubConsumerClient('$Default', emu.connectionString(), HUB));
    const toSecond = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString();
    const want = {
      partitionId: '0',
      hub: { earliest: 4, earliestEnqueuedAt: stored[4].enqueuedTime.toISOString(), last: 9, lastEnqueuedAt: stored[9].enqueuedTime.toISOString() },
      captured: { first: 0, firstEnqueuedAt: toSecond(stored[0].enqueuedTime), last: 9, lastEnqueuedAt: toSecond(stored[9].enqueuedTime), files: 1 },
    };
    const [zero, one] = await describeRetention(consumer, archive);
    assert.deepEqual(zero, want);
    assert.deepEqual(one, { partitionId: '1', hub: null, captured: null });

    // A processor's receiver (owner level) holds the partition: the time comes from Capture, to the second.
    const processor = later(new EventHubConsumerClient('$Default', emu.connectionString(), HUB)).subscribe('0', { processEvents: async () => {}, processError: async () => {} }, { ownerLevel: 1, startPosition: { sequenceNumber: 4, isInclusive: true } });
    await eventually('the processor attached', () => emu.hub(HUB).readerCount('0') === 1);
    const [beside] = await describeRetention(consumer, archive, 1500);
    await processor.close();
    assert.equal(beside.hub?.earliestEnqueuedAt, toSecond(stored[4].enqueuedTime));
  });
});
