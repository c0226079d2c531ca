import type { ProjectionName } from '../projections/projectionCatalog';
import type { ProjectionVersions } from './projectionVersions';

/** A projector the supervisor can run and stop. */
export interface RunnableProjector {
  run(signal: AbortSignal): Promise<unknown>;
}

export interface SupervisorOptions<P extends RunnableProjector> {
  projection: ProjectionName;
  versions: ProjectionVersions;
  /** Builds the projector of one version. */
  create(version: number): P;
  /** How often the active version is looked up (a rebuild elsewhere may have switched it). */
  pollMs: number;
  /** After readers moved from `from` to `to` and the old projector stopped. */
  onSwitch?(from: number, to: number): Promise<void>;
  onError?(error: unknown): void;
}

/**
 * Keeps the projector of a projection's active version running in the service, and moves to
 * a new version as soon as a rebuild (`opsfold replay`, maybe in another process) activates
 * it: the old projector stops, the new one resumes from the rebuild's checkpoint and follows.
 */
export class ProjectionSupervisor<P extends RunnableProjector> {
  private current?: { version: number; projector: P; abort: AbortController; running: Promise<void> };
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  failure: unknown;

  constructor(private readonly options: SupervisorOptions<P>) {}

  get version(): number {
    return this.current?.version ?? 0;
  }

  get projector(): P {
    if (!this.current) throw new Error(`the ${this.options.projection} projection has not started`);
    return this.current.projector;
  }

  async start(): Promise<void> {
    this.launch(await this.options.versions.activeOrFirst(this.options.projection));
    this.timer = setInterval(() => {
      this.polling ??= this.poll().finally(() => (this.polling = undefined));
    }, this.options.pollMs);
  }

  /** Looks the active version up once and switches to it when it changed. */
  async poll(): Promise<void> {
    let active: number | undefined;
    try {
      active = await this.options.versions.active(this.options.projection);
    } catch (error) {
      this.options.onError?.(error);
      return;
    }
    const current = this.current;
    if (!current || active === undefined || active === current.version) return;
    await this.halt();
    this.launch(active);
    await this.options.onSwitch?.(current.version, active);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.polling;
    await this.halt();
  }

  private launch(version: number): void {
    const abort = new AbortController();
    const projector = this.options.create(version);
    this.failure = undefined;
    const running = projector.run(abort.signal).then(() => undefined, (error: unknown) => {
      this.failure = error;
      this.options.onError?.(error);
    });
    this.current = { version, projector, abort, running };
  }

  private async halt(): Promise<void> {
    const current = this.current;
    if (!current) return;
    current.abort.abort();
    await current.running;
  }
}
