import { Subject, type Observable } from 'rxjs';
import type { Settings } from './config/settings';
import type { EventLog, TableStore } from './core/ports';
import type { WindowEvent } from './core/windowMath';
import { PROJECTIONS, type ProjectionName } from '../projections/projectionCatalog';
import { dropProjectionVersion } from './dropProjectionVersion';
import { BUILT_IN_PROJECTIONS } from '../projections/builtInProjections';
import { ProjectionSupervisor, type RunnableProjector } from '../streams/ProjectionSupervisor';
import type { RunContext } from '../streams/ProjectorRestarts';
import type { ProjectionVersions } from '../streams/projectionVersions';
import { Projector } from '../streams/Projector';
import { rejectsProjection, type RejectsStats } from '../projections/rejectsProjection';
import { backlogProjection, type BacklogConfig, type BacklogStats } from '../projections/backlogProjection';
import { windowsProjection, type WindowsConfig, type WindowsStats } from '../projections/windowsProjection';
import { backlogConfig } from './composeBacklog';

/**
 * How far the projections are behind the log's end, read now. On the file log, bytes per
 * projection: the log's end minus the position its tables reflect. On Event Hubs, events per
 * owned partition: its last enqueued sequence number minus the last one every projector took.
 * A consumer whose position is not known yet (it has just started) is left out.
 */
export type ConsumerLag = { bytes: Partial<Record<ProjectionName, number>> } | { events: Record<string, number> };

/** A projector that is down now: its projection (and log partition on Event Hubs), why, and since when (epoch ms). */
export interface FailingProjector {
  projection: ProjectionName;
  partition?: string;
  reason: string;
  since: number;
}

/** What the service needs of its projections, on the file log or on Event Hubs. */
export interface ProjectionHost {
  readonly versions: { windows: number; rejects: number; backlog: number };
  readonly stats: {
    metrics: number; late: number; windowsEmitted: number; revisions: number; watermark: number; position?: number; partitions?: string[];
    /** When the windows projector (on Event Hubs: the slowest owned partition's) last flushed, epoch ms; undefined before it runs. */
    lastFlushAtMs?: number;
  };
  /** Every window revision emitted here. */
  readonly windows$: Observable<WindowEvent>;
  /** The first failing projector's error, when one is down. */
  readonly failure?: unknown;
  /** Every projector that is down now (it is tried again after a backoff); empty when all run. */
  readonly failing: FailingProjector[];
  /** Entries in each active version's quarantine ledger (over the partitions owned here, on Event Hubs). */
  readonly quarantined: Record<ProjectionName, number>;
  /** Read at each call: the file log's end, or each owned partition's last enqueued event. */
  consumerLag(): Promise<ConsumerLag>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The projections over the file log: one projector per projection, each following the active
 * version; a version activated by a rebuild replaces it, and the old version's tables go.
 */
export class LocalProjections implements ProjectionHost {
  private readonly out = new Subject<WindowEvent>();
  readonly windows$: Observable<WindowEvent> = this.out.asObservable();
  private readonly windows: ProjectionSupervisor<Projector<typeof windowsProjection.tables, WindowsConfig, WindowsStats>>;
  private readonly rejects: ProjectionSupervisor<Projector<typeof rejectsProjection.tables, void, RejectsStats>>;
  private readonly backlog: ProjectionSupervisor<Projector<typeof backlogProjection.tables, BacklogConfig, BacklogStats>>;
  private readonly log: EventLog;
  /** How far the rejects and backlog projectors have folded (their checkpoints may stay behind on an idle tail). */
  private readonly folded: { rejects?: number; backlog?: number } = {};

