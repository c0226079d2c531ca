import type { BlockLayout, Row, TableStore } from '../src/core/ports';
import type { BlockTableSpec, OpenedTable, OpenedTables, RowTableSpec, TableSpec } from '../src/core/projection';
import { MergedBlockTable, UnionRowTable } from './scopedTables';

/**
 * Where a projection's tables are named and opened: from its definition's table specs, never
 * from a name and a layout a caller pairs itself. The one place that builds their names.
 */

/** Which version (and log partition) of a projection's tables. */
export interface TableRef {
  prefix: string;
  version: number;
  /** '' (or absent) with the file log; `P<id>` for an Event Hubs partition. */
  scope?: string;
}

/** The tables of one version over several scopes, to read them as one (`versions.scopes(name, version)`). */
export interface ScopesRef {
  prefix: string;
  version: number;
  scopes: readonly string[];
}

export function blockTableSpec(base: string, options: { scoped: boolean; layout?: BlockLayout }): BlockTableSpec {
  return { kind: 'block', base, ...options };
}

export function rowTableSpec(base: string, options: { scoped: boolean; layout?: BlockLayout; merge?: (a: Row, b: Row) => Row }): RowTableSpec {
  return { kind: 'row', base, ...options };
}

export function tableName(spec: TableSpec, { prefix, version, scope = '' }: TableRef): string {
  return `${prefix}${spec.base}V${version}${spec.scoped ? scope : ''}`;
}

export async function openTable<S extends TableSpec>(store: TableStore, spec: S, ref: TableRef): Promise<OpenedTable<S>> {
  const name = tableName(spec, ref);
  return (spec.kind === 'block' ? store.blockTable(name, spec.layout) : store.rowTable(name, spec.layout)) as Promise<OpenedTable<S>>;
}

/** Every table of `specs`, opened for one version and scope. */
export async function openTables<T extends Readonly<Record<string, TableSpec>>>(store: TableStore, specs: T, ref: TableRef): Promise<OpenedTables<T>> {
  const entries = await Promise.all(Object.entries(specs).map(async ([role, spec]) => [role, await openTable(store, spec, ref)] as const));
  return Object.fromEntries(entries) as OpenedTables<T>;
}

/**
 * One table over every scope, for reading: blocks merged (partial windows add up), rows in order,
 * a row found in several scopes combined by the spec's `merge`. A table that is not scoped is one.
 */
export async function openMerged<S extends TableSpec>(store: TableStore, spec: S, { prefix, version, scopes }: ScopesRef): Promise<OpenedTable<S>> {
  if (!spec.scoped) return openTable(store, spec, { prefix, version });
  const each = await Promise.all(scopes.map((scope) => openTable(store, spec, { prefix, version, scope })));
  const merged = spec.kind === 'block' ? new MergedBlockTable(each as OpenedTable<BlockTableSpec>[]) : new UnionRowTable(each as OpenedTable<RowTableSpec>[], spec.merge);
  return merged as unknown as OpenedTable<S>;
}

/** The table of each scope, apart (ledgers whose rows name positions of their own partition). */
export async function openEachScope<S extends TableSpec>(store: TableStore, spec: S, { prefix, version, scopes }: ScopesRef): Promise<{ scope: string; table: OpenedTable<S> }[]> {
  return Promise.all(scopes.map(async (scope) => ({ scope, table: await openTable(store, spec, { prefix, version, scope }) })));
}

/** The tables of `specs` of one version, of every scope, that exist in `store`. */
export async function existingTables(store: Pick<TableStore, 'listTables'>, specs: Readonly<Record<string, TableSpec>>, prefix: string, version: number): Promise<string[]> {
  const names = Object.values(specs).map((spec) => ({ name: tableName(spec, { prefix, version }), scoped: spec.scoped }));
  const ours = (table: string) => names.some(({ name, scoped }) => table === name || (scoped && table.startsWith(name) && /^P\d+$/.test(table.slice(name.length))));
  return (await store.listTables(prefix)).filter(ours);
}
