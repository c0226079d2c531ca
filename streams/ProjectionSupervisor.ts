import type { Clock } from '../src/core/clock';
import { ProjectorRestarts, type ProjectorFailure, type RestartableProjector, type RunContext } from './ProjectorRestarts';

/** A projector the supervisor can run, stop, and run again from its checkpoint. */
export type RunnableProjector = RestartableProjector<unknown>;

export interface SupervisorOptions<P extends RunnableProjector> {
  /**
   * Builds the projector of one run of a version: it resumes from that version's checkpoint, takes
   * `context.careful`, and calls `context.checkpointed` after each checkpoint.
   */
  create(version: number, context: RunContext): P;
  /** Told of every failure of the projector (it is tried again after a backoff). */
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
 * Keeps the projector of one version of a projection running in the service, and moves to
 * another version when told (ActiveVersions notices a rebuild's switch): the old projector stops,
 * the new one resumes from the rebuild's checkpoint and follows. Whatever a projector's run fails
 * with is decided by ProjectorRestarts (quarantine the record, fold again with care, or report it
 * and try again after a backoff): no failure ends the service.
 */
export class ProjectionSupervisor<P extends RunnableProjector> {
  private current?: { version: number; projector?: P; abort: AbortController; restarts: ProjectorRestarts<unknown>; running: Promise<void> };

  constructor(private readonly options: SupervisorOptions<P>) {}

  /** The version run now (0 before `start`). */
  get version(): number {
    return this.current?.version ?? 0;
  }

  /** The projector of the current run (a new one after each restart), undefined before the first. */
  get projector(): P | undefined {
    return this.current?.projector;
  }

  /** Why the projector is down now, or undefined while it runs. */
  get failing(): ProjectorFailure | undefined {
    return this.current?.restarts.failing;
  }

  /** The error of `failing`, for callers that only ask whether all is well. */
  get failure(): unknown {
    return this.failing?.error;
  }

  start(version: number): void {
    this.launch(version);
  }

  /** Stops the projector of the current version (its last writes done, or abandoned) and runs `version`'s. */
  async switchTo(version: number): Promise<void> {
    await this.halt();
    this.launch(version);
  }

  async stop(): Promise<void> {
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