  constructor(options: { settings: Settings; log: EventLog; tables: TableStore; versions: ProjectionVersions; versionPollMs?: number }) {
    const { settings, log, tables, versions, versionPollMs = 2000 } = options;
    this.log = log;
    const common = { log, tables, versions, tablePrefix: settings.tablePrefix, follow: true, flushIntervalMs: settings.flushIntervalMs };
    const report = (name: string) => (error: unknown) => process.stderr.write(`opsfold: ${name} projector: ${(error as Error).message}; trying again\n`);
    const note = (name: string) => (line: string) => process.stderr.write(`opsfold: ${name} projector: ${line}\n`);
    /** What each run of a projector gets from its supervisor: the careful pass, and the checkpoints it reports. */
    const run = (context: RunContext) => ({ careful: context.careful, onCheckpoint: async (c: { position: number }) => context.checkpointed(c.position) });
    const supervised = (projection: ProjectionName) => ({
      projection, versions, pollMs: versionPollMs, onSwitch: retire(projection), onError: report(projection), onNote: note(projection), settleMs: 5 * settings.flushIntervalMs,
    });
    const retire = (projection: ProjectionName) => async (from: number, to: number) => {
      process.stderr.write(`opsfold: ${projection} projection switched from v${from} to v${to}\n`);
      await dropProjectionVersion(tables, settings, BUILT_IN_PROJECTIONS[projection], from);
      await versions.forget(projection, from);
    };
    this.windows = new ProjectionSupervisor({
      ...supervised('windows'),
      create: (version, context) => new Projector({
        ...common, ...run(context), projection: windowsProjection, config: { windows: settings, onWindow: (w) => this.out.next(w) }, version,
      }),
    });
    this.rejects = new ProjectionSupervisor({
      ...supervised('rejects'),
      create: (version, context) => {
        this.folded.rejects = undefined;
        return new Projector({ ...common, ...run(context), projection: rejectsProjection, config: undefined, version, onProgress: (position) => (this.folded.rejects = position) });
      },
    });
    this.backlog = new ProjectionSupervisor({
      ...supervised('backlog'),
      create: (version, context) => {
        this.folded.backlog = undefined;
        return new Projector({ ...common, ...run(context), projection: backlogProjection, config: backlogConfig(settings), version, onProgress: (position) => (this.folded.backlog = position) });
      },
    });
  }

  get versions(): { windows: number; rejects: number; backlog: number } {
    return { windows: this.windows.version, rejects: this.rejects.version, backlog: this.backlog.version };
  }

  get stats(): ProjectionHost['stats'] {
    const s = this.windows.projector.stats;
    return { metrics: s.metrics, late: s.late, windowsEmitted: s.windowsEmitted, revisions: s.revisions, watermark: s.watermark, position: s.position, lastFlushAtMs: s.lastFlushAtMs };
  }

  /** The windows projector counts from its last checkpoint (taken every flush interval, also on an idle tail). */
  async consumerLag(): Promise<ConsumerLag> {
    const end = await this.log.end();
    const windows = this.windows.projector.stats;
    const positions = { windows: windows.flushes > 0 ? windows.position : undefined, rejects: this.folded.rejects, backlog: this.folded.backlog };
    const bytes: Partial<Record<ProjectionName, number>> = {};
    for (const [projection, position] of Object.entries(positions) as [ProjectionName, number | undefined][]) {
      if (position !== undefined) bytes[projection] = Math.max(0, end - position);
    }
    return { bytes };
  }

  get failure(): unknown {
    return this.windows.failure ?? this.rejects.failure ?? this.backlog.failure;
  }

  get failing(): FailingProjector[] {
    return PROJECTIONS.flatMap((projection) => {
      const failing = this.supervisor(projection).failing;
      return failing ? [{ projection, reason: failing.reason, since: failing.since }] : [];
    });
  }

  get quarantined(): Record<ProjectionName, number> {
    const of = (s: ProjectionSupervisor<RunnableProjector & { quarantined: number }>) => (s.version === 0 ? 0 : s.projector.quarantined);
    return { windows: of(this.windows), rejects: of(this.rejects), backlog: of(this.backlog) };
  }

  private supervisor(projection: ProjectionName): ProjectionSupervisor<RunnableProjector> {
    return projection === 'windows' ? this.windows : projection === 'rejects' ? this.rejects : this.backlog;
  }

  async start(): Promise<void> {
    await this.windows.start();
    await this.rejects.start();
    await this.backlog.start();
  }

  async stop(): Promise<void> {
    await this.windows.stop();
    await this.rejects.stop();
    await this.backlog.stop();
  }
}
