import { readFile } from 'node:fs/promises';
import { openRuntime, type Runtime } from '../runtime';
import type { StartingAzurite } from '../startAzuriteEarly';
import { parseDefinition, type ProjectionDefinition } from '../core/projectionDefinition';
import { InvalidInputError } from '../core/errors';
import type { Settings } from '../config/settings';
import { DeclaredCatalog } from '../../projections/declaredCatalog';
import { declaredProjection } from '../../projections/declaredProjection';
import { metaTable } from '../../projections/projectionCatalog';
import type { AnyProjection } from '../../projections/builtInProjections';
import { dropProjectionVersion } from '../dropProjectionVersion';
import { ArgumentError } from './argParsers';
import { rebuildAndActivate, settingsFrom, type Flags } from './commands';

/** A declared projection as `opsfold projection list` and `GET /v1/projections` show it. */
export interface DeclaredStatus {
  name: string;
  definition: ProjectionDefinition;
  /** `live` once a version is active (the service follows it); `building` while the first build runs. */
  status: 'building' | 'live';
  version: number | null;
}

/** Every declared projection with its status, from the catalog and the versions. */
export async function declaredStatuses(rt: Pick<Runtime, 'versions'>, catalog: DeclaredCatalog): Promise<DeclaredStatus[]> {
  const out: DeclaredStatus[] = [];
  for (const { definition } of await catalog.list()) {
    const version = (await rt.versions.active(definition.name)) ?? null;
    out.push({ name: definition.name, definition, status: version === null ? 'building' : 'live', version });
  }
  return out;
}

async function withCatalog<T>(flags: Flags, job: (rt: Runtime, settings: Settings, catalog: DeclaredCatalog) => Promise<T>, azurite?: StartingAzurite): Promise<T> {
  const settings = settingsFrom(flags);
  const rt = await openRuntime(settings, { log: false, azurite });
  try {
    return await job(rt, settings, new DeclaredCatalog(await rt.tables.rowTable(metaTable(settings.tablePrefix))));
  } finally {
    await rt.close();
  }
}

/** The definition in FILE, validated; a file that is not a valid definition is a wrong argument (exit 2), naming the field. */
export async function readDefinition(file: string): Promise<ProjectionDefinition> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ArgumentError('FILE', `FILE ${file}: not JSON: ${(error as Error).message}`);
  }
  try {
    return parseDefinition(json);
  } catch (error) {
    if (error instanceof InvalidInputError) throw new ArgumentError('FILE', `FILE ${file}: ${error.message}`);
    throw error;
  }
}

/**
 * `opsfold projection add FILE`: validates the definition, keeps it, builds it from the whole
 * log into a new version with a progress bar, and makes it live: a running service follows it
 * within seconds. The same definition again rebuilds it; another one under the same name is refused.
 */
export async function projectionAddCommand(file: string, flags: Flags, options: { azurite?: StartingAzurite } = {}): Promise<number> {
  const definition = await readDefinition(file);
  return withCatalog(flags, async (rt, settings, catalog) => {
    const existing = await catalog.get(definition.name);
    if (existing && JSON.stringify(existing) !== JSON.stringify(definition)) {
      throw new InvalidInputError(`a projection named "${definition.name}" is already declared with another definition; \`opsfold projection drop ${definition.name}\` first`, { parameter: 'name' });
    }
    if (!existing) await catalog.put(definition);
    await rebuildAndActivate(rt, settings, definition.name, definition, 'projection add');
    return 0;
  }, options.azurite);
}

/** `opsfold projection list`: one JSON line per declared projection. */
export async function projectionListCommand(flags: Flags): Promise<number> {
  return withCatalog(flags, async (rt, _settings, catalog) => {
    for (const status of await declaredStatuses(rt, catalog)) process.stdout.write(`${JSON.stringify(status)}\n`);
    return 0;
  });
}

/** `opsfold projection drop NAME`: forgets the definition and drops every version's tables. */
export async function projectionDropCommand(name: string, flags: Flags): Promise<number> {
  return withCatalog(flags, async (rt, settings, catalog) => {
    const definition = await catalog.get(name);
    if (!definition) {
      const names = (await catalog.list()).map((d) => d.definition.name);
      throw new InvalidInputError(`no declared projection is named "${name}"${names.length ? `; declared: ${names.join(', ')}` : ''}`, { parameter: 'NAME' });
    }
    await catalog.remove(name);
    await dropAllVersions(rt, settings, definition);
    process.stdout.write(`${JSON.stringify({ dropped: name })}\n`);
    return 0;
  });
}

/** Every version's tables of a declared projection, and its versions. */
export async function dropAllVersions(rt: Pick<Runtime, 'versions' | 'tables'>, settings: Settings, definition: ProjectionDefinition): Promise<void> {
  const latest = await rt.versions.latest(definition.name);
  for (let version = 1; version <= latest; version++) {
    await dropProjectionVersion(rt.tables, settings, declaredProjection(definition) as unknown as AnyProjection, version);
    await rt.versions.forget(definition.name, version);
  }
  await rt.versions.deactivate(definition.name);
}
