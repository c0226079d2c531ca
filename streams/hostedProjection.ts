import type { AnyProjection, Projection, ProjectionTables } from '../src/core/projection';
import { Projector, type ProjectorOptions, type ProjectorStats } from './Projector';

/** What a host gives each run of a projector: the loop's options, but the definition and its config. */
export type RunOptions = Omit<ProjectorOptions<ProjectionTables, unknown, object>, 'projection' | 'config'>;

/** One run of a hosted projection, whatever its fold. */
export interface HostedRun {
  readonly stats: ProjectorStats<object>;
  readonly quarantined: number;
  readonly readThrough: number;
  run(signal?: AbortSignal): Promise<unknown>;
}

/** A projection as a service runs it: its definition, with its fold's config for each version and scope. */
export interface HostedProjection {
  readonly name: string;
  /** Its definition (its tables, to drop a version). */
  readonly projection: AnyProjection;
  /** A projector for one run of `options.version` over `options.scope`. */
  projector(options: RunOptions): HostedRun;
}

/**
 * Hosts a definition: whatever runs projections (the file log's host, each Event Hubs partition)
 * gets its projectors from here, a built-in projection's or a declared one's alike.
 *
 * @example
 * const rejects = hosted(rejectsProjection, () => undefined);
 * const run = rejects.projector({ log, tables, versions, tablePrefix, version: 2, follow: true, flushIntervalMs: 1000 });
 */
export function hosted<T extends ProjectionTables, C, S extends object>(
  projection: Projection<T, C, S>, config: (run: { version: number; scope: string }) => C,
): HostedProjection {
  return {
    name: projection.name,
    projection: projection as unknown as AnyProjection,
    projector: (options) => new Projector({ ...options, projection, config: config({ version: options.version, scope: options.scope ?? '' }) }),
  };
}

/** A hosted projection at the version a host is to run (a declared one: its catalog's reader follows its versions). */
export interface HostedVersion {
  readonly hosted: HostedProjection;
  readonly version: number;
}

/** Whether two lists hold the same projections at the same versions, in any order. */
export function sameHostedVersions(a: readonly HostedVersion[], b: readonly HostedVersion[]): boolean {
  const key = (list: readonly HostedVersion[]) => new Map(list.map((r) => [r.hosted, r.version]));
  const [x, y] = [key(a), key(b)];
  return x.size === y.size && [...x].every(([hosted, version]) => y.get(hosted) === version);
}
