/**
 * The two places the Capture tests touch the windows projection: a fold that rebuilds one scope
 * of a version (what `opsfold replay` runs per partition), and the cross-tenant minute windows of
 * a version read merged over its scopes. Kept here so that the tests say what they check, not how
 * a projector is built.
 */
import type { EventLog, TableStore } from '../../src/core/ports';
import type { Settings } from '../../src/config/settings';
import { decodeBlock } from '../../projections/minuteBlocks';
import { openMerged } from '../../projections/projectionTables';
import { windowsProjection } from '../../projections/windowsProjection';
import type { ProjectionVersions } from '../../streams/projectionVersions';
import { Projector } from '../../streams/Projector';

/** A fold that rebuilds `scope` of windows version `version` from a log, to its end. */
export function windowsFold(o: { tables: TableStore; versions: ProjectionVersions; settings: Settings; prefix: string; version: number }) {
  return (log: EventLog, scope: string): Promise<void> => new Projector({
    projection: windowsProjection, config: { windows: o.settings },
    log, tables: o.tables, versions: o.versions, tablePrefix: o.prefix, version: o.version, flushIntervalMs: 5000, follow: false, scope,
  }).run().then(() => undefined);
}

/** Cross-tenant minute windows of `key` in the 15-minute block starting at `slot`: [windowStart, count, sum, min, max]. */
export async function crossTenantMinutes(o: { tables: TableStore; versions: ProjectionVersions; prefix: string; version: number }, key: string, slot: number): Promise<number[][]> {
  const scopes = await o.versions.scopes('windows', o.version);
  const merged = await openMerged(o.tables, windowsProjection.tables.minute, { prefix: o.prefix, version: o.version, scopes });
  const block = await merged.read([key], slot);
  return (block ? decodeBlock(block).get('') ?? [] : []).map((w) => [w.windowStart, w.count, w.sum, w.min, w.max]);
}
