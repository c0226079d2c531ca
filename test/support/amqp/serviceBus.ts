/**
 * One emulated Service Bus queue and its dead-letter queue (`QUEUE/$DeadLetterQueue`):
 * peek-lock deliveries whose tag is the lock token in .NET byte order, lock expiry with
 * redelivery, settlement by disposition (complete = Accepted, abandon = Modified, defer =
 * Modified undeliverable, dead-letter = Rejected `com.microsoft:dead-letter`) or through
 * `$management` (renew-lock, update-disposition, peek-message), receive-and-delete, drain,
 * and dead-lettering with MaxDeliveryCountExceeded after `maxDeliveryCount` deliveries.
 */
import { generate_uuid, message as amqpMessage, types, type Delivery, type EventContext, type Message, type Sender } from 'rhea';
import { Credit, lockTokenTag, messagesOf, sdkBody, uuidText, type Reply } from './amqpLinks';

export interface QueueOptions {
  name: string;
  /** How long a peek-lock delivery stays locked unless renewed. */
  lockDurationMs?: number;
  /** Deliveries after which a message goes to the dead-letter queue. */
  maxDeliveryCount?: number;
  /** Largest message accepted: 256 KB on the Standard tier, up to 100 MB on Premium. */
  maxMessageBytes?: number;
}

/** A message as the queue holds it, for tests to inspect. */
export interface QueuedMessage {
  messageId: unknown;
  sequenceNumber: number;
  enqueuedTime: Date;
  /** Deliveries that ended without completion (the AMQP header's delivery-count). */
  deliveryCount: number;
  state: 'available' | 'locked' | 'deferred' | 'settled';
  body: unknown;
  applicationProperties: Record<string, unknown>;
  deadLetterReason?: string;
  deadLetterErrorDescription?: string;
}

interface Entry {
  sequenceNumber: number;
  enqueuedTime: Date;
  message: Message;
  deliveryCount: number;
  state: QueuedMessage['state'];
  lock?: { token: string; untilMs: number; timer: NodeJS.Timeout };
}

type Settlement =
  | { kind: 'complete' }
  | { kind: 'abandon'; properties?: Record<string, unknown> }
  | { kind: 'defer'; properties?: Record<string, unknown> }
  | { kind: 'deadLetter'; reason?: string; description?: string; properties?: Record<string, unknown> };

const LOCK_LOST = 'com.microsoft:message-lock-lost';
const outcomes = amqpMessage as unknown as Record<'accepted' | 'released' | 'modified' | 'rejected', (fields?: object) => { described(): unknown }>;
const ECHO: Record<Settlement['kind'], () => unknown> = {
  complete: () => outcomes.accepted().described(),
  abandon: () => outcomes.modified({ delivery_failed: true }).described(),
  defer: () => outcomes.modified({ undeliverable_here: true }).described(),
  deadLetter: () => outcomes.rejected({}).described(),
};

/** The active queue or its dead-letter queue: messages, locks and the links receiving them. */
export class SubQueue {
  private readonly entries: Entry[] = [];
  private readonly settled: Entry[] = [];
  private readonly locks = new Map<string, Entry>();
  private readonly receivers = new Set<{ credit: Credit; peekLock: boolean }>();
  private readonly tokens = new WeakMap<Delivery, string>();

  constructor(
    readonly name: string,
    private readonly lockDurationMs: number,
    private readonly maxDeliveryCount: number,
    private readonly deadLetterTo?: SubQueue,
  ) {}

  add(message: Message, sequenceNumber: number, enqueuedTime = new Date(), deliveryCount = 0): void {
    const entry: Entry = { sequenceNumber, enqueuedTime, message, deliveryCount, state: 'available' };
    const at = this.entries.findIndex((e) => e.sequenceNumber > sequenceNumber);
    this.entries.splice(at === -1 ? this.entries.length : at, 0, entry);
    this.pump();
  }

  view(which: 'unsettled' | 'settled'): QueuedMessage[] {
    return (which === 'settled' ? this.settled : this.entries).map(viewOf);
  }

