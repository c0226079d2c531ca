import type { Settings } from './config/settings';
import type { EventLog, TableStore } from './core/ports';
import type { ProjectionName } from '../projections/projectionCatalog';
import { BacklogProjector } from '../streams/BacklogProjector';
import type { ProjectionVersions } from '../streams/projectionVersions';
import { RejectsProjector } from '../streams/RejectsProjector';
import { FileWindowHistory, windowHistoryDir } from './adapters/windowHistory/FileWindowHistory';
import { WindowEventFeed } from '../streams/WindowEventFeed';
import { WindowsProjector, type WindowsProjectorOptions } from '../streams/WindowsProjector';
import { withRecordClock } from '../streams/withRecordClock';
import { teamTimezones } from './core/backlogTeam';

export interface RebuildOptions {
  name: ProjectionName;
  /** The whole file log, or one Event Hubs partition. */
  log: EventLog;
  /** '' for the whole file log (windows then get their event history too, in files under the data dir), else the partition's scope. */
  scope: string;
  tables: TableStore;
  versions: ProjectionVersions;
  settings: Settings;
  /** The version written into; activating it is the caller's. */
  version: number;
  /** Called once per batch with how far the fold has come. */
  onProgress?: (position: number) => void;
}

/** What a rebuild folded, by name (metrics, windows, historyEvents, rejected, samples…): summed over scopes by the caller. */
export type RebuildTotals = Record<string, number>;

/**
 * The young generation of a rebuild's Node (`opsfold replay` and the bench): 8 MB semi-spaces
 * instead of V8's 16 MB (three of them), some 20-40 MB less RSS for no measurable time.
 */
export const REBUILD_SEMI_SPACE_MB = 8;

/** How often a rebuild writes its state: no more often than every 5 s (its blocks are written per slot anyway). */
export function rebuildFlushIntervalMs(settings: Settings): number {
  return Math.max(settings.flushIntervalMs, 5000);
}

/**
 * Rebuilds one projection from one log into `version`, up to the log's end: the fold `opsfold
 * replay` runs for each projection and scope, and the one the benchmark measures.
 */
export async function rebuildProjection(options: RebuildOptions): Promise<RebuildTotals> {
  const { name, log, scope, tables, versions, settings, version, onProgress } = options;
  const flushIntervalMs = rebuildFlushIntervalMs(settings);
  const common = { log, tables, versions, tablePrefix: settings.tablePrefix, version, follow: false, flushIntervalMs, onProgress, scope };
  switch (name) {
    case 'windows': {
      if (scope === '') return rebuildWindowsWithHistory(common, settings);
      const stats = await new WindowsProjector({ ...common, windows: settings }).run();
      return { metrics: stats.metrics, windows: stats.windowsEmitted, revisions: stats.revisions, late: stats.late };
    }
    case 'backlog': {
      const stats = await new BacklogProjector({ ...common, timezone: settings.backlogTimezone, timezoneOf: teamTimezones(settings.backlogTeams, settings.backlogTimezone) }).run();
      return { samples: stats.samples, duplicates: stats.duplicates };
    }
    case 'rejects':
      return { rejected: await new RejectsProjector(common).run() };
  }
}

type Common = Omit<WindowsProjectorOptions, 'windows'>;

/** The windows and their event history, each event stamped with its record's append time. */
async function rebuildWindowsWithHistory(common: Common, settings: Settings): Promise<RebuildTotals> {
  const timed = withRecordClock(common.log);
  // The feed is the fold's recorder: each window is packed into the history as it closes (no object per window),
  // and written as the fold goes (6,000 events at a time, one write in flight), never piled up in memory.
  // A fold from the start writes the history from nothing: what a rebuild interrupted before its first checkpoint left in
  // this version is not appended to. Fsynced once, when complete: the version is switched to only after the rebuild.
  const dir = windowHistoryDir(settings.dataDir, common.tablePrefix, common.version);
  if ((await common.versions.checkpoint('windows', common.version, common.scope)) === undefined) await FileWindowHistory.remove(dir);
  const feed = await WindowEventFeed.open({
    store: await FileWindowHistory.open(dir, { sync: 'close' }),
    retentionHours: settings.windowHistoryHours, flushIntervalMs: common.flushIntervalMs, clock: timed.clock,
  });
  const projector = new WindowsProjector({ ...common, log: timed.log, windows: settings, recorder: feed, afterBatch: () => feed.keepUp() });
  const stats = await projector.run();
  await feed.close();
  return {
    metrics: stats.metrics, windows: stats.windowsEmitted, revisions: stats.revisions, late: stats.late,
    historyEvents: feed.stats.written, historyNotWritten: feed.stats.undurable,
  };
}
