import type { EventHubProducerClient } from '@azure/event-hubs';
import type { Observable, Subscription } from 'rxjs';
import type { WindowEvent } from '../../core/windowMath';

export interface PublisherStats {
  published: number;
  /** Dropped because the hub stayed unreachable while the buffer was full. */
  dropped: number;
  failures: number;
}

/**
 * Publishes every window revision to an Event Hub for other services, as JSON, one event per
 * revision (`final: false`), and each final notice as an event of its own (`final: true`: the
 * window's last values, no revision follows), with the counter key as partition key (so one key's
 * events stay in order).
 * Sends in batches; while the hub is unreachable it retries with backoff and keeps up to
 * `maxBuffered` events, dropping the oldest beyond that (counted, and logged once per outage).
 */
export class WindowEventPublisher {
  readonly stats: PublisherStats = { published: 0, dropped: 0, failures: 0 };
  private buffer: WindowEvent[] = [];
  private subscription?: Subscription;
  private sending?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly producer: EventHubProducerClient,
    private readonly options: { maxBuffered?: number; onError?: (error: Error) => void } = {},
  ) {}

  start(windows$: Observable<WindowEvent>): void {
    this.subscription = windows$.subscribe({
      next: (w) => {
        this.buffer.push(w);
        const max = this.options.maxBuffered ?? 100_000;
        if (this.buffer.length > max) this.stats.dropped += this.buffer.splice(0, this.buffer.length - max).length;
        this.sending ??= this.drain().finally(() => (this.sending = undefined));
      },
      error: (error: unknown) => this.options.onError?.(error instanceof Error ? error : new Error(String(error))),
    });
  }

  /** Stops taking events and sends what is buffered (one try). */
  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    this.stopped = true;
    await this.sending;
    if (this.buffer.length > 0) await this.sendSome().catch((error: unknown) => this.options.onError?.(error as Error));
    await this.producer.close();
  }

  private async drain(): Promise<void> {
    let delayMs = 200;
    while (this.buffer.length > 0 && !this.stopped) {
      try {
        await this.sendSome();
        delayMs = 200;
      } catch (error) {
        this.stats.failures++;
        if (this.stats.failures === 1 || delayMs >= 30_000) this.options.onError?.(error as Error);
        await new Promise((r) => setTimeout(r, delayMs));
        delayMs = Math.min(delayMs * 2, 30_000);
      }
    }
  }

  /** Sends the buffered events of the first key in the buffer (one batch per partition key). */
  private async sendSome(): Promise<void> {
    const key = this.buffer[0].key;
    const batch = await this.producer.createBatch({ partitionKey: key });
    const taken: WindowEvent[] = [];
    for (const w of this.buffer) {
      if (w.key !== key) continue;
      if (!batch.tryAdd({ body: { ...w, final: w.final === true }, contentType: 'application/json' })) break;
      taken.push(w);
    }
    await this.producer.sendBatch(batch);
    const sent = new Set(taken);
    this.buffer = this.buffer.filter((w) => !sent.has(w));
    this.stats.published += taken.length;
  }
}
