import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import {
  EventHubConsumerClient,
  EventHubProducerClient,
  earliestEventPosition,
  latestEventPosition,
  type EventPosition,
  type ReceivedEventData,
} from '@azure/event-hubs';
import { ServiceBusClient, type ServiceBusReceivedMessage, type ServiceBusReceiverOptions } from '@azure/service-bus';
import { startAmqpEmulator, type AmqpEmulator, type AmqpEmulatorOptions } from '../support/amqp/startAmqpEmulator';
import { closeLater } from '../support/closeLater';
import { eventually } from '../support/eventually';

/** Small retries, so that an emulator bug fails a test in seconds rather than minutes. */
const retryOptions = { maxRetries: 1, retryDelayInMs: 50, timeoutInMs: 5000 };
const HUB = 'opsfold-events';
const QUEUE = 'spoc-metrics';

async function emulator(t: TestContext, options: AmqpEmulatorOptions): Promise<{ emu: AmqpEmulator; later: ReturnType<typeof closeLater> }> {
  const later = closeLater(t);
  const emu = later(await startAmqpEmulator(options));
  return { emu, later };
}

describe('AMQP emulator: Event Hubs with the real @azure/event-hubs client', () => {
  async function hub(t: TestContext, partitions = 4) {
    const { emu, later } = await emulator(t, { eventHubs: [{ name: HUB, partitions }] });
    const producer = later(new EventHubProducerClient(emu.connectionString(HUB), { retryOptions }));
    return { emu, later, producer };
  }

  /** Subscribes with its own client; returns what it received and its errors. */
  function subscribe(emu: AmqpEmulator, later: ReturnType<typeof closeLater>, options: { partitionId?: string; startPosition: EventPosition; ownerLevel?: number }) {
    const consumer = later(new EventHubConsumerClient('$Default', emu.connectionString(HUB), { retryOptions }));
    const events: (ReceivedEventData & { partitionId: string })[] = [];
    const errors: string[] = [];
    const closes: string[] = [];
    const handlers = {
      processEvents: async (batch: ReceivedEventData[], context: { partitionId: string }) => {
        for (const event of batch) events.push({ ...event, partitionId: context.partitionId });
      },
      processError: async (error: Error & { code?: string }) => {
        errors.push(error.code ?? error.message);
      },
      processClose: async (reason: string) => {
        closes.push(reason);
      },
    };
    const subscribeOptions = { startPosition: options.startPosition, ownerLevel: options.ownerLevel, maxWaitTimeInSeconds: 1 };
    const subscription = later(options.partitionId === undefined ? consumer.subscribe(handlers, subscribeOptions) : consumer.subscribe(options.partitionId, handlers, subscribeOptions));
    return { events, errors, closes, subscription };
  }

  it('answers hub and partition properties, and keeps a partition key batch in one partition', async (t) => {
    // Given a hub with 4 partitions
    const { emu, producer } = await hub(t);
    assert.deepEqual((await producer.getEventHubProperties()).partitionIds, ['0', '1', '2', '3']);

    // When a batch with a partition key is sent
    const batch = await producer.createBatch({ partitionKey: 'tenant/A+==' });
    for (const n of [1, 2, 3]) assert.ok(batch.tryAdd({ body: { n } }));
    await producer.sendBatch(batch);

    // Then its three events sit in one partition, in order, with the key
    const stored = emu.hub(HUB).events();
    assert.equal(stored.length, 3);
    const partitionId = stored[0].partitionId;
    assert.deepEqual(stored.map((e) => [e.partitionId, e.sequenceNumber, e.partitionKey, e.body]), [
      [partitionId, 0, 'tenant/A+==', { n: 1 }],
      [partitionId, 1, 'tenant/A+==', { n: 2 }],
      [partitionId, 2, 'tenant/A+==', { n: 3 }],
    ]);
    // And the partition properties say so, while the others are empty
    const props = await producer.getPartitionProperties(partitionId);
    assert.equal(props.isEmpty, false);
    assert.equal(props.lastEnqueuedSequenceNumber, 2);
    assert.equal(props.lastEnqueuedOffset, stored[2].offset);
    assert.equal(props.lastEnqueuedOnUtc.getTime(), stored[2].enqueuedTime.getTime());
    const other = await producer.getPartitionProperties(String((Number(partitionId) + 1) % 4));
    assert.equal(other.isEmpty, true);
    assert.equal(other.lastEnqueuedSequenceNumber, -1);
  });

  it('stores a send to a partition id there, and spreads keyless sends round robin', async (t) => {
    const { emu, producer } = await hub(t);
    await producer.sendBatch([{ body: 'pinned' }], { partitionId: '2' });
    for (let i = 0; i < 4; i++) await producer.sendBatch([{ body: `free-${i}` }]);
    assert.deepEqual(emu.hub(HUB).events('2').map((e) => e.body).slice(0, 1), ['pinned']);
    // Four keyless sends land in four different partitions
    const free = emu.hub(HUB).events().filter((e) => String(e.body).startsWith('free'));
    assert.equal(new Set(free.map((e) => e.partitionId)).size, 4);
  });

  it('subscribe from the earliest position delivers every event with sequence number, string offset, enqueued time and key', async (t) => {
    // Given events in two partitions
    const { emu, later, producer } = await hub(t, 2);
    await producer.sendBatch([{ body: 'a0' }, { body: 'a1' }], { partitionId: '0' });
    await producer.sendBatch([{ body: 'b0' }], { partitionKey: 'k' });

    // When a consumer subscribes to all partitions from the earliest position
    const { events, errors } = subscribe(emu, later, { startPosition: earliestEventPosition });
    await eventually('three events', () => events.length >= 3);

    // Then it sees each event once, annotated as the service annotates it
    assert.deepEqual(errors, []);
    const byBody = new Map(events.map((e) => [e.body as string, e]));
    assert.deepEqual([...byBody.keys()].sort(), ['a0', 'a1', 'b0']);
    assert.deepEqual([byBody.get('a0')?.sequenceNumber, byBody.get('a1')?.sequenceNumber], [0, 1]);
    assert.equal(typeof byBody.get('a1')?.offset, 'string');
    assert.ok(Number(byBody.get('a1')?.offset) > Number(byBody.get('a0')?.offset));
    assert.ok(byBody.get('a0')?.enqueuedTimeUtc instanceof Date);
    assert.equal(byBody.get('b0')?.partitionKey, 'k');
    assert.equal(events.length, 3);
  });

  it('starts a subscription where its position says: after an offset, after or at a sequence number, after a time, or at the end', async (t) => {
    // Given five events in partition 0, the last two sent after a known instant
    const { emu, later, producer } = await hub(t, 1);
    await producer.sendBatch([0, 1, 2].map((n) => ({ body: n })), { partitionId: '0' });
    await delay(20);
    const instant = new Date();
    await delay(20);
    await producer.sendBatch([3, 4].map((n) => ({ body: n })), { partitionId: '0' });

    // When five consumers start at different positions
    const afterOffset1 = subscribe(emu, later, { partitionId: '0', startPosition: { offset: emu.hub(HUB).events('0')[1].offset } });
    const after2 = subscribe(emu, later, { partitionId: '0', startPosition: { sequenceNumber: 2 } });
    const from2 = subscribe(emu, later, { partitionId: '0', startPosition: { sequenceNumber: 2, isInclusive: true } });
    const afterInstant = subscribe(emu, later, { partitionId: '0', startPosition: { enqueuedOn: instant } });
    const latest = subscribe(emu, later, { partitionId: '0', startPosition: latestEventPosition });
    await eventually('the latest reader to attach', () => emu.hub(HUB).readerCount('0') === 5);
    await producer.sendBatch([{ body: 5 }], { partitionId: '0' });

    // Then each sees exactly the events from its position on
    const bodies = (s: { events: ReceivedEventData[] }) => s.events.map((e) => e.body);
    await eventually('every reader to see event 5', () => [afterOffset1, after2, from2, afterInstant, latest].every((s) => bodies(s).includes(5)));
    assert.deepEqual(bodies(afterOffset1), [2, 3, 4, 5]);
    assert.deepEqual(bodies(after2), [3, 4, 5]);
    assert.deepEqual(bodies(from2), [2, 3, 4, 5]);
    assert.deepEqual(bodies(afterInstant), [3, 4, 5]);
    assert.deepEqual(bodies(latest), [5]);
  });

  it('lets a higher owner level take a partition over and refuses a lower one while it holds it', async (t) => {
    // Given a reader with owner level 1 on partition 0
    const { emu, later, producer } = await hub(t, 2);
    await producer.sendBatch([{ body: 'x' }], { partitionId: '0' });
    const first = subscribe(emu, later, { partitionId: '0', startPosition: earliestEventPosition, ownerLevel: 1 });
    await eventually('the first reader to read', () => first.events.length === 1);

    // When a reader with owner level 2 attaches to the same partition and consumer group
    const second = subscribe(emu, later, { partitionId: '0', startPosition: earliestEventPosition, ownerLevel: 2 });
    await eventually('the second reader to read', () => second.events.length === 1);

    // Then the first is disconnected with the error the SDK reports as a lost ownership
    await eventually('the first reader to close', () => first.closes.length === 1);
    assert.deepEqual(first.errors, ['ReceiverDisconnectedError']);
    assert.deepEqual(first.closes, ['OwnershipLost']);

    // And a reader with owner level 0 is refused while the second holds the partition
    const third = subscribe(emu, later, { partitionId: '0', startPosition: earliestEventPosition, ownerLevel: 0 });
    await eventually('the third reader to be refused', () => third.closes.length === 1);
    assert.deepEqual(third.errors, ['ReceiverDisconnectedError']);
    assert.deepEqual(third.events, []);
    assert.deepEqual(second.errors, []);
    assert.equal(emu.hub(HUB).readerCount('0'), 1);
  });
});

