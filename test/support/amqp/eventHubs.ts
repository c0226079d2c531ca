/**
 * One emulated event hub: partitions of stored events, sends to the hub (partition by hash of
 * the partition key, else round robin) or to `hub/Partitions/N`, readers on
 * `hub/ConsumerGroups/CG/Partitions/N` that start where the selector filter says and take over
 * by owner level, and the `$management` READ answers for the hub and its partitions. A retention
 * is applied when a test says so (`expireBefore`, `expireEnqueuedBefore`): old events leave their
 * partition, its earliest retained sequence number moves on, and a reader positioned before it
 * continues from it, as the service does.
 */
import { message as amqpMessage, types, type AmqpError, type EventContext, type Message, type Sender } from 'rhea';
import { Credit, messagesOf, sdkBody, type Reply } from './amqpLinks';

export interface EventHubOptions {
  name: string;
  partitions?: number;
  /** Largest transfer accepted; Event Hubs Standard allows 1 MB. */
  maxMessageBytes?: number;
}

/** An event as the hub stores it, with the broker's annotations. */
export interface StoredEvent {
  partitionId: string;
  sequenceNumber: number;
  /** Byte position in the partition, as a string like the service's. */
  offset: string;
  enqueuedTime: Date;
  partitionKey?: string;
  /** The body as the SDK decodes it: parsed JSON when the data is JSON, else the raw value. */
  body: unknown;
  properties?: Record<string, unknown>;
  message: Message;
}

interface Reader {
  credit: Credit;
  partition: number;
  consumerGroup: string;
  ownerLevel?: number;
  /** The sequence number it sends next. */
  next: number;
}

const SELECTOR = /^amqp\.annotation\.x-opt-(offset|sequence-number|enqueued-time)\s*(>=|>)\s*'([^']*)'$/;
const STOLEN = 'amqp:link:stolen';

export class EmulatedEventHub {
  readonly name: string;
  readonly maxMessageBytes: number;
  readonly createdAt = new Date();
  /** Retained events per partition: consecutive sequence numbers from the earliest retained one. */
  private readonly partitions: StoredEvent[][];
  private readonly nextOffset: number[];
  /** Per partition, the sequence number the next event gets (retention does not change it). */
  private readonly nextSequence: number[];
  /** Per partition, the last event ever enqueued (it may have left with the retention). */
  private readonly lastEnqueued: (StoredEvent | undefined)[];
  private readonly readers = new Set<Reader>();
  private roundRobin = 0;
  /** Where each reader admitted so far starts (the sequence number of its first event), in the order they attached. */
  readonly starts: { consumerGroup: string; partitionId: string; sequenceNumber: number }[] = [];

