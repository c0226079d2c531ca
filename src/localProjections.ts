import { Subject, type Observable } from 'rxjs';
import type { Settings } from './config/settings';
import type { EventLog, TableStore } from './core/ports';
import type { WindowEvent } from './core/windowMath';
import type { FinalSink } from './core/windowStream';
import type { ProjectionName } from '../projections/projectionCatalog';
import { dropProjectionVersion } from './dropProjectionVersion';
import { ActiveVersions, type VersionSwitch } from '../streams/ActiveVersions';
import { ProjectionSupervisor } from '../streams/ProjectionSupervisor';
import type { ProjectionVersions } from '../streams/projectionVersions';
import type { HostedProjection, HostedRun, HostedVersion } from '../streams/hostedProjection';
import { SerialQueue } from '../streams/SerialQueue';
import type { WindowsStats } from '../projections/windowsProjection';
import { builtInHosted } from './builtInHosted';

/**
 * How far the projections are behind the log's end, read now. On the file log, bytes per
 * projection: the log's end minus the position its tables reflect. On Event Hubs, events per
 * owned partition: its last enqueued sequence number minus the last one every projector took.
 * A consumer whose position is not known yet (it has just started) is left out.
 */
export type ConsumerLag = { bytes: Record<string, number> } | { events: Record<string, number> };

/** A projector that is down now: its projection (and log partition on Event Hubs), why, and since when (epoch ms). */
export interface FailingProjector {
  projection: string;
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
  /**
   * Windows of the active windows version ending by this (epoch seconds) are final: the watermark
   * minus the allowed lateness as of the last checkpoint (on Event Hubs, the least of every
   * partition's, since a cross-tenant window has a share in each). Never moves back.
   */
  finalThrough(): Promise<number>;
  /** The first failing projector's error, when one is down. */
  readonly failure?: unknown;
  /** Every projector that is down now (it is tried again after a backoff); empty when all run. */
  readonly failing: FailingProjector[];
  /** Entries in each active version's quarantine ledger (over the partitions owned here, on Event Hubs). */
  readonly quarantined: Record<ProjectionName, number>;
  /** Read at each call: the file log's end, or each owned partition's last enqueued event. */
  consumerLag(): Promise<ConsumerLag>;
  /**
   * Runs exactly these declared projections beside the built-in ones: starts the new ones, moves
   * one whose version changed to it, stops the ones left out. Resolves once those stopped (or
   * moved) have written their last; after `stop`, does nothing.
   */
  runDeclared(wanted: readonly HostedVersion[]): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The projections over the file log: one projector per projection, each following its active
 * version; a version activated by a rebuild replaces it (ActiveVersions), and the old version's
 * tables go. Declared projections get a projector each too, as `runDeclared` is told.
 */
export class LocalProjections implements ProjectionHost {
  private readonly out = new Subject<WindowEvent>();
  readonly windows$: Observable<WindowEvent> = this.out.asObservable();
  private readonly supervisors = new Map<string, ProjectionSupervisor<HostedRun>>();
  private readonly hosted = new Map<string, HostedProjection>();
  private readonly active: ActiveVersions;
  private readonly log: EventLog;
  /** The declared projections run now, by name. */
  private readonly declared = new Map<string, { hosted: HostedProjection; supervisor: ProjectionSupervisor<HostedRun> }>();
  private readonly declaredChanges = new SerialQueue();
  private stopped = false;
  /** The windows version's final bound as last seen, so that a restarted run (not opened yet) does not answer less. */
  private finalKnown?: { version: number; value: number };

  constructor(private readonly options: {
    settings: Settings; log: EventLog; tables: TableStore; versions: ProjectionVersions; versionPollMs?: number;
    /** Where each windows version's fold tells its final windows (see WindowsConfig.finals); absent: nowhere. */
    finals?: (version: number) => FinalSink;
  }) {
    const { settings, log, versions, versionPollMs = 2000, finals } = options;
    this.log = log;
    for (const projection of builtInHosted(settings, ({ version }) => ({ onWindow: (w) => this.out.next(w), finals: finals?.(version) }))) {
      this.hosted.set(projection.name, projection);
      this.supervisors.set(projection.name, this.supervise(projection));
    }
    this.active = new ActiveVersions({
      versions, projections: [...this.supervisors.keys()], pollMs: versionPollMs,
      onSwitch: (switches) => this.switchVersions(switches),
      onError: (error) => note(`projection versions: ${(error as Error).message}; trying again`),
    });
  }

  get versions(): Record<ProjectionName, number> {
    const of = (name: ProjectionName) => this.supervisors.get(name)?.version ?? 0;
    return { windows: of('windows'), rejects: of('rejects'), backlog: of('backlog') };
  }

