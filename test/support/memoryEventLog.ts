import type { AppendResult, EventLog, LogRecord } from '../../src/core/ports';

/** An EventLog in memory: positions are record indexes; `read` never follows. */
export class MemoryEventLog implements EventLog {
  readonly records: LogRecord[] = [];

  constructor(private readonly now: () => number = () => 1_700_000_000_000) {}

  async append(payloads: readonly Buffer[]): Promise<AppendResult> {
    const first = this.records.length;
    for (const payload of payloads) {
      const position = this.records.length;
      this.records.push({ position, next: position + 1, appendedAtMs: this.now(), payload: Buffer.from(payload) });
    }
    return { first, end: this.records.length };
  }

  async *read(from: number): AsyncIterable<LogRecord[]> {
    const batch = this.records.slice(from);
    if (batch.length > 0) yield batch;
  }

  async end(): Promise<number> {
    return this.records.length;
  }

  async close(): Promise<void> {}
}