describe('AMQP emulator: Service Bus queues with the real @azure/service-bus client', () => {
  async function queue(t: TestContext, options: { lockDurationMs?: number; maxDeliveryCount?: number } = {}) {
    const { emu, later } = await emulator(t, { queues: [{ name: QUEUE, ...options }] });
    const client = later(new ServiceBusClient(emu.connectionString(), { retryOptions }));
    const sender = later(client.createSender(QUEUE));
    const receiver = (receiverOptions: ServiceBusReceiverOptions = {}) => later(client.createReceiver(QUEUE, receiverOptions));
    return { emu, client, sender, receiver, later };
  }

  async function receiveOne(receiver: { receiveMessages(n: number, o: { maxWaitTimeInMs: number }): Promise<ServiceBusReceivedMessage[]> }): Promise<ServiceBusReceivedMessage> {
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    assert.ok(message, 'a message was received');
    return message;
  }

  it('delivers a peek-locked message with lock token, sequence number and delivery count 0, and complete removes it', async (t) => {
    // Given a message sent without a message id
    const { emu, sender, receiver } = await queue(t);
    await sender.sendMessages({ body: { metrics: [] }, applicationProperties: { origin: 'test' } });
    const [queued] = emu.queue(QUEUE).active();
    assert.equal(typeof queued.messageId, 'string');

    // When it is received in peek-lock mode
    const r = receiver();
    const message = await receiveOne(r);

    // Then the SDK sees what the service would send, and the message is locked
    assert.deepEqual(message.body, { metrics: [] });
    assert.equal(message.messageId, queued.messageId);
    assert.match(message.lockToken ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(message.deliveryCount, 0);
    assert.equal(message.sequenceNumber?.toNumber(), 1);
    assert.equal(message.applicationProperties?.origin, 'test');
    assert.ok((message.lockedUntilUtc?.getTime() ?? 0) > Date.now());
    assert.equal(emu.queue(QUEUE).active()[0].state, 'locked');

    // And completing it removes it from the queue
    await r.completeMessage(message);
    assert.deepEqual(emu.queue(QUEUE).active(), []);
    assert.deepEqual(emu.queue(QUEUE).completed().map((m) => m.messageId), [queued.messageId]);
  });

  it('redelivers an abandoned message with its delivery count one higher', async (t) => {
    const { emu, sender, receiver } = await queue(t);
    await sender.sendMessages({ body: 'again', messageId: 'm-2' });
    const r = receiver();
    const first = await receiveOne(r);
    await r.abandonMessage(first);
    const second = await receiveOne(r);
    assert.equal(second.messageId, 'm-2');
    assert.equal(second.deliveryCount, first.deliveryCount! + 1);
    assert.notEqual(second.lockToken, first.lockToken);
    await r.completeMessage(second);
    assert.equal(emu.queue(QUEUE).completed().length, 1);
  });

  it('moves a dead-lettered message to the dead-letter queue, readable there with its reason and description', async (t) => {
    const { emu, sender, receiver } = await queue(t);
    await sender.sendMessages({ body: 'bad', messageId: 'm-3' });
    const r = receiver();
    await r.deadLetterMessage(await receiveOne(r), { deadLetterReason: 'NotASpocMessage', deadLetterErrorDescription: 'no metrics array' });
    assert.deepEqual(emu.queue(QUEUE).active(), []);

    const dead = await receiveOne(receiver({ subQueueType: 'deadLetter' }));
    assert.equal(dead.messageId, 'm-3');
    assert.equal(dead.body, 'bad');
    assert.equal(dead.deadLetterReason, 'NotASpocMessage');
    assert.equal(dead.deadLetterErrorDescription, 'no metrics array');
    assert.equal(dead.deadLetterSource, QUEUE);
  });

  it('extends a lock on renewMessageLock, so the message outlives its first lock without redelivery', async (t) => {
    // Given a queue with 2.5 s locks and a message received without automatic renewal
    const { emu, sender, receiver } = await queue(t, { lockDurationMs: 2500 });
    await sender.sendMessages({ body: 'slow', messageId: 'm-4' });
    const r = receiver({ maxAutoLockRenewalDurationInMs: 0 });
    const message = await receiveOne(r);
    const firstLock = message.lockedUntilUtc!.getTime();

    // When the lock is renewed twice, 1.5 s apart (3 s in all, past the first lock)
    await delay(1500);
    const renewed = await r.renewMessageLock(message);
    await delay(1500);
    await r.renewMessageLock(message);

    // Then the lock moved forward, the message was never redelivered, and it completes
    assert.ok(renewed.getTime() > firstLock);
    assert.equal(emu.queue(QUEUE).active()[0].deliveryCount, 0);
    await r.completeMessage(message);
    assert.equal(emu.queue(QUEUE).completed().length, 1);
  });

  it('redelivers a message whose lock expired, and refuses to settle the expired delivery', async (t) => {
    const { sender, receiver } = await queue(t, { lockDurationMs: 500 });
    await sender.sendMessages({ body: 'lost', messageId: 'm-5' });
    const r = receiver({ maxAutoLockRenewalDurationInMs: 0 });
    const first = await receiveOne(r);
    const second = await receiveOne(r);
    assert.equal(second.messageId, 'm-5');
    assert.equal(second.deliveryCount, 1);
    await assert.rejects(r.completeMessage(first), (error: Error & { code?: string }) => error.code === 'MessageLockLost');
    await r.completeMessage(second);
  });

  it('dead-letters a message after maxDeliveryCount deliveries with reason MaxDeliveryCountExceeded', async (t) => {
    const { emu, sender, receiver } = await queue(t, { maxDeliveryCount: 2 });
    await sender.sendMessages({ body: 'poison', messageId: 'm-6' });
    const r = receiver();
    await r.abandonMessage(await receiveOne(r));
    await r.abandonMessage(await receiveOne(r));
    assert.deepEqual(emu.queue(QUEUE).active(), []);
    assert.deepEqual(emu.queue(QUEUE).deadLettered().map((m) => [m.messageId, m.deadLetterReason]), [['m-6', 'MaxDeliveryCountExceeded']]);
  });

  it('defers a message out of delivery', async (t) => {
    const { emu, sender, receiver } = await queue(t);
    await sender.sendMessages([{ body: 'later', messageId: 'm-7' }, { body: 'now', messageId: 'm-8' }]);
    const r = receiver();
    await r.deferMessage(await receiveOne(r));
    const next = await receiveOne(r);
    assert.equal(next.messageId, 'm-8');
    assert.deepEqual(emu.queue(QUEUE).active().map((m) => [m.messageId, m.state]), [['m-7', 'deferred'], ['m-8', 'locked']]);
  });

  it('removes a message at delivery in receiveAndDelete mode, and ends an empty receive by drain', async (t) => {
    const { emu, sender, receiver } = await queue(t);
    await sender.sendMessages({ body: 'once', messageId: 'm-9' });
    const r = receiver({ receiveMode: 'receiveAndDelete' });
    const [message] = await r.receiveMessages(5, { maxWaitTimeInMs: 1000 });
    assert.equal(message.messageId, 'm-9');
    assert.deepEqual(emu.queue(QUEUE).active(), []);
    // The second receive waits its second, drains the link's credit and returns nothing
    assert.deepEqual(await r.receiveMessages(5, { maxWaitTimeInMs: 500 }), []);
    await sender.sendMessages({ body: 'twice', messageId: 'm-10' });
    assert.deepEqual((await r.receiveMessages(5, { maxWaitTimeInMs: 1000 })).map((m) => m.messageId), ['m-10']);
  });

  it('delivers to subscribe handlers up to maxConcurrentCalls at once', async (t) => {
    const { emu, sender, receiver } = await queue(t);
    await sender.sendMessages([1, 2, 3, 4, 5].map((n) => ({ body: n })));
    const r = receiver();
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    const subscription = r.subscribe(
      {
        processMessage: async (message) => {
          most = Math.max(most, ++running);
          await delay(50);
          seen.push(message.body as number);
          running--;
          await r.completeMessage(message);
        },
        processError: async () => {},
      },
      { autoCompleteMessages: false, maxConcurrentCalls: 2 },
    );
    await eventually('five completions', () => emu.queue(QUEUE).completed().length === 5);
    await subscription.close();
    assert.deepEqual(seen.sort(), [1, 2, 3, 4, 5]);
    assert.equal(most, 2);
  });

  it('fails injected sends with a retriable server-busy error, which a retrying client gets past', async (t) => {
    const { emu, sender, later } = await queue(t);
    const impatient = later(new ServiceBusClient(emu.connectionString(), { retryOptions: { ...retryOptions, maxRetries: 0 } }));
    emu.failNextSends(1);
    await assert.rejects(later(impatient.createSender(QUEUE)).sendMessages({ body: 'refused' }), (error: Error & { code?: string }) => error.code === 'ServiceBusy');
    emu.failNextSends(1);
    await sender.sendMessages({ body: 'retried', messageId: 'm-11' });
    assert.deepEqual(emu.queue(QUEUE).active().map((m) => m.messageId), ['m-11']);
  });

  it('drops every connection on disconnectAll, and a client reconnects on its next send', async (t) => {
    const { emu, later } = await queue(t);
    // A send issued before the client notices the drop times out once: keep that attempt short
    const client = later(new ServiceBusClient(emu.connectionString(), { retryOptions: { maxRetries: 2, retryDelayInMs: 50, timeoutInMs: 1000 } }));
    const sender = later(client.createSender(QUEUE));
    await sender.sendMessages({ body: 'before', messageId: 'm-12' });
    await emu.disconnectAll();
    await sender.sendMessages({ body: 'after', messageId: 'm-13' });
    assert.deepEqual(emu.queue(QUEUE).active().map((m) => m.messageId), ['m-12', 'm-13']);
  });
});