  get stats(): ProjectionHost['stats'] {
    const s = this.supervisors.get('windows')?.projector?.stats as (WindowsStats & HostedRun['stats']) | undefined;
    if (!s) return { metrics: 0, late: 0, windowsEmitted: 0, revisions: 0, watermark: -Infinity };
    return { metrics: s.metrics, late: s.late, windowsEmitted: s.windowsEmitted, revisions: s.revisions, watermark: s.watermark, position: s.position, lastFlushAtMs: s.lastFlushAtMs };
  }

  /**
   * As the running windows projector knows it (from its last checkpoint, the one it resumed from at
   * first), or as the last run of the same version knew it; -Infinity (nothing final) before a run
   * of the version has opened. Never a storage read: a read must not wait out an outage for it.
   */
  async finalThrough(): Promise<number> {
    const supervisor = this.supervisors.get('windows');
    const version = supervisor?.version ?? 0;
    const stats = supervisor?.projector?.stats as (WindowsStats & HostedRun['stats']) | undefined;
    const known = this.finalKnown?.version === version ? this.finalKnown.value : -Infinity;
    if (stats && stats.finalThrough > known) this.finalKnown = { version, value: stats.finalThrough };
    return Math.max(known, stats?.finalThrough ?? -Infinity);
  }

  /** Each projection counts from its last checkpoint (taken every flush interval, also on an idle tail). */
  async consumerLag(): Promise<ConsumerLag> {
    const end = await this.log.end();
    const bytes: Record<string, number> = {};
    for (const [name, supervisor] of this.supervisors) {
      const stats = supervisor.projector?.stats;
      if (stats && stats.flushes > 0) bytes[name] = Math.max(0, end - stats.position);
    }
    return { bytes };
  }

  get failure(): unknown {
    return [...this.supervisors.values()].find((s) => s.failing)?.failure;
  }

  get failing(): FailingProjector[] {
    return [...this.supervisors, ...[...this.declared].map(([name, d]) => [name, d.supervisor] as const)].flatMap(([projection, supervisor]) => {
      const failing = supervisor.failing;
      return failing ? [{ projection, reason: failing.reason, since: failing.since }] : [];
    });
  }

  get quarantined(): Record<ProjectionName, number> {
    const of = (name: ProjectionName) => this.supervisors.get(name)?.projector?.quarantined ?? 0;
    return { windows: of('windows'), rejects: of('rejects'), backlog: of('backlog') };
  }

  async start(): Promise<void> {
    const started = await this.active.start();
    for (const [name, supervisor] of this.supervisors) supervisor.start(started[name]);
  }

  async stop(): Promise<void> {
    await this.active.stop();
    const declared = this.declaredChanges.run(async () => {
      this.stopped = true;
      await Promise.all([...this.declared.values()].map((d) => d.supervisor.stop()));
      this.declared.clear();
    });
    for (const supervisor of this.supervisors.values()) await supervisor.stop();
    await declared;
  }

  async runDeclared(wanted: readonly HostedVersion[]): Promise<void> {
    await this.declaredChanges.run(async () => {
      if (this.stopped) return;
      for (const [name, { hosted, supervisor }] of this.declared) {
        // Left out, or declared again under the same name with another definition.
        if (wanted.some((w) => w.hosted === hosted)) continue;
        this.declared.delete(name);
        await supervisor.stop();
      }
      for (const { hosted, version } of wanted) {
        const running = this.declared.get(hosted.name);
        if (running && running.supervisor.version !== version) await running.supervisor.switchTo(version);
        if (running) continue;
        const supervisor = this.supervise(hosted);
        this.declared.set(hosted.name, { hosted, supervisor });
        supervisor.start(version);
      }
    });
  }

  /** The supervisor of a projection's projector, following the log from its version's checkpoint. */
  private supervise(projection: HostedProjection): ProjectionSupervisor<HostedRun> {
    const { settings, log, tables, versions } = this.options;
    const name = projection.name;
    return new ProjectionSupervisor({
      settleMs: 5 * settings.flushIntervalMs,
      onError: (error) => note(`${name} projector: ${(error as Error).message}; trying again`),
      onNote: (line) => note(`${name} projector: ${line}`),
      create: (version, context) => projection.projector({
        log, tables, versions, tablePrefix: settings.tablePrefix, version, follow: true, flushIntervalMs: settings.flushIntervalMs,
        careful: context.careful, onCheckpoint: async (c) => context.checkpointed(c.position),
      }),
    });
  }

  /** A rebuild activated other versions: their projectors replace the old ones, whose tables go. */
  private async switchVersions(switches: VersionSwitch[]): Promise<void> {
    const { tables, settings, versions } = this.options;
    for (const { projection, from, to } of switches) {
      await this.supervisors.get(projection)!.switchTo(to);
      note(`${projection} projection switched from v${from} to v${to}`);
      try {
        await dropProjectionVersion(tables, settings, this.hosted.get(projection)!.projection, from);
        await versions.forget(projection, from);
      } catch (error) {
        note(`${projection} projection: v${from} could not be dropped: ${(error as Error).message}`);
      }
    }
  }
}

const note = (line: string): void => {
  process.stderr.write(`opsfold: ${line}\n`);
};
