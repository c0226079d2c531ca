import { OpsfoldError } from './errors';

/** Sequence numbers of one partition that neither the hub retains nor Capture holds: history lost. */
export interface SequenceGap {
  partitionId: string;
  /** First missing sequence number. */
  from: number;
  /** Last missing sequence number (inclusive). */
  to: number;
}

/** `partition 0: sequence numbers 100..149 (50 events)`. */
export function describeGap(gap: SequenceGap): string {
  const n = gap.to - gap.from + 1;
  return `partition ${gap.partitionId}: sequence number${n === 1 ? ` ${gap.from}` : `s ${gap.from}..${gap.to}`} (${n} event${n === 1 ? '' : 's'})`;
}

/** An inclusive range of sequence numbers one source holds; `undefined` when it holds none. */
export interface HeldRange {
  first: number;
  last: number;
}

/**
 * What is missing of a partition's history 0..`end` (inclusive) when Capture holds `captured` and
 * the hub retains `retained`: the ranges neither holds, in order. Sequence numbers of a partition
 * start at 0 and increase by one, so anything before the first one held is lost too. (Capture's
 * own inner holes, a file deleted, show only when its files are read.)
 */
export function missingRanges(partitionId: string, end: number, captured: HeldRange | undefined, retained: HeldRange | undefined): SequenceGap[] {
  const held = [captured, retained].filter((r): r is HeldRange => r !== undefined && r.last >= r.first).sort((a, b) => a.first - b.first);
  const gaps: SequenceGap[] = [];
  let next = 0;
  for (const r of held) {
    if (r.first > next) gaps.push({ partitionId, from: next, to: Math.min(r.first - 1, end) });
    next = Math.max(next, r.last + 1);
    if (next > end) break;
  }
  if (next <= end) gaps.push({ partitionId, from: next, to: end });
  return gaps.filter((g) => g.from <= g.to);
}

/**
 * Follows one partition's sequence numbers as events are read from Capture, then the hub: each
 * event is taken once (an overlap between the two is read past), and a jump is a gap.
 *
 * @example
 * const cursor = new SequenceCursor('0', 0);
 * cursor.take(0); // { take: true }
 * cursor.take(0); // { take: false }: seen already
 * cursor.take(5); // { take: true, gap: { partitionId: '0', from: 1, to: 4 } }
 */
export class SequenceCursor {
  constructor(readonly partitionId: string, public next: number) {}

  take(sequenceNumber: number): { take: boolean; gap?: SequenceGap } {
    if (sequenceNumber < this.next) return { take: false };
    const gap = sequenceNumber > this.next ? { partitionId: this.partitionId, from: this.next, to: sequenceNumber - 1 } : undefined;
    this.next = sequenceNumber + 1;
    return gap ? { take: true, gap } : { take: true };
  }
}

/**
 * A rebuild met history that neither Event Hubs Capture nor the hub holds: it stops, naming the
 * missing sequence numbers, unless told to go on past them.
 */
export class HistoryGapError extends OpsfoldError {
  constructor(readonly gaps: readonly SequenceGap[], captureConfigured: boolean) {
    super('history_gap', `the log's history has ${gaps.length === 1 ? 'a gap' : `${gaps.length} gaps`} that neither ${captureConfigured ? 'Event Hubs Capture' : 'Event Hubs Capture (not configured: CAPTURE_STORAGE_CONNECTION_STRING or CAPTURE_STORAGE_URL, CAPTURE_CONTAINER)'} nor the hub holds: ${gaps.map(describeGap).join('; ')}; `
      + 'a rebuild without them misses those events in every window (--allow-gap goes on and records the gaps)', { retriable: false });
  }
}
