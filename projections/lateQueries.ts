import type { RowTable } from '../src/core/ports';
import type { LateMetric } from '../src/core/windowMath';
import { decodeLatePage } from './lateLedger';
import { positionRow } from './projectionCatalog';

/** Which late metrics to list: the first `limit` in log order, of one key and/or one tenant when given. */
export interface LateQuery {
  limit: number;
  key?: string;
  tenant?: string;
}

/** A listed late metric; `partition` names the Event Hubs partition whose log `position` refers to (absent on the file log). */
export type LateEntry = Pick<LateMetric, 'key' | 'tenant' | 'vm' | 't' | 'value' | 'watermark' | 'position' | 'index'> & { partition?: string };

/** The ledger of one scope ('' for the file log, `P<id>` for an Event Hubs partition; see scopeOfPartition), as openEachScope opens it. */
export interface ScopedLedger {
  scope: string;
  table: RowTable;
}

/** Pages read per request: a page holds up to 2,000 metrics, and most listings end within the first. */
const ROWS_PER_READ = 8;

/**
 * The late-events ledger as a list: the first `limit` late metrics that match, in log order (by
 * position, then index within the record), merged over every scope's ledger. Pages are read in
 * order and let go as they are decoded; a filter that matches little reads the ledger until it has
 * `limit`, or to its end.
 *
 * @example
 * await readLate([{ scope: '', table }], { limit: 100, key: 'win_cpu.percent_processor_time' });
 */
export async function readLate(ledgers: readonly ScopedLedger[], query: LateQuery): Promise<LateEntry[]> {
  const found = await Promise.all(ledgers.map(async ({ scope, table }) => (await firstMatches(table, query)).map((m) => entry(m, scope))));
  const all = found.flat();
  if (ledgers.length > 1) all.sort((a, b) => a.position - b.position || a.index - b.index || compare(a.partition ?? '', b.partition ?? ''));
  return all.slice(0, query.limit);
}

async function firstMatches(table: RowTable, { limit, key, tenant }: LateQuery): Promise<LateMetric[]> {
  const out: LateMetric[] = [];
  if (limit <= 0) return out;
  // Rows are keyed by their first metric's position and sort so across partitions: read on from after the last one.
  for (let fromRow: string | undefined; ;) {
    const rows = await table.list({ fromRow, limit: ROWS_PER_READ });
    for (const row of rows) {
      for (const m of decodeLatePage(row)) {
        if ((key === undefined || m.key === key) && (tenant === undefined || m.tenant === tenant)) out.push(m);
        if (out.length >= limit) return out;
      }
    }
    if (rows.length < ROWS_PER_READ) return out;
    const [position, index] = rows[rows.length - 1].row.split('-').map(Number);
    fromRow = positionRow(position, index + 1);
  }
}

function entry(m: LateMetric, scope: string): LateEntry {
  const e: LateEntry = { key: m.key, tenant: m.tenant, vm: m.vm, t: m.t, value: m.value, watermark: m.watermark, position: m.position, index: m.index };
  if (scope !== '') e.partition = scope.replace(/^P/, '');
  return e;
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
