/**
 * The projections opsfold always maintains (each a definition that owns its tables: see
 * builtInProjections.ts), and the service's own tables. A rebuild writes version N+1 of a
 * projection beside N and switches readers over when it is complete.
 */
export const PROJECTIONS = ['windows', 'rejects', 'backlog'] as const;
export type ProjectionName = (typeof PROJECTIONS)[number];

/**
 * A log partition's share of a projection: '' with the file log (one scope), `P<id>` for each
 * Event Hubs partition, whose processor folds into tables of its own (see scopedTables.ts).
 * Per-VM blocks need no scope: all of a tenant's events are in one partition.
 */
export function scopeOfPartition(partitionId: string): string {
  if (!/^\d{1,4}$/.test(partitionId)) throw new Error(`unexpected Event Hubs partition id ${JSON.stringify(partitionId)}`);
  return `P${partitionId}`;
}

/** Idempotency keys of appends to a log that cannot be read back at start (Event Hubs). */
export function idempotencyTable(prefix: string): string {
  return `${prefix}Idempotency`;
}

/** The first sequence number of every idempotency key in each Event Hubs partition (see DuplicateFilter). */
export function logKeysTable(prefix: string): string {
  return `${prefix}LogKeys`;
}

export function metaTable(prefix: string): string {
  return `${prefix}Meta`;
}

/** Ledger rows sort by log position: zero-padded so string order is numeric order. */
export function positionRow(position: number, index: number): string {
  return `${String(position).padStart(16, '0')}-${String(index).padStart(6, '0')}`;
}
