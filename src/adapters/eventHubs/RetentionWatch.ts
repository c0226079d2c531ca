import type { EventHubConsumerClient } from '@azure/event-hubs';
import type { CaptureArchive } from '../capture/CaptureArchive';
import { describeRetention, type PartitionRetention } from './describeRetention';

/**
 * What each partition's history is kept in (the hub's retention, Capture's files), looked up now
 * and every `intervalMs` for /healthz, which is polled too often to ask the hub and list Capture's
 * files each time. `latest` is null until the first answer.
 */
export class RetentionWatch {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  latest: { partitions: PartitionRetention[]; at: string } | null = null;

  constructor(private readonly consumer: EventHubConsumerClient, private readonly capture: CaptureArchive | undefined, private readonly options: { intervalMs?: number; onError?: (error: Error) => void } = {}) {}

  start(): void {
    const look = () => {
      this.running ??= describeRetention(this.consumer, this.capture)
        .then((partitions) => { this.latest = { partitions, at: new Date().toISOString() }; })
        .catch((error: unknown) => this.options.onError?.(error as Error))
        .finally(() => (this.running = undefined));
    };
    look();
    this.timer = setInterval(look, this.options.intervalMs ?? 60_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    await this.consumer.close();
  }
}
