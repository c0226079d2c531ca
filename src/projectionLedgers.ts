import type { TableStore } from './core/ports';
import type { QuarantineLedgerRef } from './readQuarantine';
import { BUILT_IN_PROJECTIONS } from '../projections/builtInProjections';
import { DeclaredCatalog } from '../projections/declaredCatalog';
import { declaredProjection } from '../projections/declaredProjection';
import { metaTable, PROJECTIONS, type ProjectionName } from '../projections/projectionCatalog';
import { openEachScope } from '../projections/projectionTables';
import type { ScopedLedger } from '../projections/lateQueries';
import { windowsProjection } from '../projections/windowsProjection';
import type { ProjectionVersions } from '../streams/projectionVersions';

/** Where projections' tables are: the store, the versions and the table prefix. */
export interface LedgerSource {
  tables: TableStore;
  versions: ProjectionVersions;
  prefix: string;
}

/**
 * The ledgers of projections by name, for `opsfold late` / `GET /v1/late` and `opsfold quarantine` /
 * `GET /v1/quarantine`: the built-in projections' and the declared ones' (a declared projection keeps a
 * late ledger and a quarantine ledger of its own, in its active version's scopes). Undefined for a
 * name that is neither.
 */
export class ProjectionLedgers {
  constructor(private readonly source: LedgerSource) {}

  /** The late-events ledger of the windows projection (the default) or of a declared projection, every scope. */
  async late(name = 'windows'): Promise<ScopedLedger[] | undefined> {
    const { tables, prefix } = this.source;
    if (name === 'windows') return openEachScope(tables, windowsProjection.tables.late, await this.versionOf('windows'));
    const definition = await (await this.catalog()).get(name);
    if (!definition) return undefined;
    const ref = await this.versionOf(name);
    return ref.scopes.length === 0 ? [] : openEachScope(tables, declaredProjection(definition).tables.late, { ...ref, prefix });
  }

  /** The quarantine ledgers of one projection, or of every one (the built-in ones, then the declared ones by name). */
  async quarantine(name?: string): Promise<QuarantineLedgerRef[] | undefined> {
    if (name !== undefined && (PROJECTIONS as readonly string[]).includes(name)) return [await this.builtIn(name as ProjectionName)];
    const declared = await (await this.catalog()).list();
    if (name === undefined) {
      const builtIn = await Promise.all(PROJECTIONS.map((p) => this.builtIn(p)));
      const others = await Promise.all(declared.map(async ({ definition }) => ({ projection: declaredProjection(definition), ...(await this.versionOf(definition.name)) })));
      return [...builtIn, ...others.filter((ref) => ref.scopes.length > 0)];
    }
    const definition = declared.find((d) => d.definition.name === name)?.definition;
    return definition && [{ projection: declaredProjection(definition), ...(await this.versionOf(name)) }];
  }

  private async builtIn(name: ProjectionName): Promise<QuarantineLedgerRef> {
    return { projection: BUILT_IN_PROJECTIONS[name], ...(await this.versionOf(name)) };
  }

  /** The active version and its scopes (a projection still being built, or never run, has none: nothing to list). */
  private async versionOf(name: string): Promise<{ prefix: string; version: number; scopes: string[] }> {
    const { versions, prefix } = this.source;
    const version = await versions.active(name);
    return { prefix, version: version ?? 1, scopes: version === undefined ? [] : await versions.scopes(name, version) };
  }

  private async catalog(): Promise<DeclaredCatalog> {
    return new DeclaredCatalog(await this.source.tables.rowTable(metaTable(this.source.prefix)));
  }
}
