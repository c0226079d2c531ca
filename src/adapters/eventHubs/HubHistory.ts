import type { ReceivedEventData } from '@azure/event-hubs';
import type { CaptureArchive } from '../capture/CaptureArchive';
import { receivedEventOf } from '../capture/receivedEventOf';
import { describeGap, SequenceCursor, type SequenceGap } from '../../core/sequenceGaps';

/** A gap a live instance went past, and when (epoch ms). */
export interface RecordedGap extends SequenceGap {
  atMs: number;
}

/** How many gaps /healthz lists (the newest); the counter keeps counting them all. */
const KEPT_GAPS = 100;

/**
 * What a live instance does when the hub hands a partition's events from further on than its
 * checkpoint: the events between left the hub with its retention (the instance was down longer,
 * or the consumer group is new on an old hub). With Event Hubs Capture they are read from its
 * files, in order, before the hub's; what Capture lacks too is a gap, recorded (the log line,
 * `gaps` for /healthz, `skipped` for the counter) and gone past: a live instance cannot wait for
 * history that nobody holds.
 */
export class HubHistory {
  private readonly recorded: RecordedGap[] = [];
  private readonly skippedBy = new Map<string, number>();
  /** Events read from Capture since the start. */
  captured = 0;

  constructor(private readonly options: { capture?: CaptureArchive; onNote?: (line: string) => void; now?: () => number } = {}) {}

  /** Whether Capture is read. */
  get captureConfigured(): boolean {
    return this.options.capture !== undefined;
  }

  /** The newest gaps gone past, oldest first. */
  get gaps(): readonly RecordedGap[] {
    return this.recorded;
  }

  /** Events gone past in gaps, per partition. */
  get skipped(): Record<string, number> {
    return Object.fromEntries([...this.skippedBy].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Events `from`..`to` (inclusive) of the partition, from Capture, in order and in batches; whatever it lacks is recorded as a gap. */
  async *fill(partitionId: string, from: number, to: number): AsyncGenerator<ReceivedEventData[]> {
    const { capture, onNote } = this.options;
    const cursor = new SequenceCursor(partitionId, from);
    let read = 0;
    if (capture) {
      for await (const batch of capture.events(partitionId, from)) {
        const kept: ReceivedEventData[] = [];
        for (const e of batch) {
          if (e.sequenceNumber > to) break;
          const step = cursor.take(e.sequenceNumber);
          if (step.gap) this.record(step.gap);
          if (step.take) kept.push(receivedEventOf(e));
        }
        if (kept.length > 0) {
          read += kept.length;
          this.captured += kept.length;
          yield kept;
        }
        if (cursor.next > to) break;
      }
      onNote?.(`partition ${partitionId}: the hub no longer retains sequence numbers ${from}..${to}: ${read} read from Event Hubs Capture (${capture.where(partitionId)})`);
    }
    if (cursor.next <= to) this.record({ partitionId, from: cursor.next, to });
  }

  private record(gap: SequenceGap): void {
    this.recorded.push({ ...gap, atMs: (this.options.now ?? Date.now)() });
    if (this.recorded.length > KEPT_GAPS) this.recorded.shift();
    this.skippedBy.set(gap.partitionId, (this.skippedBy.get(gap.partitionId) ?? 0) + gap.to - gap.from + 1);
    this.options.onNote?.(`GAP in the log: ${describeGap(gap)} left the hub with its retention and are ${this.options.capture ? 'not in Event Hubs Capture either' : 'not read from anywhere (Event Hubs Capture is not configured)'}; the projections go on without them`);
  }
}
