import type { TableStore } from './core/ports';
import type { AnyProjection } from '../projections/builtInProjections';
import { openTable } from '../projections/projectionTables';
import { listedEntry, QUARANTINE_PARTITION, type ListedQuarantineEntry } from '../projections/quarantineRows';

/** The ledger of one projection version: its scopes ('' with the file log, `P<id>` per Event Hubs partition). */
export interface QuarantineLedgerRef {
  /** The definition, whose `quarantine` table the ledger is. */
  projection: AnyProjection;
  version: number;
  scopes: readonly string[];
}

/** An entry as listed; on Event Hubs with the partition whose log position it names. */
export type QuarantineListing = ListedQuarantineEntry & { partition?: string };

/**
 * The quarantine ledgers' entries, projection by projection (in the order given), each by log
 * position, at most `limit`: what `opsfold quarantine` and `GET /v1/quarantine` list. Scopes are
 * read one by one, not merged: two Event Hubs partitions may quarantine records at the same position.
 */
export async function readQuarantine(store: TableStore, prefix: string, ledgers: readonly QuarantineLedgerRef[], limit: number): Promise<QuarantineListing[]> {
  const out: QuarantineListing[] = [];
  for (const { projection, version, scopes } of ledgers) {
    for (const scope of scopes) {
      if (out.length >= limit) return out;
      const table = await openTable(store, projection.tables.quarantine, { prefix, version, scope });
      for (const row of await table.list({ partition: QUARANTINE_PARTITION, limit: limit - out.length })) {
        out.push(scope === '' ? listedEntry(row) : { ...listedEntry(row), partition: scope.slice(1) });
      }
    }
  }
  return out;
}