  attach(sender: Sender): void {
    // Receive-and-delete clients ask for settled deliveries (snd-settle-mode 1).
    const receiver = { credit: new Credit(sender), peekLock: sender.snd_settle_mode !== 1 };
    this.receivers.add(receiver);
    sender.on('sendable', () => this.pump());
    sender.on('sender_draining', () => {
      this.pump();
      sender.set_drained(true);
    });
    sender.on('sender_close', () => this.receivers.delete(receiver));
    sender.on('accepted', (c: EventContext) => this.onOutcome(c.delivery, { kind: 'complete' }));
    sender.on('released', (c: EventContext) => this.onOutcome(c.delivery, { kind: 'abandon' }));
    sender.on('modified', (c: EventContext) => {
      const state = c.delivery?.remote_state as { undeliverable_here?: boolean; message_annotations?: Record<string, unknown> } | undefined;
      this.onOutcome(c.delivery, { kind: state?.undeliverable_here ? 'defer' : 'abandon', properties: state?.message_annotations });
    });
    sender.on('rejected', (c: EventContext) => {
      const info = ((c.delivery?.remote_state as { error?: { info?: Record<string, unknown> } } | undefined)?.error?.info ?? {}) as Record<string, unknown>;
      const { DeadLetterReason, DeadLetterErrorDescription, ...properties } = info;
      this.onOutcome(c.delivery, { kind: 'deadLetter', reason: DeadLetterReason as string | undefined, description: DeadLetterErrorDescription as string | undefined, properties });
    });
  }

  dropConnection(connection: unknown): void {
    for (const r of this.receivers) if (r.credit.sender.connection === connection) this.receivers.delete(r);
  }

  /** Settles a locked message; false when the lock is unknown or expired. */
  settle(token: string, settlement: Settlement): boolean {
    const entry = this.locks.get(token);
    if (!entry) return false;
    this.unlock(entry);
    switch (settlement.kind) {
      case 'complete':
        this.complete(entry);
        break;
      case 'defer':
        Object.assign((entry.message.application_properties ??= {}), settlement.properties);
        entry.state = 'deferred';
        break;
      case 'deadLetter':
        Object.assign((entry.message.application_properties ??= {}), settlement.properties);
        this.deadLetter(entry, settlement.reason, settlement.description);
        break;
      case 'abandon':
        Object.assign((entry.message.application_properties ??= {}), settlement.properties);
        this.redeliverLater(entry);
        break;
    }
    return true;
  }

  /** Extends a lock by the lock duration; undefined when the lock is unknown or expired. */
  renew(token: string): Date | undefined {
    const entry = this.locks.get(token);
    if (!entry?.lock) return undefined;
    clearTimeout(entry.lock.timer);
    entry.lock = this.newLock(entry, token);
    return new Date(entry.lock.untilMs);
  }

  /** Messages from `fromSequenceNumber` on, encoded as peek answers them (no lock). */
  peek(fromSequenceNumber: number, count: number): Buffer[] {
    return this.entries
      .filter((e) => e.sequenceNumber >= fromSequenceNumber)
      .slice(0, count)
      .map((e) => amqpMessage.encode(annotated(e)));
  }

  close(): void {
    for (const entry of this.locks.values()) if (entry.lock) clearTimeout(entry.lock.timer);
    this.locks.clear();
  }

  private pump(): void {
    for (const receiver of this.receivers) {
      let left = receiver.credit.left();
      while (left-- > 0) {
        const entry = this.entries.find((e) => e.state === 'available');
        if (!entry) return;
        this.deliver(receiver, entry);
      }
    }
  }

  private deliver(receiver: { credit: Credit; peekLock: boolean }, entry: Entry): void {
    if (!receiver.peekLock) {
      this.complete(entry);
      receiver.credit.send(annotated(entry));
      return;
    }
    const token = generate_uuid();
    entry.state = 'locked';
    entry.lock = this.newLock(entry, token);
    this.locks.set(token, entry);
    const delivery = receiver.credit.send(annotated(entry), lockTokenTag(token));
    this.tokens.set(delivery, token);
  }

