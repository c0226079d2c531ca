import { setTimeout as delay } from 'node:timers/promises';
import type { ServiceBusClient, ServiceBusReceivedMessage, ServiceBusReceiver } from '@azure/service-bus';
import { InvalidInputError } from '../../core/errors';
import type { Ingestor } from '../../core/Ingestor';
import { spocMessageFromBody } from './spocMessageFromBody';

/** Dead-letter reasons by validation error code: stable words an operator can filter the DLQ on. */
export const DEAD_LETTER_REASONS: Readonly<Record<string, string>> = {
  message_too_large: 'MessageTooLarge',
  invalid_json: 'InvalidJson',
  invalid_message: 'NotASpocMessage',
};
const MAX_DESCRIPTION_CHARS = 1024;

export interface ServiceBusIngestionOptions {
  client: ServiceBusClient;
  queue: string;
  ingestor: Pick<Ingestor, 'ingest'>;
  /** How far ahead of its arrival a metric's timestamp may be (WINDOW_MAX_FUTURE_SECONDS). */
  maxFutureSeconds: number;
  /** The clock a message's arrival is read from (epoch ms). */
  now?: () => number;
  /** Messages processed at once (the SDK's `maxConcurrentCalls`). */
  concurrency?: number;
  /** How long the SDK keeps renewing the lock of a message being processed. */
  maxLockRenewalMs?: number;
  /** Wait before abandoning a message whose append failed; doubles with each consecutive failure. */
  retryBackoffMs?: number;
  maxRetryBackoffMs?: number;
  /** Told of each failure the processor lives through. Default: a line on stderr. */
  onError?: (error: unknown, what: string) => void;
}

export interface ServiceBusIngestionStats {
  received: number;
  completed: number;
  /** Completed without an append: the messageId had been appended before (a redelivery). */
  duplicates: number;
  deadLettered: number;
  abandoned: number;
  metricsAccepted: number;
  metricsRejected: number;
  appendFailures: number;
  receiveErrors: number;
}

/**
 * Reads SPOC messages from a Service Bus queue in peek-lock mode and appends them through the
 * Ingestor, with the message's `messageId` as idempotency key (so a redelivery appends nothing):
 * - valid, or partly valid: append (rejects go into the same record), then complete;
 * - not a SPOC message at all (too large, not JSON, no `metrics` array): dead-letter with a reason
 *   from DEAD_LETTER_REASONS and the validation message as description;
 * - append failed: wait (exponential backoff across consecutive failures, the lock renewed
 *   meanwhile, no new message taken by that handler), then abandon so the message comes back.
 *
 * @example
 * const ingestion = new ServiceBusIngestion({ client, queue: 'spoc-metrics', ingestor });
 * ingestion.start();
 * // …
 * await ingestion.stop();
 */
export class ServiceBusIngestion {
  private readonly config: Required<ServiceBusIngestionOptions>;
  private readonly counters: ServiceBusIngestionStats = {
    received: 0, completed: 0, duplicates: 0, deadLettered: 0, abandoned: 0, metricsAccepted: 0, metricsRejected: 0, appendFailures: 0, receiveErrors: 0,
  };
  private readonly stopping = new AbortController();
  private readonly handling = new Set<Promise<void>>();
  private receiver?: ServiceBusReceiver;
  private subscription?: { close(): Promise<void> };
  private consecutiveFailures = 0;

  constructor({
    client,
    queue,
    ingestor,
    maxFutureSeconds,
    now = Date.now,
    concurrency = 4,
    maxLockRenewalMs = 5 * 60_000, // 5 minutes
    retryBackoffMs = 1000,
    maxRetryBackoffMs = 60_000,
    onError = reportOnStderr,
  }: ServiceBusIngestionOptions) {
    requirePositiveInteger('concurrency', concurrency);
    requirePositiveInteger('maxLockRenewalMs', maxLockRenewalMs);
    requirePositiveInteger('retryBackoffMs', retryBackoffMs);
    if (maxRetryBackoffMs < retryBackoffMs) {
      throw new InvalidInputError(`maxRetryBackoffMs (${maxRetryBackoffMs}) must not be below retryBackoffMs (${retryBackoffMs})`, { parameter: 'maxRetryBackoffMs' });
    }
    this.config = { client, queue, ingestor, maxFutureSeconds, now, concurrency, maxLockRenewalMs, retryBackoffMs, maxRetryBackoffMs, onError };
  }

  get stats(): Readonly<ServiceBusIngestionStats> {
    return { ...this.counters };
  }

