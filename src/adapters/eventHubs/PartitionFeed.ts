import type { ReceivedEventData } from '@azure/event-hubs';
import type { EventLog, LogRecord } from '../../core/ports';

/**
 * One Event Hubs partition seen as a log by one projector: the processor pushes each batch the
 * SDK hands it, and `push` resolves once the projector has taken it (so a slow projector slows
 * the receive instead of growing memory). Positions are sequence numbers: a record at `n` has
 * `next = n + 1`; events before the projector's own `from` are skipped (the hub's checkpoint may
 * lie a little behind the projection's). Offsets are kept until checkpointed, to move the
 * hub's checkpoint to a sequence number later. The records taken are kept until the projector's
 * checkpoint passes them (`forgetBefore`), so that a projector restarted after a failure reads
 * them again from its checkpoint, as it would from the file log.
 */
export class PartitionFeed implements EventLog {
  private readonly waiting: { records: LogRecord[]; taken: () => void }[] = [];
  /** Records taken by the reader and not yet forgotten, positions increasing. */
  private retained: LogRecord[] = [];
  private wake?: () => void;
  private ended = false;
  private last = -1;

  constructor(readonly partitionId: string) {}

  /** Hands a batch from the SDK to the projector; resolves when it was taken (or the feed ended). */
  push(events: readonly ReceivedEventData[]): Promise<void> {
    if (this.ended || events.length === 0) return Promise.resolve();
    const records = events.map((e): LogRecord => {
      this.last = Math.max(this.last, e.sequenceNumber);
      const body = e.body as unknown;
      const payload = Buffer.isBuffer(body) ? body : body instanceof Uint8Array ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
      return { position: e.sequenceNumber, next: e.sequenceNumber + 1, appendedAtMs: e.enqueuedTimeUtc.getTime(), payload };
    });
    return new Promise((resolve) => {
      this.waiting.push({ records, taken: resolve });
      this.wake?.();
    });
  }

  /** Forgets the records before `position`: the projector's checkpoint resumes from there. */
  forgetBefore(position: number): void {
    const keep = this.retained.findIndex((r) => r.position >= position);
    this.retained = keep < 0 ? [] : this.retained.slice(keep);
  }

  /** Just after the newest event pushed so far. */
  end(): Promise<number> {
    return Promise.resolve(this.last + 1);
  }

  /** Ends every reader (the partition was lost or the processor stops); pending pushes resolve. */
  close(): Promise<void> {
    this.ended = true;
    for (const w of this.waiting.splice(0)) w.taken();
    this.wake?.();
    return Promise.resolve();
  }

  async append(): Promise<never> {
    throw new Error('an Event Hubs partition feed is read-only: append through the producer');
  }

  read(from: number, options: { follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<LogRecord[]> {
    const feed = this;
    return {
      async *[Symbol.asyncIterator]() {
        const onAbort = () => feed.wake?.();
        options.signal?.addEventListener('abort', onAbort);
        try {
          // A reader restarted from its checkpoint first gets again what it had taken since.
          const again = feed.retained.filter((r) => r.position >= from);
          if (again.length > 0 && !options.signal?.aborted) yield again;
          while (!feed.ended && !options.signal?.aborted) {
            const next = feed.waiting.shift();
            if (!next) {
              // Until the feed is closed more may come, whether the reader follows a tail or rebuilds up to an end it was told.
              await new Promise<void>((resolve) => (feed.wake = resolve));
              feed.wake = undefined;
              continue;
            }
            const records = next.records.filter((r) => r.position >= from);
            feed.retained.push(...records);
            try {
              if (records.length > 0) yield records;
            } finally {
              next.taken();
            }
          }
        } finally {
          options.signal?.removeEventListener('abort', onAbort);
        }
      },
    };
  }
}
