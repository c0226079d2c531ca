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
  /** The late-events ledger: partition [key], row = position and index. */
  late: string;
  /** What exists: partition ['key'] rows per counter key, partition ['vm', tenant] rows per VM. */
  catalog: string;
}

export function windowTables(prefix: string, version: number): WindowTables {
  return {
    minute: `${prefix}MinuteV${version}`,
    vmMinute: `${prefix}VmMinuteV${version}`,
    late: `${prefix}LateV${version}`,
    catalog: `${prefix}CatalogV${version}`,
  };
}

export function rejectTables(prefix: string, version: number): { rejects: string } {
  return { rejects: `${prefix}RejectsV${version}` };
}

export interface BacklogTables {
  /** Daily snapshots: partition [team], row = local date YYYY-MM-DD. */
  daily: string;
  /** Every distinct sample: partition [team], row = its instant as ISO 8601 UTC. */
  samples: string;
  /** What exists: partition ['teams'], one row per team. */
  teams: string;
}

export function backlogTables(prefix: string, version: number): BacklogTables {
  return { daily: `${prefix}BacklogDailyV${version}`, samples: `${prefix}BacklogSamplesV${version}`, teams: `${prefix}BacklogTeamsV${version}` };
}

export function tablesOf(projection: ProjectionName, prefix: string, version: number): string[] {
  switch (projection) {
    case 'windows':
      return Object.values(windowTables(prefix, version));
    case 'rejects':
      return Object.values(rejectTables(prefix, version));
    case 'backlog':
      return Object.values(backlogTables(prefix, version));
  }
}

export function metaTable(prefix: string): string {
  return `${prefix}Meta`;
}

/** Ledger rows sort by log position: zero-padded so string order is numeric order. */
export function positionRow(position: number, index: number): string {
  return `${String(position).padStart(16, '0')}-${String(index).padStart(6, '0')}`;
}
