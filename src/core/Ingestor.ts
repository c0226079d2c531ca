import type { EventLog } from './ports';
import { decodeRejections, encodeEvent } from './logCodec';
import type { IngestSource } from './events';
import type { ValidatedMessage } from './validateSpoc';

export interface IngestAnswer {
  accepted: number;
  rejected: { index: number; reason: string }[];
  duplicate?: true;
}

/** How long an idempotency key is remembered (the contract says at least 24 hours). */
export const IDEMPOTENCY_WINDOW_MS = 25 * 60 * 60 * 1000;

/**
 * Appends validated SPOC messages to the log, one record per message, valid metrics and
 * rejections together. An idempotency key is stored in the record itself, so remembering it
 * is as durable as the append: after a restart the keys are read back from the log.
 */
export class Ingestor {
  private readonly seen = new Map<string, { answer: IngestAnswer; atMs: number }>();
  private readonly inFlight = new Map<string, Promise<IngestAnswer>>();

  constructor(private readonly log: EventLog, private readonly now: () => number = Date.now) {}

  /** Reads the idempotency keys of the last 25 hours back from the log (only its recent part, where the log can tell). */
  async recover(): Promise<void> {
    const since = this.now() - IDEMPOTENCY_WINDOW_MS;
    const from = (await this.log.positionSince?.(since)) ?? 0;
    for await (const batch of this.log.read(from)) {
      for (const record of batch) {
        if (record.appendedAtMs < since) continue;
        const facts = decodeRejections(record.payload);
        if (facts?.idempotencyKey === undefined) continue;
        this.seen.set(facts.idempotencyKey, { answer: answerOf(facts.accepted, facts.rejected), atMs: record.appendedAtMs });
      }
    }
  }

  /** Resolves once the message is durable; a repeated key appends nothing and answers as before. */
  async ingest(message: ValidatedMessage, source: IngestSource, idempotencyKey?: string): Promise<IngestAnswer> {
    if (idempotencyKey === undefined) return this.append(message, source);
    const known = this.seen.get(idempotencyKey);
    if (known && known.atMs >= this.now() - IDEMPOTENCY_WINDOW_MS) return { ...known.answer, duplicate: true };
    const running = this.inFlight.get(idempotencyKey);
    if (running) return { ...(await running), duplicate: true };
    const promise = this.append(message, source, idempotencyKey);
    this.inFlight.set(idempotencyKey, promise);
    try {
      const answer = await promise;
      this.seen.set(idempotencyKey, { answer, atMs: this.now() });
      this.forgetOld();
      return answer;
    } finally {
      this.inFlight.delete(idempotencyKey);
    }
  }

  private async append(message: ValidatedMessage, source: IngestSource, idempotencyKey?: string): Promise<IngestAnswer> {
    const event = { type: 'MetricsReceived' as const, source, receivedAtMs: this.now(), metrics: message.metrics, rejected: message.rejected, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) };
    await this.log.append([encodeEvent(event)]);
    return answerOf(message.metrics.length, message.rejected);
  }

  private forgetOld(): void {
    if (this.seen.size % 1024 !== 0) return;
    const before = this.now() - IDEMPOTENCY_WINDOW_MS;
    for (const [key, entry] of this.seen) if (entry.atMs < before) this.seen.delete(key);
  }
}

function answerOf(accepted: number, rejected: readonly { index: number; reason: string }[]): IngestAnswer {
  return { accepted, rejected: rejected.map(({ index, reason }) => ({ index, reason })) };
}
