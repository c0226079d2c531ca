import type { ReceivedEventData } from '@azure/event-hubs';
import { decodeRejections } from '../../core/logCodec';
import type { RowTable } from '../../core/ports';

/**
 * Drops the second append of one message from an Event Hubs partition. A sender retries a
 * message whose append may already have landed (a crash between the append and the
 * acknowledgement, or a Service Bus redelivery after a lost completion): both copies carry the
 * message's idempotency key. The first sequence number each key (with its partition key) was
 * seen at is kept in a table before the events go on, so every reader of the partition, at
 * any time and after any restart, keeps that one and drops the others.
 */
export class DuplicateFilter {
  /** `partition\0key` → first sequence number; a cache of the table, bounded. */
  private readonly seen = new Map<string, number>();
  dropped = 0;

  constructor(private readonly table: RowTable, private readonly maxCached = 200_000) {}

  async filter(partitionId: string, events: readonly ReceivedEventData[]): Promise<ReceivedEventData[]> {
    const keyed = events.map((e) => ({ e, key: keyOf(e) }));
    const fresh = new Map<string, number>();
    for (const { e, key } of keyed) {
      if (key === undefined) continue;
      const id = `${partitionId}\u0000${key}`;
      if (this.seen.has(id) || fresh.has(key)) continue;
      const row = await this.table.get([partitionId], key);
      if (row) this.remember(id, Number(row.fields.seq));
      else fresh.set(key, e.sequenceNumber);
    }
    if (fresh.size > 0) {
      await this.table.upsert([...fresh].map(([key, seq]) => ({ partition: [partitionId], row: key, fields: { seq } })));
      for (const [key, seq] of fresh) this.remember(`${partitionId}\u0000${key}`, seq);
    }
    const kept = keyed.filter(({ e, key }) => key === undefined || this.seen.get(`${partitionId}\u0000${key}`) === e.sequenceNumber).map(({ e }) => e);
    this.dropped += events.length - kept.length;
    return kept;
  }

  /**
   * Forgets the keys first seen before `beginSequenceNumber`, the oldest event the hub still
   * retains: no reader can meet those events again, so no later copy needs to be told from them.
   * Returns how many keys went.
   */
  async forgetBefore(partitionId: string, beginSequenceNumber: number): Promise<number> {
    let forgotten = 0;
    for (const row of await this.table.list({ partition: [partitionId] })) {
      if (Number(row.fields.seq) >= beginSequenceNumber) continue;
      await this.table.delete([partitionId], row.row);
      this.seen.delete(`${partitionId}\u0000${row.row}`);
      forgotten++;
    }
    return forgotten;
  }

  private remember(id: string, seq: number): void {
    if (this.seen.size >= this.maxCached) this.seen.clear();
    this.seen.set(id, seq);
  }
}

/** The message's idempotency key and the event's partition key (a message of several tenants is one event per tenant). */
function keyOf(event: ReceivedEventData): string | undefined {
  const body = event.body as unknown;
  if (!Buffer.isBuffer(body)) return undefined;
  const key = decodeRejections(body)?.idempotencyKey;
  return key === undefined ? undefined : `${key}|${event.partitionKey ?? ''}`;
}
