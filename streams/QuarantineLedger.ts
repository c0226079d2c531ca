import type { Row, RowTable } from '../src/core/ports';
import type { QuarantineEntry, QuarantineSink } from '../src/core/quarantine';
import { QUARANTINE_PARTITION, quarantineRow, quarantineRowFrom, quarantineRowKey } from '../projections/quarantineRows';

/** What the ledger holds of one log record: the whole record, or some of its metrics (by index). */
export type QuarantinedPart = 'record' | ReadonlySet<number>;

export interface QuarantineLedgerOptions {
  /** Where the projector re-reads the log from: entries from there on are loaded, so it passes over them again. */
  from: number;
  /** The position of the checkpoint it resumes from (0 without one) and the entries that checkpoint counted. */
  counted: { before: number; entries: number };
  now?: () => number;
}

/**
 * One projector's quarantine ledger (a table per projection version and scope): what it could
 * not apply, keyed by log position and metric index. Entries are taken at once and written by
 * `write`, which the projector awaits before each checkpoint, so no checkpoint passes a record
 * whose entry is not durable; an entry taken again after a restart lands on the same row and is
 * counted once. The entries at or after the re-read start are loaded, so the projector passes
 * over those records (or metrics) again rather than failing on them again.
 */
export class QuarantineLedger {
  private readonly parts = new Map<number, 'record' | Set<number>>();
  /** Row keys of the entries loaded or taken, and whether this run has counted them yet. */
  private readonly known = new Map<string, { position: number; counted: boolean }>();
  private unwritten: Row[] = [];
  private counted: number;

  private constructor(private readonly table: RowTable, private readonly options: QuarantineLedgerOptions) {
    this.counted = options.counted.entries;
  }

  static async open(table: RowTable, options: QuarantineLedgerOptions): Promise<QuarantineLedger> {
    const ledger = new QuarantineLedger(table, options);
    for (const row of await table.list({ partition: QUARANTINE_PARTITION, fromRow: quarantineRowFrom(options.from) })) {
      const position = Number(row.fields.position);
      const index = typeof row.fields.index === 'number' ? row.fields.index : undefined;
      ledger.remember(position, index);
    }
    return ledger;
  }

  /** Entries for the records read so far (each counted when its record is read): what a checkpoint after them stores. */
  get count(): number {
    return this.counted;
  }

  /** Entries taken and not written yet: a projector that writes only when it has something to write has this. */
  get pending(): number {
    return this.unwritten.length;
  }

  /** The sink the fold hands refused records and metrics to. */
  readonly sink: QuarantineSink = (entry) => this.take(entry);

  /**
   * What the ledger holds of the record at `position` (undefined: nothing, fold it all). The
   * projector asks once per record it reads, in order; that is when an entry is counted.
   */
  partOf(position: number): QuarantinedPart | undefined {
    const part = this.parts.get(position);
    if (part === undefined) return undefined;
    for (const key of part === 'record' ? [quarantineRowKey(position)] : [...part].map((i) => quarantineRowKey(position, i))) this.count1(key);
    return part;
  }

  /**
   * Takes an entry; it is written with the next `write`. A new one is counted (no checkpoint can
   * have counted an entry that was not in the ledger); one the ledger holds already changes nothing.
   */
  take(entry: QuarantineEntry): void {
    const key = quarantineRowKey(entry.position, entry.index);
    if (this.known.has(key)) {
      this.count1(key);
      return;
    }
    this.remember(entry.position, entry.index).counted = true;
    this.counted++;
    this.unwritten.push(quarantineRow(entry, (this.options.now ?? Date.now)()));
  }

  /** Makes the entries taken so far durable. */
  async write(): Promise<void> {
    if (this.unwritten.length === 0) return;
    const rows = this.unwritten;
    this.unwritten = [];
    try {
      await this.table.upsert(rows);
    } catch (error) {
      this.unwritten = rows.concat(this.unwritten);
      throw error;
    }
  }

  private remember(position: number, index: number | undefined): { position: number; counted: boolean } {
    const known = { position, counted: false };
    this.known.set(quarantineRowKey(position, index), known);
    const part = this.parts.get(position);
    if (index === undefined) this.parts.set(position, 'record');
    else if (part === undefined) this.parts.set(position, new Set([index]));
    else if (part !== 'record') part.add(index);
    return known;
  }

  /** Counts an entry of the ledger once, unless the checkpoint this run resumed from counted it already. */
  private count1(key: string): void {
    const entry = this.known.get(key);
    if (!entry || entry.counted) return;
    entry.counted = true;
    if (entry.position >= this.options.counted.before) this.counted++;
  }
}
