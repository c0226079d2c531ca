import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReceivedEventData } from '@azure/event-hubs';
import { DuplicateFilter } from '../../src/adapters/eventHubs/DuplicateFilter';
import { encodeEvent } from '../../src/core/logCodec';
import { MemoryRowTable } from '../support/memoryTableStore';

/** An event as the hub hands it: a metrics record with its idempotency key, at a sequence number. */
const event = (sequenceNumber: number, key: string | undefined, partitionKey = 'tenant/A'): ReceivedEventData => ({
  body: encodeEvent({
    type: 'MetricsReceived', source: 'servicebus', receivedAtMs: 1, rejected: [], ...(key === undefined ? {} : { idempotencyKey: key }),
    metrics: [{ t: 1_700_000_000, tenant: partitionKey, vm: 'vm', key: 'cpu.pct', value: sequenceNumber }],
  }),
  sequenceNumber, offset: String(sequenceNumber * 100), enqueuedTimeUtc: new Date(0), partitionKey, properties: {}, systemProperties: {},
} as unknown as ReceivedEventData);

describe('DuplicateFilter: the second append of one message is dropped by every reader', () => {
  it('keeps the first copy, drops later ones, also for a new reader after a restart, and keeps events without a key', async () => {
    const table = new MemoryRowTable();
    const first = new DuplicateFilter(table);
    const kept = await first.filter('0', [event(0, 'm1'), event(1, 'm2'), event(2, undefined), event(3, 'm1')]);
    assert.deepEqual(kept.map((e) => e.sequenceNumber), [0, 1, 2]);
    assert.equal(first.dropped, 1);
    // A new owner re-reads the partition from 0 and meets a third copy later.
    const second = new DuplicateFilter(table);
    assert.deepEqual((await second.filter('0', [event(0, 'm1'), event(1, 'm2'), event(2, undefined), event(3, 'm1'), event(4, 'm1')])).map((e) => e.sequenceNumber), [0, 1, 2]);
    // The same key from another tenant of the message (another partition key) is its own record.
    assert.deepEqual((await second.filter('0', [event(5, 'm1', 'tenant/B')])).map((e) => e.sequenceNumber), [5]);
  });

  it('forgets the keys of events the hub no longer retains', async () => {
    const table = new MemoryRowTable();
    const filter = new DuplicateFilter(table);
    await filter.filter('1', [event(10, 'old'), event(20, 'new')]);
    assert.equal(await filter.forgetBefore('1', 15), 1);
    assert.deepEqual((await table.list({ partition: ['1'] })).map((r) => [r.row, r.fields.seq]), [['new|tenant/A', 20]]);
  });
});
