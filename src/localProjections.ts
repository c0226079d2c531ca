import { Subject, type Observable, type Subscription } from 'rxjs';
import type { Settings } from './config/settings';
import type { EventLog, TableStore } from './core/ports';
import type { WindowEvent } from './core/windowMath';
import { tablesOf, type ProjectionName } from '../projections/projectionCatalog';
import { ProjectionSupervisor } from '../streams/ProjectionSupervisor';
import type { ProjectionVersions } from '../streams/projectionVersions';
import { RejectsProjector } from '../streams/RejectsProjector';
import { BacklogProjector } from '../streams/BacklogProjector';
import { WindowsProjector } from '../streams/WindowsProjector';

/** What the service needs of its projections, on the file log or on Event Hubs. */
export interface ProjectionHost {
  readonly versions: { windows: number; rejects: number; backlog: number };
  readonly stats: { metrics: number; late: number; windowsEmitted: number; revisions: number; watermark: number; position?: number; partitions?: string[] };
  /** Every window revision emitted here. */
  readonly windows$: Observable<WindowEvent>;
  readonly failure?: unknown;
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
  private readonly windows: ProjectionSupervisor<WindowsProjector>;
  private readonly rejects: ProjectionSupervisor<RejectsProjector>;
  private readonly backlog: ProjectionSupervisor<BacklogProjector>;
  private forwarding?: Subscription;

  constructor(options: { settings: Settings; log: EventLog; tables: TableStore; versions: ProjectionVersions; versionPollMs?: number }) {
    const { settings, log, tables, versions, versionPollMs = 2000 } = options;
    const common = { log, tables, versions, tablePrefix: settings.tablePrefix, follow: true, flushIntervalMs: settings.flushIntervalMs };
    const report = (name: string) => (error: unknown) => process.stderr.write(`opsfold: ${name} projector: ${(error as Error).message}\n`);
    const retire = (projection: ProjectionName) => async (from: number, to: number) => {
      process.stderr.write(`opsfold: ${projection} projection switched from v${from} to v${to}\n`);
      for (const table of await tablesOf(tables, projection, settings.tablePrefix, from)) await tables.dropTable(table);
      await versions.forget(projection, from);
    };
    this.windows = new ProjectionSupervisor({
      projection: 'windows', versions, pollMs: versionPollMs, onSwitch: retire('windows'), onError: report('windows'),
      create: (version) => {
        const projector = new WindowsProjector({ ...common, version, windows: settings });
        this.forwarding?.unsubscribe();
        this.forwarding = projector.windows$.subscribe((w) => this.out.next(w));
        return projector;
      },
    });
    this.rejects = new ProjectionSupervisor({
      projection: 'rejects', versions, pollMs: versionPollMs, onSwitch: retire('rejects'), onError: report('rejects'),
      create: (version) => new RejectsProjector({ ...common, version }),
    });
    this.backlog = new ProjectionSupervisor({
      projection: 'backlog', versions, pollMs: versionPollMs, onSwitch: retire('backlog'), onError: report('backlog'),
      create: (version) => new BacklogProjector({ ...common, version, timezone: settings.backlogTimezone }),
    });
  }

  get versions(): { windows: number; rejects: number; backlog: number } {
    return { windows: this.windows.version, rejects: this.rejects.version, backlog: this.backlog.version };
  }

  get stats(): ProjectionHost['stats'] {
    const s = this.windows.projector.stats;
    return { metrics: s.metrics, late: s.late, windowsEmitted: s.windowsEmitted, revisions: s.revisions, watermark: s.watermark, position: s.position };
  }

  get failure(): unknown {
    return this.windows.failure ?? this.rejects.failure ?? this.backlog.failure;
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
    this.forwarding?.unsubscribe();
  }
}
