import type { Projection, ProjectionTables } from '../src/core/projection';
import { backlogProjection } from './backlogProjection';
import type { ProjectionName } from './projectionCatalog';
import { rejectsProjection } from './rejectsProjection';
import { windowsProjection } from './windowsProjection';

/** A projection's definition, whatever its fold's config and figures: for what its name and tables tell. */
export type AnyProjection = Projection<ProjectionTables, never, object>;

/** The definitions of the projections opsfold always keeps, by name. */
export const BUILT_IN_PROJECTIONS: Readonly<Record<ProjectionName, AnyProjection>> = {
  windows: windowsProjection,
  rejects: rejectsProjection,
  backlog: backlogProjection,
};
