import type { EventLog, LogRecord, Row, TableStore } from '../src/core/ports';
import { CorruptLogError } from '../src/core/errors';
import { decodeRejections, isKnownRecordType } from '../src/core/logCodec';
import type { QuarantineSink } from '../src/core/quarantine';
import { positionRow, rejectTables } from '../projections/projectionCatalog';
import type { Checkpoint, ProjectionVersions } from './projectionVersions';
import { isCareful, type Careful } from './ProjectorRestarts';
import { QuarantineLedger, type QuarantinedPart } from './QuarantineLedger';
import { setAside, undecodable } from './setAside';

export interface RejectsProjectorOptions {
  log: EventLog;
  tables: TableStore;
  versions: ProjectionVersions;
  tablePrefix: string;
  version: number;
  follow: boolean;
  flushIntervalMs: number;
  /** Called with the resume point at the start, then once per batch with how far the fold has come. */
  onProgress?: (position: number) => void;
  /** The log partition folded ('' for the whole file log). */
  scope?: string;
  /** After each checkpoint is durable. */
  onCheckpoint?: (checkpoint: Checkpoint) => Promise<void>;
  /** A restart after a failure: write after each record up to `careful.through` (see ProjectorRestarts). */
  careful?: Careful;
  /** Also told of every entry this projector quarantines (its own ledger keeps them). */
  quarantine?: QuarantineSink;
}

/**
 * Folds the rejections recorded with every SPOC message into the rejects ledger: one row per
 * rejected metric, keyed by its log position, so rewriting after a crash changes nothing. A
 * record that does not decode goes to the quarantine ledger, and the fold goes on.
 */
export class RejectsProjector {
  rejected = 0;
  /** Just after the last record read. */
  readThrough = 0;
  private ledger?: QuarantineLedger;

  constructor(private readonly options: RejectsProjectorOptions) {}

  /** Entries in this version's quarantine ledger (of this scope), as of the records read. */
  get quarantined(): number {
    return this.ledger?.count ?? 0;
  }

  async run(signal?: AbortSignal): Promise<number> {
    const { log, tables, versions, version, follow, flushIntervalMs, careful } = this.options;
    const { scope, onCheckpoint } = this.options;
    const names = rejectTables(this.options.tablePrefix, version, scope);
    const [ledger, quarantineTable] = await Promise.all([tables.rowTable(names.rejects), tables.rowTable(names.quarantine)]);
    const checkpoint = await versions.checkpoint('rejects', version, scope);
    let position = checkpoint?.position ?? 0;
    const quarantine = await QuarantineLedger.open(quarantineTable, { from: position, counted: { before: position, entries: checkpoint?.quarantined ?? 0 } });
    this.ledger = quarantine;
    this.readThrough = position;
    this.options.onProgress?.(position);
    let pending: Row[] = [];
    let lastFlush = Date.now();
    const flush = async () => {
      await ledger.upsert(pending);
      pending = [];
      await quarantine.write();
      const saved: Checkpoint = { position, resumeFrom: position, maxEventTime: 0, atMs: Date.now(), quarantined: quarantine.count };
      await versions.saveCheckpoint('rejects', version, saved, scope);
      await onCheckpoint?.(saved);
      lastFlush = Date.now();
    };
    for await (const batch of log.read(position, { follow, signal })) {
      for (const record of batch) {
        this.readThrough = record.next;
        pending.push(...this.rowsOf(record, quarantine.partOf(record.position), quarantine));
        position = record.next;
        if (isCareful(careful, record.position) && careful.eachRecord) {
          try {
            await flush();
          } catch (error) {
            throw await setAside(error, record, { projection: 'rejects', ledger: quarantine, allowed: careful.quarantine });
          }
        }
      }
      this.options.onProgress?.(position);
      if (pending.length > 0 || quarantine.pending > 0 || Date.now() - lastFlush >= flushIntervalMs) await flush();
    }
    await flush();
    return this.rejected;
  }

  /** The ledger rows of one record's rejections; none when the quarantine holds it, and it goes there when it does not decode. */
  private rowsOf(record: LogRecord, part: QuarantinedPart | undefined, quarantine: QuarantineLedger): Row[] {
    if (part === 'record') return [];
    let facts: ReturnType<typeof decodeRejections>;
    try {
      if (!isKnownRecordType(record.payload)) throw new CorruptLogError(`unknown record type ${record.payload[0]}`);
      facts = decodeRejections(record.payload);
      if (facts && !Array.isArray(facts.rejected)) throw new CorruptLogError('the record\'s rejections are not a list');
    } catch (error) {
      this.quarantine(quarantine, undecodable('rejects', record, error));
      return [];
    }
    const rows: Row[] = [];
    for (const r of facts?.rejected ?? []) {
      if (part?.has(r.index)) continue;
      rows.push({
        partition: ['rejects'],
        row: positionRow(record.position, r.index),
        fields: { index: r.index, reason: r.reason, raw: r.raw, source: facts?.source ?? null, receivedAt: new Date(facts?.receivedAtMs ?? 0).toISOString() },
      });
      this.rejected++;
    }
    return rows;
  }

  private quarantine(ledger: QuarantineLedger, entry: Parameters<QuarantineSink>[0]): void {
    ledger.take(entry);
    this.options.quarantine?.(entry);
  }
}
