import type { LogRecord, Row, RowTable } from '../src/core/ports';
import type { Fold, FoldContext, OpenedTables, Prepared, Projection } from '../src/core/projection';
import { CorruptLogError } from '../src/core/errors';
import { decodeRejections, isKnownRecordType } from '../src/core/logCodec';
import { undecodable } from '../src/core/quarantine';
import { positionRow } from './projectionCatalog';
import { rowTableSpec } from './projectionTables';

const tables = {
  /** The rejects ledger: partition ['rejects'], row = positionRow(position, index) of the rejected metric. */
  rejects: rowTableSpec('Rejects', { scoped: true }),
  quarantine: rowTableSpec('RejectsQuarantine', { scoped: true }),
};

export interface RejectsStats {
  /** Rejected metrics folded in this run. */
  rejected: number;
}

/**
 * The rejects ledger: one row per metric the gate rejected, from the rejections recorded with
 * every SPOC message, keyed by its log position, so rewriting after a crash changes nothing.
 */
export const rejectsProjection: Projection<typeof tables, void, RejectsStats> = {
  name: 'rejects',
  tables,
  fold: (_config, context) => new RejectsFold(context),
};

interface RejectRows extends Prepared {
  rows: Row[];
}

/** A record that does not decode goes to the quarantine ledger, and the fold goes on. */
class RejectsFold implements Fold<OpenedTables<typeof tables>, RejectsStats> {
  readonly stats: RejectsStats = { rejected: 0 };
  private ledger?: RowTable;
  private rows: Row[] = [];

  constructor(private readonly context: FoldContext) {}

  async open(opened: OpenedTables<typeof tables>): Promise<void> {
    this.ledger = opened.rejects;
  }

  prepare(record: LogRecord, { skip }: { skip?: ReadonlySet<number> }): RejectRows | undefined {
    let facts: ReturnType<typeof decodeRejections>;
    try {
      if (!isKnownRecordType(record.payload)) throw new CorruptLogError(`unknown record type ${record.payload[0]}`);
      facts = decodeRejections(record.payload);
      if (facts && !Array.isArray(facts.rejected)) throw new CorruptLogError('the record\'s rejections are not a list');
    } catch (error) {
      this.context.quarantine(undecodable('rejects', record, error));
      return undefined;
    }
    const rows: Row[] = [];
    for (const r of facts?.rejected ?? []) {
      if (skip?.has(r.index)) continue;
      rows.push({
        partition: ['rejects'],
        row: positionRow(record.position, r.index),
        fields: { index: r.index, reason: r.reason, raw: r.raw, source: facts?.source ?? null, receivedAt: new Date(facts?.receivedAtMs ?? 0).toISOString() },
      });
    }
    return rows.length === 0 ? undefined : { rows };
  }

  apply(_record: LogRecord, { rows }: RejectRows): void {
    for (const row of rows) this.rows.push(row);
    this.stats.rejected += rows.length;
  }

  pending(): boolean {
    return this.rows.length > 0;
  }

  take() {
    const rows = this.rows;
    this.rows = [];
    return { empty: rows.length === 0, write: () => this.ledger!.upsert(rows) };
  }
}