  constructor({ name, partitions = 4, maxMessageBytes = 1024 * 1024 }: EventHubOptions) {
    if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`event hub ${name}: partitions must be a positive integer, got ${partitions}`);
    this.name = name;
    this.maxMessageBytes = maxMessageBytes;
    this.partitions = Array.from({ length: partitions }, () => []);
    this.nextOffset = Array.from({ length: partitions }, () => 0);
    this.nextSequence = Array.from({ length: partitions }, () => 0);
    this.lastEnqueued = Array.from({ length: partitions }, () => undefined);
  }

  get partitionIds(): string[] {
    return this.partitions.map((_, i) => String(i));
  }

  /** Retained events of one partition, or of all partitions in partition order. */
  events(partitionId?: string): StoredEvent[] {
    if (partitionId === undefined) return this.partitions.flat();
    return [...(this.partitions[this.partitionIndex(partitionId) ?? -1] ?? [])];
  }

  /** The earliest sequence number a partition retains (the next one to come when it retains none). */
  earliestRetained(partitionId: string): number {
    const partition = this.partitionIndex(partitionId) as number;
    return this.partitions[partition][0]?.sequenceNumber ?? this.nextSequence[partition];
  }

  /** Retention: the events of a partition before `sequenceNumber` leave it. Returns how many left. */
  expireBefore(partitionId: string, sequenceNumber: number): number {
    const partition = this.partitionIndex(partitionId);
    if (partition === undefined) throw new Error(`event hub ${this.name} has no partition ${partitionId}`);
    const events = this.partitions[partition];
    const keep = events.findIndex((e) => e.sequenceNumber >= sequenceNumber);
    const gone = keep < 0 ? events.length : keep;
    events.splice(0, gone);
    return gone;
  }

  /** Retention by time, on every partition: events enqueued before `time` leave. Returns how many left. */
  expireEnqueuedBefore(time: Date): number {
    let gone = 0;
    for (const id of this.partitionIds) {
      const kept = this.partitions[Number(id)].find((e) => e.enqueuedTime >= time);
      gone += this.expireBefore(id, kept ? kept.sequenceNumber : this.nextSequence[Number(id)]);
    }
    return gone;
  }

  /** Readers attached to a partition (any consumer group). */
  readerCount(partitionId: string): number {
    return [...this.readers].filter((r) => String(r.partition) === partitionId).length;
  }

  /** Checks the path of a client sender: `[]` (the hub) or `['Partitions', N]`. */
  checkSendPath(path: string[]): AmqpError | undefined {
    if (path.length === 0) return undefined;
    if (path.length === 2 && path[0].toLowerCase() === 'partitions' && this.partitionIndex(path[1]) !== undefined) return undefined;
    return { condition: 'com.microsoft:argument-out-of-range', description: `no partition ${path.join('/')} in event hub ${this.name}` };
  }

  /** Stores the events of a transfer; `path` was checked at attach. */
  store(context: EventContext, path: string[]): void {
    const messages = messagesOf(context);
    if (messages.length === 0) return;
    const partitionKey = messages[0].message_annotations?.['x-opt-partition-key'] as string | undefined;
    const partition = path.length === 2 ? (this.partitionIndex(path[1]) as number) : this.choosePartition(partitionKey);
    const events = this.partitions[partition];
    for (const message of messages) {
      const size = amqpMessage.encode(message).length;
      const event: StoredEvent = {
        partitionId: String(partition),
        sequenceNumber: this.nextSequence[partition]++,
        offset: String(this.nextOffset[partition]),
        enqueuedTime: new Date(),
        partitionKey,
        body: sdkBody(message),
        properties: message.application_properties,
        message,
      };
      events.push(event);
      this.lastEnqueued[partition] = event;
      this.nextOffset[partition] += size;
    }
    for (const reader of this.readers) if (reader.partition === partition) this.pump(reader);
  }

  /**
   * A client receiver on `ConsumerGroups/CG/Partitions/N`: starts where its selector filter says,
   * unless a reader with a higher owner level holds the partition for that consumer group.
   */
  attachReader(sender: Sender, path: string[]): AmqpError | undefined {
    const [groups, consumerGroup, partitions, id] = path;
    const partition = this.partitionIndex(id ?? '');
    if (path.length !== 4 || groups.toLowerCase() !== 'consumergroups' || partitions.toLowerCase() !== 'partitions' || partition === undefined) {
      return { condition: 'amqp:not-found', description: `no such receive address in event hub ${this.name}: ${path.join('/')}` };
    }
    const start = this.startIndex(partition, selectorOf(sender));
    if (typeof start !== 'number') return start;
    const ownerLevel = sender.properties?.['com.microsoft:epoch'] as number | undefined;
    const reader: Reader = { credit: new Credit(sender), partition, consumerGroup: consumerGroup.toLowerCase(), ownerLevel, next: start };
    const refusal = this.admit(reader);
    if (refusal) return refusal;
    this.readers.add(reader);
    this.starts.push({ consumerGroup: reader.consumerGroup, partitionId: String(partition), sequenceNumber: start });
    sender.on('sendable', () => this.pump(reader));
    sender.on('sender_close', () => this.readers.delete(reader));
    return undefined;
  }

  /** Forgets the readers of a connection that went away. */
  dropConnection(connection: unknown): void {
    for (const reader of this.readers) if (reader.credit.sender.connection === connection) this.readers.delete(reader);
  }

  /** `$management` READ of the hub or of one partition. */
  read(request: Message): Reply {
    const type = request.application_properties?.type as string | undefined;
    if (type === 'com.microsoft:eventhub') {
      return {
        status: 200,
        body: { name: this.name, type, created_at: this.createdAt, partition_count: this.partitions.length, partition_ids: this.partitionIds },
      };
    }
    if (type === 'com.microsoft:partition') {
      const id = String(request.application_properties?.partition);
      const partition = this.partitionIndex(id);
      if (partition === undefined) return { status: 400, condition: 'com.microsoft:argument-out-of-range', description: `no partition ${id} in event hub ${this.name}` };
      const last = this.lastEnqueued[partition];
      return {
        status: 200,
        body: {
          name: this.name,
          type,
          partition: id,
          begin_sequence_number: types.wrap_long(this.earliestRetained(id)),
          last_enqueued_sequence_number: types.wrap_long(last ? last.sequenceNumber : -1),
          last_enqueued_offset: last ? last.offset : '-1',
          last_enqueued_time_utc: last ? last.enqueuedTime : new Date(0),
          is_partition_empty: this.partitions[partition].length === 0,
        },
      };
    }
    return { status: 400, condition: 'com.microsoft:argument-error', description: `unsupported READ type ${type}` };
  }

  private partitionIndex(id: string): number | undefined {
    return /^\d+$/.test(id) && Number(id) < this.partitions.length ? Number(id) : undefined;
  }

  private choosePartition(partitionKey: string | undefined): number {
    if (partitionKey === undefined) return this.roundRobin++ % this.partitions.length;
    // FNV-1a: stable across runs; the service's own hash differs, which no client may rely on.
    let hash = 0x811c9dc5;
    for (const byte of Buffer.from(partitionKey)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
    return hash % this.partitions.length;
  }

  /** The sequence number a new reader starts at. */
  private startIndex(partition: number, selector: string | undefined): number | AmqpError {
    const events = this.partitions[partition];
    const match = SELECTOR.exec(selector ?? `amqp.annotation.x-opt-offset > '-1'`);
    if (!match) return { condition: 'amqp:invalid-field', description: `unsupported selector filter: ${selector}` };
    const [, field, operator, value] = match;
    const after = this.nextSequence[partition];
    if (value === '@latest') return after;
    const bound = Number(value);
    const key = (e: StoredEvent): number =>
      field === 'offset' ? Number(e.offset) : field === 'sequence-number' ? e.sequenceNumber : e.enqueuedTime.getTime();
    // A position before the earliest retained event starts at that event (the service's answer to an expired checkpoint).
    const found = events.find((e) => (operator === '>=' ? key(e) >= bound : key(e) > bound));
    return found ? found.sequenceNumber : after;
  }

  private admit(reader: Reader): AmqpError | undefined {
    const rivals = [...this.readers].filter((r) => r.partition === reader.partition && r.consumerGroup === reader.consumerGroup);
    const levels = rivals.map((r) => r.ownerLevel).filter((l): l is number => l !== undefined);
    const highest = levels.length > 0 ? Math.max(...levels) : undefined;
    if (highest !== undefined && (reader.ownerLevel === undefined || reader.ownerLevel < highest)) {
      return {
        condition: STOLEN,
        description: `a receiver with owner level ${highest} holds partition ${reader.partition} of consumer group ${reader.consumerGroup}; owner level ${reader.ownerLevel ?? 'none'} is refused`,
      };
    }
    if (reader.ownerLevel === undefined) return undefined;
    for (const rival of rivals) {
      this.readers.delete(rival);
      rival.credit.sender.close({ condition: STOLEN, description: `a receiver with the higher owner level ${reader.ownerLevel} took over partition ${reader.partition}` });
    }
    return undefined;
  }

  private pump(reader: Reader): void {
    const events = this.partitions[reader.partition];
    // What left with the retention while the reader was behind is gone for it too.
    if (events.length > 0) reader.next = Math.max(reader.next, events[0].sequenceNumber);
    let left = reader.credit.left();
    while (left-- > 0 && events.length > 0 && reader.next <= events[events.length - 1].sequenceNumber) {
      reader.credit.send(withAnnotations(events[reader.next++ - events[0].sequenceNumber]));
    }
  }
}

function selectorOf(sender: Sender): string | undefined {
  const filter = sender.source?.filter?.['apache.org:selector-filter:string'] as unknown;
  if (typeof filter === 'string') return filter;
  const value = (filter as { value?: unknown } | undefined)?.value;
  return typeof value === 'string' ? value : undefined;
}

function withAnnotations(event: StoredEvent): Message {
  const annotations: Record<string, unknown> = {
    ...event.message.message_annotations,
    'x-opt-sequence-number': types.wrap_long(event.sequenceNumber),
    'x-opt-offset': event.offset,
    'x-opt-enqueued-time': event.enqueuedTime,
  };
  if (event.partitionKey !== undefined) annotations['x-opt-partition-key'] = event.partitionKey;
  return { ...event.message, message_annotations: annotations } as Message;
}