  /** Subscribes to the queue. The SDK reconnects by itself, with backoff, after an outage. */
  start(): void {
    if (this.receiver) throw new Error('ServiceBusIngestion was already started');
    // The raw body is kept so that its size is measured and its JSON parsed by our validation.
    const receiver = this.config.client.createReceiver(this.config.queue, { receiveMode: 'peekLock', maxAutoLockRenewalDurationInMs: this.config.maxLockRenewalMs, skipParsingBodyAsJson: true });
    this.receiver = receiver;
    this.subscription = receiver.subscribe(
      {
        processMessage: (message) => this.track(this.handle(receiver, message)),
        processError: async ({ error, errorSource }) => {
          this.counters.receiveErrors++;
          if (!this.stopping.signal.aborted) this.config.onError(error, `receiving from ${this.config.queue} (${errorSource})`);
        },
      },
      { autoCompleteMessages: false, maxConcurrentCalls: this.config.concurrency },
    );
  }

  /** Lets messages in hand finish (waits are cut short: those are abandoned), then closes the receiver. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled([...this.handling]);
    await this.subscription?.close();
    await this.receiver?.close();
  }

  private async track(work: Promise<void>): Promise<void> {
    this.handling.add(work);
    try {
      await work;
    } finally {
      this.handling.delete(work);
    }
  }

  private async handle(receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage): Promise<void> {
    this.counters.received++;
    if (this.stopping.signal.aborted) return this.abandon(receiver, message);
    let validated;
    try {
      validated = spocMessageFromBody(message.body, { arrivalMs: this.config.now(), maxFutureSeconds: this.config.maxFutureSeconds });
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
      return this.deadLetter(receiver, message, error);
    }
    try {
      const answer = await this.config.ingestor.ingest(validated, 'servicebus', idempotencyKeyOf(message));
      this.consecutiveFailures = 0;
      if (answer.duplicate) this.counters.duplicates++;
      else {
        this.counters.metricsAccepted += answer.accepted;
        this.counters.metricsRejected += answer.rejected.length;
      }
    } catch (error) {
      this.counters.appendFailures++;
      const waitMs = Math.min(this.config.maxRetryBackoffMs, this.config.retryBackoffMs * 2 ** this.consecutiveFailures++);
      this.config.onError(error, `appending message ${describe(message)} failed; abandoning it in ${waitMs} ms so that it comes back`);
      await delay(waitMs, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      return this.abandon(receiver, message);
    }
    if (await this.settle('completing', message, () => receiver.completeMessage(message))) this.counters.completed++;
  }

  private async deadLetter(receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage, error: InvalidInputError): Promise<void> {
    const deadLetterReason = DEAD_LETTER_REASONS[error.code] ?? 'NotASpocMessage';
    const deadLetterErrorDescription = error.message.slice(0, MAX_DESCRIPTION_CHARS);
    if (await this.settle('dead-lettering', message, () => receiver.deadLetterMessage(message, { deadLetterReason, deadLetterErrorDescription }))) {
      this.counters.deadLettered++;
    }
  }

  private async abandon(receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage): Promise<void> {
    if (await this.settle('abandoning', message, () => receiver.abandonMessage(message))) this.counters.abandoned++;
  }

  /** A failed settlement (a lost lock, a dropped link) is reported: the message comes back, and a duplicate is recognised then. */
  private async settle(what: string, message: ServiceBusReceivedMessage, operation: () => Promise<void>): Promise<boolean> {
    try {
      await operation();
      return true;
    } catch (error) {
      this.config.onError(error, `${what} message ${describe(message)} failed; it will be delivered again`);
      return false;
    }
  }
}

/** The messageId as the Ingestor's idempotency key; shared with HTTP Idempotency-Key values. */
function idempotencyKeyOf(message: ServiceBusReceivedMessage): string | undefined {
  const id = message.messageId;
  if (id === undefined || id === null) return undefined;
  return Buffer.isBuffer(id) ? id.toString('hex') : String(id);
}

function describe(message: ServiceBusReceivedMessage): string {
  return `${String(message.messageId)} (sequence number ${message.sequenceNumber?.toString() ?? '?'}, delivery ${(message.deliveryCount ?? 0) + 1})`;
}

/** The default `onError`: one line on stderr. */
export function reportOnStderr(error: unknown, what: string): void {
  process.stderr.write(`opsfold: service bus: ${what}: ${(error as Error)?.message ?? String(error)}\n`);
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidInputError(`${name} must be a positive integer, got ${value}`, { parameter: name });
}
