import type { EventLog } from './ports';
import { decodeBacklog } from './backlogCodec';

/** Team → instant (epoch ms) → count: the first sample of each identity in the log. */
export type SampleIndex = Map<string, Map<number, number>>;

/**
 * Every backlog sample in the log (of one team, when given), keyed by identity. Only the first
 * byte of other records is looked at, so this stays cheap beside a large metrics log.
 */
export async function readBacklogSamples(log: EventLog, options: { team?: string; onProgress?: (position: number) => void } = {}): Promise<SampleIndex> {
  const index: SampleIndex = new Map();
  for await (const batch of log.read(0)) {
    for (const record of batch) {
      const event = decodeBacklog(record.payload);
      if (event === undefined) continue;
      for (const s of event.samples) {
        if (options.team !== undefined && s.team !== options.team) continue;
        let samples = index.get(s.team);
        if (!samples) index.set(s.team, (samples = new Map()));
        if (!samples.has(s.sampledAtMs)) samples.set(s.sampledAtMs, s.count);
      }
    }
    if (batch.length > 0) options.onProgress?.(batch[batch.length - 1].next);
  }
  return index;
}
