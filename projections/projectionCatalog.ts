import type { TableStore } from '../src/core/ports';
import { historyTablePrefix } from './windowEventHistory';

/**
 * The projections opsfold maintains, and the tables each version of them owns. A rebuild
 * writes version N+1 beside N and switches readers over when it is complete.
 */
export const PROJECTIONS = ['windows', 'rejects', 'backlog'] as const;
export type ProjectionName = (typeof PROJECTIONS)[number];

export interface WindowTables {
  /** Cross-tenant minute averages: partition [key], one block per 15 minutes. */
  minute: string;
  /** Per-VM minute averages: partition [tenant, vm], one block per 15 minutes, all keys inside. */
  vmMinute: string;
  /** The late-events ledger, in pages of many metrics: partition [group of log positions], row = position and index of the page's first (lateLedger.ts). */
  late: string;
  /** What exists: partition ['key'] a row per counter key, partition ['vms', tenant] the tenant's VMs (see vmCatalog.ts). */
  catalog: string;
  /** The quarantine ledger: what this projection could not apply (see quarantineRows.ts). */
  quarantine: string;
}

/**
 * Cross-tenant blocks of several keys share a storage partition (a hash of the key picks one of
 * 4): a flush writes a slot's keys in a few transactions rather than one a key. A key's blocks
 * stay consecutive rows of one partition.
 */
export const MINUTE_LAYOUT = { partitionBuckets: 4 } as const;

/**
 * Per-VM blocks of several tenants share a storage partition (a hash of the tenant picks one of
 * 32), so one transaction writes up to 100 VMs' blocks even when tenants have few VMs. One VM's
 * blocks stay consecutive rows of one partition. Azurite's upsert scans the storage partition's
 * rows, so fewer buckets would cost more per write as a partition grows.
 */
export const VM_MINUTE_LAYOUT = { partitionDepth: 1, partitionBuckets: 32 } as const;

/**
 * A log partition's share of a projection: '' with the file log (one scope), `P<id>` for each
 * Event Hubs partition, whose processor folds into tables of its own (see scopedTables.ts).
 * Per-VM blocks need no scope: all of a tenant's events are in one partition.
 */
export function scopeOfPartition(partitionId: string): string {
  if (!/^\d{1,4}$/.test(partitionId)) throw new Error(`unexpected Event Hubs partition id ${JSON.stringify(partitionId)}`);
  return `P${partitionId}`;
}

/** The catalog's tenant rows (logical partition ['vms', tenant]) share one storage partition: a flush writes 100 a transaction. */
export const CATALOG_LAYOUT = { partitionDepth: 1 } as const;

export function windowTables(prefix: string, version: number, scope = ''): WindowTables {
  return {
    minute: `${prefix}MinuteV${version}${scope}`,
    vmMinute: `${prefix}VmMinuteV${version}`,
    late: `${prefix}LateV${version}${scope}`,
    catalog: `${prefix}CatalogV${version}${scope}`,
    quarantine: quarantineTable(prefix, 'windows', version, scope),
  };
}

export function rejectTables(prefix: string, version: number, scope = ''): { rejects: string; quarantine: string } {
  return { rejects: `${prefix}RejectsV${version}${scope}`, quarantine: quarantineTable(prefix, 'rejects', version, scope) };
}

/**
 * The quarantine ledger of one version (and scope) of a projection: each projection keeps its
 * own, as it keeps its other tables, so a replay rebuilds it with the version and a cleanup drops it.
 */
export function quarantineTable(prefix: string, projection: ProjectionName, version: number, scope = ''): string {
  return `${prefix}${projection[0].toUpperCase()}${projection.slice(1)}QuarantineV${version}${scope}`;
}

export interface BacklogTables {
  /** Daily snapshots: partition [team], row = local date YYYY-MM-DD. */
  daily: string;
  /** Every distinct sample: partition [team], row = its instant as ISO 8601 UTC. */
  samples: string;
  /** What exists: partition ['teams'], one row per team. */
  teams: string;
  /** The quarantine ledger, per scope (log positions are per partition on Event Hubs). */
  quarantine: string;
}

export function backlogTables(prefix: string, version: number, scope = ''): BacklogTables {
  return {
    daily: `${prefix}BacklogDailyV${version}`, samples: `${prefix}BacklogSamplesV${version}`, teams: `${prefix}BacklogTeamsV${version}`,
    quarantine: quarantineTable(prefix, 'backlog', version, scope),
  };
}

/** Every table of one version of a projection, of every scope, that exists in `store`. */
export async function tablesOf(store: Pick<TableStore, 'listTables'>, projection: ProjectionName, prefix: string, version: number): Promise<string[]> {
  const names: string[] = Object.values(
    projection === 'windows' ? windowTables(prefix, version) : projection === 'rejects' ? rejectTables(prefix, version) : backlogTables(prefix, version),
  );
  const scoped = (table: string) => names.some((name) => table === name || (table.startsWith(name) && /^P\d+$/.test(table.slice(name.length))));
  // The windows projection also owns the hourly tables of its window-event history.
  const history = (table: string) => projection === 'windows' && table.startsWith(historyTablePrefix(prefix, version));
  return (await store.listTables(prefix)).filter((table) => scoped(table) || history(table));
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
