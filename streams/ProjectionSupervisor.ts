import type { Clock } from '../src/core/clock';
import type { ProjectionVersions } from './projectionVersions';
import { ProjectorRestarts, type ProjectorFailure, type RestartableProjector, type RunContext } from './ProjectorRestarts';

/** A projector the supervisor can run, stop, and run again from its checkpoint. */
export type RunnableProjector = RestartableProjector<unknown>;

export interface SupervisorOptions<P extends RunnableProjector> {
  /** A built-in projection's name or a declared one's. */
  projection: string;
  versions: ProjectionVersions;
  /**
   * Builds the projector of one run of a version: it resumes from that version's checkpoint, takes
   * `context.careful`, and calls `context.checkpointed` after each checkpoint.
   */
  create(version: number, context: RunContext): P;
  /** How often the active version is looked up (a rebuild elsewhere may have switched it). */
  pollMs: number;
  /** After readers moved from `from` to `to` and the old projector stopped. */
  onSwitch?(from: number, to: number): Promise<void>;
  /** Told of every failure: the projector's (it is tried again after a backoff) and the version lookup's. */
  onError?(error: unknown): void;
  /** Told when a careful pass begins and when a record was quarantined. */
  onNote?(line: string): void;
  /** For tests: the clock of the backoff, and its bounds. */
  clock?: Clock;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A run that goes on this long without failing has recovered, even before its first checkpoint. */
  settleMs?: number;
}

/**
 * Keeps the projector of a projection's active version running in the service, and moves to
 * a new version as soon as a rebuild (`opsfold replay`, maybe in another process) activates
 * it: the old projector stops, the new one resumes from the rebuild's checkpoint and follows.
 * Whatever a projector's run fails with is decided by ProjectorRestarts (quarantine the record,
 * fold again with care, or report it and try again after a backoff): no failure ends the service.
 */
export class ProjectionSupervisor<P extends RunnableProjector> {
  private current?: { version: number; projector?: P; abort: AbortController; restarts: ProjectorRestarts<unknown>; running: Promise<void> };
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;

  constructor(private readonly options: SupervisorOptions<P>) {}

  get version(): number {
    return this.current?.version ?? 0;
  }

  /** The projector of the current run (a new one after each restart). */
  get projector(): P {
    const projector = this.current?.projector;
    if (!projector) throw new Error(`the ${this.options.projection} projection has not started`);
    return projector;
  }

  /** Why the projector is down now, or undefined while it runs. */
  get failing(): ProjectorFailure | undefined {
    return this.current?.restarts.failing;
  }

  /** The error of `failing`, for callers that only ask whether all is well. */
  get failure(): unknown {
    return this.failing?.error;
  }

  async start(): Promise<void> {
    this.launch(await this.options.versions.activeOrFirst(this.options.projection));
    this.timer = setInterval(() => {
      this.polling ??= this.poll().finally(() => (this.polling = undefined));
    }, this.options.pollMs);
  }

  /** Looks the active version up once and switches to it when it changed; never rejects (failures go to onError). */
  async poll(): Promise<void> {
    try {
      const active = await this.options.versions.active(this.options.projection);
      const current = this.current;
      if (!current || active === undefined || active === current.version) return;
      await this.halt();
      this.launch(active);
      await this.options.onSwitch?.(current.version, active);
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.polling;
    await this.halt();
  }

  private launch(version: number): void {
    const abort = new AbortController();
    const { clock, initialBackoffMs, maxBackoffMs, settleMs, onNote } = this.options;
    const restarts = new ProjectorRestarts<unknown>({
      clock, initialBackoffMs, maxBackoffMs, settleMs,
      create: (context) => {
        const projector = this.options.create(version, context);
        current.projector = projector;
        return projector;
      },
      onFailure: (failure) => this.options.onError?.(failure.error),
      onNote,
    });
    const current: NonNullable<typeof this.current> = { version, abort, restarts, running: Promise.resolve() };
    this.current = current;
    // Without maxFailures the restarts end only when aborted; a rejection here would be a bug, reported all the same.
    current.running = restarts.run(abort.signal).then(() => undefined, (error: unknown) => this.options.onError?.(error));
  }

  private async halt(): Promise<void> {
    const current = this.current;
    if (!current) return;
    current.abort.abort();
    await current.running;
  }
}
