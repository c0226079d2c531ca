import { Subject, type Observable } from 'rxjs';
import type { Settings } from './config/settings';
import type { EventLog, RowTable, TableStore } from './core/ports';
import type { ProjectionDefinition } from './core/projectionDefinition';
import { DeclaredCatalog } from '../projections/declaredCatalog';
import { declaredProjection, type DeclaredConfig, type DeclaredStats, type DeclaredTables, type DeclaredWindowEvent } from '../projections/declaredProjection';
import type { AnyProjection } from '../projections/builtInProjections';
import { openTable } from '../projections/projectionTables';
import { ProjectionSupervisor } from '../streams/ProjectionSupervisor';
import { Projector } from '../streams/Projector';
import type { ProjectionVersions } from '../streams/projectionVersions';
import type { RunContext } from '../streams/ProjectorRestarts';
import { dropProjectionVersion } from './dropProjectionVersion';
import type { ProjectionsApi } from './adapters/http/projectionRoutes';

type DeclaredProjector = Projector<DeclaredTables, DeclaredConfig, DeclaredStats>;

export interface DeclaredHostOptions {
  settings: Settings;
  log: EventLog;
  tables: TableStore;
  versions: ProjectionVersions;
  meta: RowTable;
  /** How often the catalog is read again (a projection added or dropped elsewhere). */
  pollMs?: number;
}

/**
 * The declared projections of a running service on the file log: each one whose first build is
 * complete (`opsfold projection add` made a version active) gets a projector that follows the
 * log from that version's checkpoint, supervised as the built-in ones are (a later `opsfold
 * replay --projection NAME` switches it to the new version). The catalog is read again every few
 * seconds, so a projection added or dropped by the CLI is picked up or stopped without a restart.
 */
export class DeclaredHost {
  private readonly running = new Map<string, { definition: ProjectionDefinition; supervisor: ProjectionSupervisor<DeclaredProjector> }>();
  private readonly events = new Subject<DeclaredWindowEvent>();
  readonly events$: Observable<DeclaredWindowEvent> = this.events.asObservable();
  private readonly catalog: DeclaredCatalog;
  private timer?: NodeJS.Timeout;
  private syncing?: Promise<void>;
  private stopped = false;

  constructor(private readonly options: DeclaredHostOptions) {
    this.catalog = new DeclaredCatalog(options.meta);
  }

  async start(): Promise<void> {
    await this.sync();
    this.timer = setInterval(() => {
      this.syncing ??= this.sync().catch((error: unknown) => this.note(`reading the declared projections: ${(error as Error).message}`)).finally(() => (this.syncing = undefined));
    }, this.options.pollMs ?? 2000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.syncing;
    await Promise.all([...this.running.values()].map((r) => r.supervisor.stop()));
    this.running.clear();
    this.events.complete();
  }

  /**
   * Starts a projector for each declared projection with an active version, moves one to the
   * version a rebuild activated (dropping the old one's tables), and stops (and cleans up after)
   * each one dropped.
   */
  async sync(): Promise<void> {
    const { versions, tables, settings } = this.options;
    const declared = await this.catalog.list();
    const names = new Set(declared.map((d) => d.definition.name));
    for (const { definition } of declared) {
      if (this.stopped) return;
      const active = await versions.active(definition.name);
      if (active === undefined) continue; // still being built
      const running = this.running.get(definition.name);
      if (!running) {
        const supervisor = this.supervise(definition);
        this.running.set(definition.name, { definition, supervisor });
        supervisor.start(active);
        this.note(`${definition.name}: following the log (v${active})`);
      } else if (running.supervisor.version !== active) {
        const from = running.supervisor.version;
        await running.supervisor.switchTo(active);
        this.note(`${definition.name}: switched from v${from} to v${active}`);
        await dropProjectionVersion(tables, settings, declaredProjection(definition) as unknown as AnyProjection, from);
        await versions.forget(definition.name, from);
      }
    }
    for (const [name, { definition, supervisor }] of this.running) {
      if (names.has(name)) continue;
      this.running.delete(name);
      await supervisor.stop();
      // Its last flush may have written after `opsfold projection drop` dropped the tables: drop what came back.
      const latest = await versions.latest(name);
      for (let version = 1; version <= Math.max(latest, supervisor.version); version++) {
        await dropProjectionVersion(tables, settings, declaredProjection(definition) as unknown as AnyProjection, version);
      }
      this.note(`${name}: dropped`);
    }
  }

  /** Failures of the running declared projectors (for /healthz). */
  get failing(): { projection: string; reason: string; since: number }[] {
    return [...this.running].flatMap(([projection, { supervisor }]) => {
      const failing = supervisor.failing;
      return failing ? [{ projection, reason: failing.reason, since: failing.since }] : [];
    });
  }

  /** What the read API needs: the list with statuses, and the active version's tables of one. */
  api(): Omit<ProjectionsApi, 'stream'> {
    const { tables, versions, settings } = this.options;
    return {
      list: async () => {
        const out = [];
        for (const { definition } of await this.catalog.list()) {
          const version = (await versions.active(definition.name)) ?? null;
          out.push({ name: definition.name, definition, status: version === null ? 'building' as const : 'live' as const, version });
        }
        return out;
      },
      tables: async (name) => {
        const definition = await this.catalog.get(name);
        if (!definition) return undefined;
        const version = await versions.active(name);
        if (version === undefined) return 'building';
        const spec = declaredProjection(definition).tables.windows;
        const scopes = await versions.scopes(name, version);
        return { definition, scopes: await Promise.all(scopes.map((scope) => openTable(tables, spec, { prefix: settings.tablePrefix, version, scope }))) };
      },
    };
  }

  private supervise(definition: ProjectionDefinition): ProjectionSupervisor<DeclaredProjector> {
    const { settings, log, tables, versions } = this.options;
    const projection = declaredProjection(definition);
    return new ProjectionSupervisor<DeclaredProjector>({
      settleMs: 5 * settings.flushIntervalMs,
      create: (version: number, context: RunContext) => new Projector({
        projection, config: { windows: settings, onWindow: (event) => this.events.next(event) },
        log, tables, versions, tablePrefix: settings.tablePrefix, version, follow: true, flushIntervalMs: settings.flushIntervalMs,
        careful: context.careful, onCheckpoint: async (c) => context.checkpointed(c.position),
      }),
      onError: (error) => this.note(`${definition.name} projector: ${(error as Error).message}; trying again`),
      onNote: (line) => this.note(`${definition.name} projector: ${line}`),
    });
  }

  private note(line: string): void {
    process.stderr.write(`opsfold: declared projection ${line}\n`);
  }
}
