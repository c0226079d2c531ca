import type { AnyProjection } from '../src/core/projection';
import { backlogProjection } from './backlogProjection';
import type { ProjectionName } from './projectionCatalog';
import { rejectsProjection } from './rejectsProjection';
import { windowsProjection } from './windowsProjection';

export type { AnyProjection };

/** The definitions of the projections opsfold always keeps, by name. */
export const BUILT_IN_PROJECTIONS: Readonly<Record<ProjectionName, AnyProjection>> = {
  windows: windowsProjection,
  rejects: rejectsProjection,
  backlog: backlogProjection,
};
