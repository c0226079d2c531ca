import type { EventAppender, IdempotencyLedger } from './ports';
import type { Metric } from './metric';
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
 * Appends validated SPOC messages to the log: one record per tenant in the message (nearly
 * always one), with the tenant as partition key, valid metrics and rejections together (the
 * rejections with the first). An idempotency key is stored in the records themselves, so on
 * the file log remembering it is as durable as the append: after a restart the keys are read
 * back from the log. Where the log cannot be read back (Event Hubs), a ledger remembers them.
 */
export class Ingestor {
  private readonly seen = new Map<string, { answer: IngestAnswer; atMs: number }>();
  private readonly inFlight = new Map<string, Promise<IngestAnswer>>();

  constructor(
    private readonly log: EventAppender,
    private readonly now: () => number = Date.now,
    private readonly ledger?: IdempotencyLedger,
  ) {}

  /** Reads the idempotency keys of the last 25 hours back from the log (only its recent part, where the log can tell). */
  async recover(): Promise<void> {
    if (!this.log.read) return;
    const since = this.now() - IDEMPOTENCY_WINDOW_MS;
    const from = (await this.log.positionSince?.(since)) ?? 0;
    for await (const batch of this.log.read(from)) {
      for (const record of batch) {
        if (record.appendedAtMs < since) continue;
        const facts = decodeRejections(record.payload);
        if (facts?.idempotencyKey === undefined) continue;
        // A message of several tenants is one record per tenant, appended together: add them up.
        const part = this.seen.get(facts.idempotencyKey);
        const answer = answerOf(facts.accepted, facts.rejected);
        if (part && part.atMs === record.appendedAtMs) {
          answer.accepted += part.answer.accepted;
          answer.rejected.unshift(...part.answer.rejected);
        }
        this.seen.set(facts.idempotencyKey, { answer, atMs: record.appendedAtMs });
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
    const promise = this.appendOnce(message, source, idempotencyKey);
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

  /** Consults the ledger (if any) before appending, and records the key in it after. */
  private async appendOnce(message: ValidatedMessage, source: IngestSource, idempotencyKey: string): Promise<IngestAnswer> {
    const known = await this.ledger?.get(idempotencyKey);
    if (known && known.atMs >= this.now() - IDEMPOTENCY_WINDOW_MS) return { ...answerOf(known.accepted, known.rejected), duplicate: true };
    const answer = await this.append(message, source, idempotencyKey);
    await this.ledger?.put(idempotencyKey, answer, this.now());
    return answer;
  }

  private async append(message: ValidatedMessage, source: IngestSource, idempotencyKey?: string): Promise<IngestAnswer> {
    const receivedAtMs = this.now();
    const groups = byTenant(message.metrics);
    if (groups.size === 0) groups.set('', []); // only rejections: still one record, for the ledger
    const payloads: Buffer[] = [];
    for (const metrics of groups.values()) {
      payloads.push(encodeEvent({
        type: 'MetricsReceived' as const, source, receivedAtMs, metrics, rejected: payloads.length === 0 ? message.rejected : [],
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        ...(message.gate === undefined ? {} : { gate: message.gate }),
      }));
    }
    await this.log.append(payloads, { partitionKeys: [...groups.keys()].map((tenant) => tenant || undefined) });
    return answerOf(message.metrics.length, message.rejected);
  }

  private forgetOld(): void {
    if (this.seen.size % 1024 !== 0) return;
    const before = this.now() - IDEMPOTENCY_WINDOW_MS;
    for (const [key, entry] of this.seen) if (entry.atMs < before) this.seen.delete(key);
  }
}

function byTenant(metrics: readonly Metric[]): Map<string, Metric[]> {
  const groups = new Map<string, Metric[]>();
  for (const m of metrics) {
    const group = groups.get(m.tenant);
    if (group) group.push(m);
    else groups.set(m.tenant, [m]);
  }
  return groups;
}

function answerOf(accepted: number, rejected: readonly { index: number; reason: string }[]): IngestAnswer {
  return { accepted, rejected: rejected.map(({ index, reason }) => ({ index, reason })) };
}
