import { Subject, type Observable } from 'rxjs';
import type { Settings } from './config/settings';
import type { RowTable, TableStore } from './core/ports';
import type { ProjectionDefinition } from './core/projectionDefinition';
import { DeclaredCatalog } from '../projections/declaredCatalog';
import { declaredProjection, type DeclaredWindowEvent } from '../projections/declaredProjection';
import { openTable } from '../projections/projectionTables';
import { hosted, type HostedProjection, type HostedVersion } from '../streams/hostedProjection';
import type { ProjectionVersions } from '../streams/projectionVersions';
import { dropProjectionVersion } from './dropProjectionVersion';
import type { ProjectionsApi } from './adapters/http/projectionRoutes';
import type { ProjectionHost } from './localProjections';

export interface DeclaredHostOptions {
  settings: Settings;
  /** Whatever runs the projectors: the file log's host, or the Event Hubs processor (a share per owned partition). */
  host: Pick<ProjectionHost, 'runDeclared'>;
  tables: TableStore;
  versions: ProjectionVersions;
  meta: RowTable;
  /** Whether window revisions go to `events$` (the file log: each is whole; on Event Hubs each is one partition's share). */
  emitEvents?: boolean;
  /** How often the catalog is read again (a projection added or dropped elsewhere). */
  pollMs?: number;
}

/** A declared projection run now: its definition, as hosted, at a version. */
interface Running extends HostedVersion {
  definition: ProjectionDefinition;
}

/**
 * The declared projections of a running service: each one whose first build is complete
 * (`opsfold projection add` made a version active) is handed to the host, which runs its
 * projectors from that version's checkpoint (one on the file log, one per owned partition on Event
 * Hubs), supervised as the built-in ones are. The catalog is read again every few seconds, so a
 * projection added or dropped by the CLI is picked up or stopped without a restart, and one rebuilt
 * by `opsfold replay --projection NAME` moves to its new version; the tables left behind go.
 */
export class DeclaredHost {
  private running = new Map<string, Running>();
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

  /** Stops following the catalog (the host stops the projectors). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.syncing;
    this.events.complete();
  }

  /**
   * Hands the host every declared projection with an active version, then drops the tables left
   * behind: a switched one's old version, and every version of one dropped (its last flush may
   * have written after `opsfold projection drop` dropped the tables).
   */
  async sync(): Promise<void> {
    const { versions, tables, settings } = this.options;
    const wanted = new Map<string, Running>();
    for (const { definition } of await this.catalog.list()) {
      const version = await versions.active(definition.name);
      if (version === undefined) continue; // still being built
      wanted.set(definition.name, { definition, hosted: this.hostedOf(definition), version });
    }
    if (this.stopped) return;
    await this.options.host.runDeclared([...wanted.values()]);
    const before = this.running;
    this.running = wanted;
    for (const [name, now] of wanted) {
      const was = before.get(name);
      if (!was || was.hosted !== now.hosted) this.note(`${name}: following the log (v${now.version})`);
      else if (was.version !== now.version) {
        this.note(`${name}: switched from v${was.version} to v${now.version}`);
        await dropProjectionVersion(tables, settings, now.hosted.projection, was.version);
        await versions.forget(name, was.version);
      }
    }
    for (const [name, was] of before) {
      if (wanted.has(name)) continue;
      const latest = await versions.latest(name);
      for (let version = 1; version <= Math.max(latest, was.version); version++) await dropProjectionVersion(tables, settings, was.hosted.projection, version);
      this.note(`${name}: dropped`);
    }
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

  /** The hosted projection of a definition: the same object while the definition stays the same (hosts tell runs apart by it). */
  private hostedOf(definition: ProjectionDefinition): HostedProjection {
    const running = this.running.get(definition.name);
    if (running && JSON.stringify(running.definition) === JSON.stringify(definition)) return running.hosted;
    const { settings, emitEvents } = this.options;
    const onWindow = emitEvents ? (event: DeclaredWindowEvent) => this.events.next(event) : undefined;
    return hosted(declaredProjection(definition), () => ({ windows: settings, onWindow }));
  }

  private note(line: string): void {
    process.stderr.write(`opsfold: declared projection ${line}\n`);
  }
}