  private newLock(entry: Entry, token: string): NonNullable<Entry['lock']> {
    const timer = setTimeout(() => this.expire(token), this.lockDurationMs);
    timer.unref();
    return { token, untilMs: Date.now() + this.lockDurationMs, timer };
  }

  private expire(token: string): void {
    const entry = this.locks.get(token);
    if (!entry) return;
    this.unlock(entry);
    this.redeliverLater(entry);
  }

  private onOutcome(delivery: Delivery | undefined, settlement: Settlement): void {
    if (!delivery) return;
    const token = this.tokens.get(delivery);
    if (token === undefined) return;
    // Answer settled, echoing the outcome without an error, except for a lost lock, which the SDK must report.
    if (this.settle(token, settlement)) delivery.update(true, ECHO[settlement.kind]());
    else delivery.update(true, outcomes.rejected({ error: { condition: LOCK_LOST, description: `the lock ${token} expired or the message was settled` } }).described());
  }

  private unlock(entry: Entry): void {
    if (entry.lock) {
      clearTimeout(entry.lock.timer);
      this.locks.delete(entry.lock.token);
      entry.lock = undefined;
    }
  }

  private redeliverLater(entry: Entry): void {
    entry.deliveryCount++;
    if (entry.deliveryCount >= this.maxDeliveryCount) {
      this.deadLetter(entry, 'MaxDeliveryCountExceeded', `Message could not be consumed after ${this.maxDeliveryCount} delivery attempts.`);
      return;
    }
    entry.state = 'available';
    this.pump();
  }

  private deadLetter(entry: Entry, reason: string | undefined, description: string | undefined): void {
    if (!this.deadLetterTo) {
      // Dead-lettering from the dead-letter queue leaves the message there.
      entry.state = 'available';
      this.pump();
      return;
    }
    this.entries.splice(this.entries.indexOf(entry), 1);
    const message: Message = {
      ...entry.message,
      application_properties: { ...entry.message.application_properties, DeadLetterReason: reason, DeadLetterErrorDescription: description },
      message_annotations: { ...entry.message.message_annotations, 'x-opt-deadletter-source': this.name },
    } as Message;
    this.deadLetterTo.add(message, entry.sequenceNumber, entry.enqueuedTime, entry.deliveryCount);
  }

  private complete(entry: Entry): void {
    this.entries.splice(this.entries.indexOf(entry), 1);
    entry.state = 'settled';
    this.settled.push(entry);
  }
}

export class EmulatedQueue {
  readonly name: string;
  readonly maxMessageBytes: number;
  private readonly activeQueue: SubQueue;
  private readonly deadLetters: SubQueue;
  private nextSequenceNumber = 1;

  constructor({ name, lockDurationMs = 30_000, maxDeliveryCount = 10, maxMessageBytes = 256 * 1024 }: QueueOptions) {
    this.name = name;
    this.maxMessageBytes = maxMessageBytes;
    this.deadLetters = new SubQueue(`${name}/$DeadLetterQueue`, lockDurationMs, Number.POSITIVE_INFINITY);
    this.activeQueue = new SubQueue(name, lockDurationMs, maxDeliveryCount, this.deadLetters);
  }

  /** Messages not yet completed (available, locked or deferred), by sequence number. */
  active(): QueuedMessage[] {
    return this.activeQueue.view('unsettled');
  }

  /** Messages in `QUEUE/$DeadLetterQueue`, with their reason and description. */
  deadLettered(): QueuedMessage[] {
    return this.deadLetters.view('unsettled');
  }

  /** Messages completed (or taken by receive-and-delete) from the active queue. */
  completed(): QueuedMessage[] {
    return this.activeQueue.view('settled');
  }

