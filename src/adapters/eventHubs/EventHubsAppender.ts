import type { EventHubProducerClient } from '@azure/event-hubs';
import { InvalidInputError, StorageError } from '../../core/errors';
import type { AppendOptions, AppendResult, EventAppender } from '../../core/ports';

/**
 * Appends to an Event Hub: each payload is one event's body, sent with its partition key
 * (tenant, or team) so that one key's events stay in order in one partition. Payloads of one
 * key go in one batch (atomic); an append of several keys sends a batch per key. Positions
 * are the hub's business (sequence numbers per partition), so the result carries none.
 */
export class EventHubsAppender implements EventAppender {
  constructor(private readonly producer: EventHubProducerClient) {}

  async append(payloads: readonly Buffer[], options: AppendOptions = {}): Promise<AppendResult> {
    const groups = new Map<string | undefined, Buffer[]>();
    payloads.forEach((payload, i) => {
      const key = options.partitionKeys?.[i];
      groups.set(key, [...(groups.get(key) ?? []), payload]);
    });
    for (const [partitionKey, bodies] of groups) {
      try {
        let batch = await this.producer.createBatch(partitionKey === undefined ? {} : { partitionKey });
        for (const body of bodies) {
          if (batch.tryAdd({ body })) continue;
          if (batch.count === 0) throw new InvalidInputError(`an event of ${body.length} bytes is larger than an Event Hubs batch allows`);
          await this.producer.sendBatch(batch);
          batch = await this.producer.createBatch(partitionKey === undefined ? {} : { partitionKey });
          if (!batch.tryAdd({ body })) throw new InvalidInputError(`an event of ${body.length} bytes is larger than an Event Hubs batch allows`);
        }
        await this.producer.sendBatch(batch);
      } catch (error) {
        if (error instanceof InvalidInputError) throw error;
        const retriable = (error as { retryable?: boolean }).retryable !== false;
        throw new StorageError(`Event Hubs: could not append to ${this.producer.eventHubName}: ${(error as Error).message}`, { retriable, cause: error });
      }
    }
    return { first: -1, end: -1 };
  }

  close(): Promise<void> {
    return this.producer.close();
  }
}
