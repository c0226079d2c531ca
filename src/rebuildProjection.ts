import type { Settings } from './config/settings';
import type { EventLog, TableStore } from './core/ports';
import { backlogProjection } from '../projections/backlogProjection';
import { declaredProjection } from '../projections/declaredProjection';
import type { ProjectionDefinition } from './core/projectionDefinition';
import type { ProjectionVersions } from '../streams/projectionVersions';
import { Projector, type ProjectorOptions, type ProjectorStats } from '../streams/Projector';
import type { Projection, ProjectionTables } from './core/projection';
import { rejectsProjection } from '../projections/rejectsProjection';
import { FileWindowHistory, finalHistoryDir, windowHistoryDir } from './adapters/windowHistory/FileWindowHistory';
import { WindowEventFeed } from '../streams/WindowEventFeed';
import { windowsProjection, type WindowsConfig, type WindowsStats } from '../projections/windowsProjection';
import { withRecordClock } from '../streams/withRecordClock';
import { backlogConfig } from './composeBacklog';
import { ProjectorRestarts, type RestartableProjector, type RunContext } from '../streams/ProjectorRestarts';
import type { Checkpoint } from '../streams/projectionVersions';

export interface RebuildOptions {
  /** A built-in projection's name, or a declared one's (then with its `definition`). */
  name: string;
  definition?: ProjectionDefinition;
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

/** How often a rebuild writes its state: no more often than every 5 s (its blocks are written per slot anyway). */
export function rebuildFlushIntervalMs(settings: Settings): number {
  return Math.max(settings.flushIntervalMs, 5000);
}

/**
 * Rebuilds one projection from one log into `version`, up to the log's end: the fold `opsfold
 * replay` runs for each projection and scope, and the one the benchmark measures. What cannot be
 * applied goes to the version's quarantine ledger and the rebuild goes on (ProjectorRestarts); it
 * fails only when the same failure comes back after three tries (an outage, refused credentials).
 */
export async function rebuildProjection(options: RebuildOptions): Promise<RebuildTotals> {
  const { name, log, scope, tables, versions, settings, version, onProgress } = options;
  const flushIntervalMs = rebuildFlushIntervalMs(settings);
  // A rebuild's process does nothing else meanwhile: it reads the log on its own thread (see LogReadOptions.blocking).
  const common = { log, tables, versions, tablePrefix: settings.tablePrefix, version, follow: false, blockingReads: true, flushIntervalMs, onProgress, scope };
  const note = (line: string) => process.stderr.write(`opsfold replay: ${name}${scope === '' ? '' : ` ${scope}`}: ${line}\n`);
  switch (name) {
    case 'windows': {
      if (scope === '') return rebuildWindowsWithHistory(common, settings, note);
      const { stats, quarantined } = await rebuildWith(windowsProjection, { windows: settings }, common, note);
      return { metrics: stats.metrics, windows: stats.windowsEmitted, revisions: stats.revisions, late: stats.late, quarantined };
    }
    case 'backlog': {
      const { stats, quarantined } = await rebuildWith(backlogProjection, backlogConfig(settings), common, note);
      return { samples: stats.samples, duplicates: stats.duplicates, quarantined };
    }
    case 'rejects': {
      const { stats, quarantined } = await rebuildWith(rejectsProjection, undefined, common, note);
      return { rejected: stats.rejected, quarantined };
    }
    default: {
      if (!options.definition) throw new Error(`no definition given for the declared projection "${name}"`);
      const { stats, quarantined } = await rebuildWith(declaredProjection(options.definition), { windows: settings }, common, note);
      return { metrics: stats.metrics, windows: stats.windowsEmitted, revisions: stats.revisions, late: stats.late, quarantined };
    }
  }
}

/** What every rebuild's projector gets: the log, the tables, the version, and its progress. */
type Common = Omit<ProjectorOptions<ProjectionTables, unknown, object>, 'projection' | 'config'>;

/** Rebuilds one projection with its fold's config; its figures and the entries it quarantined. */
export async function rebuildWith<T extends ProjectionTables, C, S extends object>(
  projection: Projection<T, C, S>, config: C, common: Common, note: (line: string) => void,
): Promise<{ stats: ProjectorStats<S>; quarantined: number }> {
  let projector: Projector<T, C, S> | undefined;
  const stats = await rebuild((context) => (projector = new Projector({
    ...common, projection, config, careful: context.careful, onCheckpoint: async (c: Checkpoint) => context.checkpointed(c.position),
  })), note);
  return { stats, quarantined: projector?.quarantined ?? 0 };
}

/** Runs a rebuild's projector to the log's end, restarted from its checkpoint as ProjectorRestarts decides (three failures in a row end it). */
async function rebuild<T>(create: (context: RunContext) => RestartableProjector<T>, note: (line: string) => void): Promise<T> {
  const restarts = new ProjectorRestarts<T>({
    create, maxFailures: 3, onNote: note,
    onFailure: (failure, retryInMs) => note(`${failure.reason}; trying again in ${retryInMs} ms`),
  });
  return (await restarts.run(new AbortController().signal)) as T;
}

/**
 * The windows and their event history, each event stamped with its record's append time. A run
 * that fails is started again from the log's start (the history it wrote cannot be taken back),
 * with care from its last checkpoint on; what it quarantined stays quarantined.
 */
async function rebuildWindowsWithHistory(common: Common, settings: Settings, note: (line: string) => void): Promise<RebuildTotals> {
  const timed = withRecordClock(common.log);
  // The feed is the fold's recorder: each window is packed into the history as it closes (no object per window),
  // and written as the fold goes (6,000 events at a time, one write in flight), never piled up in memory.
  // A fold from the start writes the history from nothing: what a rebuild interrupted before its first checkpoint left in
  // this version is not appended to. Fsynced once, when complete: the version is switched to only after it.
  const dir = windowHistoryDir(settings.dataDir, common.tablePrefix, common.version);
  let feed: WindowEventFeed | undefined;
  let projector: Projector<typeof windowsProjection.tables, WindowsConfig, WindowsStats> | undefined;
  /** Where the last run's last checkpoint would have resumed: a run after it is careful from there. */
  let carefulFrom = 0;
  const attempt = (context: RunContext): RestartableProjector<ProjectorStats<WindowsStats>> => ({
    get readThrough() {
      return projector?.readThrough ?? 0;
    },
    run: async () => {
      if (feed) {
        await feed.close().catch(() => undefined);
        await common.versions.forget('windows', common.version);
      }
      if (feed || (await common.versions.checkpoint('windows', common.version, common.scope)) === undefined) {
        await FileWindowHistory.remove(dir);
        // A rebuild tells no final windows: the version's live runs keep them from where it ends (Checkpoint.finalFrom).
        await FileWindowHistory.remove(finalHistoryDir(settings.dataDir, common.tablePrefix, common.version));
      }
      const opened = await WindowEventFeed.open({
        store: await FileWindowHistory.open(dir, { sync: 'close' }),
        retentionHours: settings.windowHistoryHours, flushIntervalMs: common.flushIntervalMs, clock: timed.clock,
      });
      feed = opened;
      projector = new Projector({
        ...common, projection: windowsProjection, config: { windows: settings, recorder: opened }, log: timed.log, afterBatch: () => opened.keepUp(),
        careful: context.careful && { ...context.careful, from: carefulFrom },
        onCheckpoint: async (c) => {
          carefulFrom = c.resumeFrom;
          context.checkpointed(c.position);
        },
      });
      return projector.run();
    },
  });
  const stats = await rebuild(attempt, note);
  await feed!.close();
  return {
    metrics: stats.metrics, windows: stats.windowsEmitted, revisions: stats.revisions, late: stats.late,
    historyEvents: feed!.stats.written, historyNotWritten: feed!.stats.undurable, quarantined: projector?.quarantined ?? 0,
  };
}