  /** Stores the messages of a transfer, assigning a `message_id` where the sender gave none. */
  store(context: EventContext): void {
    for (const message of messagesOf(context)) {
      message.message_id ??= generate_uuid();
      this.activeQueue.add(message, this.nextSequenceNumber++);
    }
  }

  /** `path` after the queue name: `[]` or `['$DeadLetterQueue']`; undefined for anything else. */
  subQueue(path: string[]): SubQueue | undefined {
    if (path.length === 0) return this.activeQueue;
    if (path.length === 1 && path[0].toLowerCase() === '$deadletterqueue') return this.deadLetters;
    return undefined;
  }

  /** A `$management` request on the queue or its dead-letter queue. */
  manage(sub: SubQueue, request: Message): Reply {
    const operation = request.application_properties?.operation as string | undefined;
    const body = (request.body ?? {}) as Record<string, unknown>;
    const tokens = ((body['lock-tokens'] as unknown[] | undefined) ?? []).map(uuidText);
    switch (operation) {
      case 'com.microsoft:renew-lock': {
        const expirations = tokens.map((t) => sub.renew(t));
        if (expirations.some((e) => e === undefined)) return lockLost(tokens);
        return { status: 200, body: { expirations } };
      }
      case 'com.microsoft:update-disposition': {
        const settlement = settlementOf(body);
        if (!settlement) return { status: 400, condition: 'com.microsoft:argument-error', description: `unknown disposition-status ${String(body['disposition-status'])}` };
        return tokens.every((t) => sub.settle(t, settlement)) ? { status: 200, body: {} } : lockLost(tokens);
      }
      case 'com.microsoft:peek-message': {
        const messages = sub.peek(Number(body['from-sequence-number'] ?? 0), Number(body['message-count'] ?? 1));
        return messages.length === 0 ? { status: 204, description: 'No messages' } : { status: 200, body: { messages: messages.map((m) => ({ message: m })) } };
      }
      default:
        return { status: 501, condition: 'amqp:not-implemented', description: `the emulator does not implement ${operation}` };
    }
  }

  dropConnection(connection: unknown): void {
    this.activeQueue.dropConnection(connection);
    this.deadLetters.dropConnection(connection);
  }

  close(): void {
    this.activeQueue.close();
    this.deadLetters.close();
  }
}

function settlementOf(body: Record<string, unknown>): Settlement | undefined {
  const properties = body['properties-to-modify'] as Record<string, unknown> | undefined;
  switch (body['disposition-status']) {
    case 'completed':
      return { kind: 'complete' };
    case 'abandoned':
      return { kind: 'abandon', properties };
    case 'defered':
      return { kind: 'defer', properties };
    case 'suspended':
      return { kind: 'deadLetter', reason: body['deadletter-reason'] as string | undefined, description: body['deadletter-description'] as string | undefined, properties };
    default:
      return undefined;
  }
}

function lockLost(tokens: string[]): Reply {
  return { status: 410, condition: LOCK_LOST, description: `a lock among ${tokens.join(', ')} expired or its message was settled` };
}

function annotated(entry: Entry): Message {
  const annotations: Record<string, unknown> = {
    ...entry.message.message_annotations,
    'x-opt-sequence-number': types.wrap_long(entry.sequenceNumber),
    'x-opt-enqueued-time': entry.enqueuedTime,
  };
  if (entry.lock) annotations['x-opt-locked-until'] = new Date(entry.lock.untilMs);
  return { ...entry.message, message_annotations: annotations, delivery_count: entry.deliveryCount } as Message;
}

function viewOf(entry: Entry): QueuedMessage {
  const properties = entry.message.application_properties ?? {};
  return {
    messageId: entry.message.message_id,
    sequenceNumber: entry.sequenceNumber,
    enqueuedTime: entry.enqueuedTime,
    deliveryCount: entry.deliveryCount,
    state: entry.state,
    body: sdkBody(entry.message),
    applicationProperties: { ...properties },
    deadLetterReason: properties.DeadLetterReason,
    deadLetterErrorDescription: properties.DeadLetterErrorDescription,
  };
}
