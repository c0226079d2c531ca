import type { EventLog, Row, TableStore } from '../src/core/ports';
import { decodeRejections } from '../src/core/logCodec';
import { positionRow, rejectTables } from '../projections/projectionCatalog';
import type { Checkpoint, ProjectionVersions } from './projectionVersions';

/**
 * Folds the rejections recorded with every SPOC message into the rejects ledger: one row per
 * rejected metric, keyed by its log position, so rewriting after a crash changes nothing.
 */
export class RejectsProjector {
  rejected = 0;

  constructor(private readonly options: {
    log: EventLog; tables: TableStore; versions: ProjectionVersions; tablePrefix: string; version: number; follow: boolean; flushIntervalMs: number;
    /** Called with the resume point at the start, then once per batch with how far the fold has come. */
    onProgress?: (position: number) => void;
    /** The log partition folded ('' for the whole file log). */
    scope?: string;
    /** After each checkpoint is durable. */
    onCheckpoint?: (checkpoint: Checkpoint) => Promise<void>;
  }) {}

  async run(signal?: AbortSignal): Promise<number> {
    const { log, tables, versions, version, follow, flushIntervalMs } = this.options;
    const { scope, onCheckpoint } = this.options;
    const ledger = await tables.rowTable(rejectTables(this.options.tablePrefix, version, scope).rejects);
    const checkpoint = await versions.checkpoint('rejects', version, scope);
    let position = checkpoint?.position ?? 0;
    this.options.onProgress?.(position);
    let pending: Row[] = [];
    let lastFlush = Date.now();
    const flush = async () => {
      await ledger.upsert(pending);
      pending = [];
      const saved = { position, resumeFrom: position, maxEventTime: 0, atMs: Date.now() };
      await versions.saveCheckpoint('rejects', version, saved, scope);
      await onCheckpoint?.(saved);
      lastFlush = Date.now();
    };
    for await (const batch of log.read(position, { follow, signal })) {
      for (const record of batch) {
        const facts = decodeRejections(record.payload);
        for (const r of facts?.rejected ?? []) {
          pending.push({
            partition: ['rejects'],
            row: positionRow(record.position, r.index),
            fields: { index: r.index, reason: r.reason, raw: r.raw, source: facts?.source ?? null, receivedAt: new Date(facts?.receivedAtMs ?? 0).toISOString() },
          });
          this.rejected++;
        }
        position = record.next;
      }
      this.options.onProgress?.(position);
      if (pending.length > 0 || Date.now() - lastFlush >= flushIntervalMs) await flush();
    }
    await flush();
    return this.rejected;
  }
}
