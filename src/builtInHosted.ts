import type { Settings } from './config/settings';
import { backlogProjection } from '../projections/backlogProjection';
import { rejectsProjection } from '../projections/rejectsProjection';
import { windowsProjection, type WindowsConfig } from '../projections/windowsProjection';
import { hosted, type HostedProjection } from '../streams/hostedProjection';
import { backlogConfig } from './composeBacklog';

/** Where a windows run's events go: to `onWindow`, cross-tenant shares held back for `onCrossTenantFlushed` (Event Hubs), final windows to `finals`. */
export type WindowsOutput = Pick<WindowsConfig, 'onWindow' | 'onCrossTenantFlushed' | 'finals'>;

/** The projections every service runs (windows, rejects, backlog), with their folds' settings. */
export function builtInHosted(settings: Settings, windowsOutput: (run: { version: number; scope: string }) => WindowsOutput): HostedProjection[] {
  return [
    hosted(windowsProjection, (run) => ({ windows: settings, ...windowsOutput(run) })),
    hosted(rejectsProjection, () => undefined),
    hosted(backlogProjection, () => backlogConfig(settings)),
  ];
}
