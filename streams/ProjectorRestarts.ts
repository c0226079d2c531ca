import type { Clock } from '../src/core/clock';
import { DamagedLogError, OpsfoldError, RecordNotAppliedError } from '../src/core/errors';
import { reasonOf } from '../src/core/recordFault';

/**
 * How a restarted projector goes over the records the failed run may have failed on. The
 * projector folds them as usual but first tries each one's storage keys (reads), sets aside the
 * metrics whose keys the store refuses, and, with `eachRecord`, writes and checkpoints after
 * every record, so that a write that fails names its record.
 */
export interface Careful {
  /** Records before this position (as far as the failed run had read) are folded with care. */
  through: number;
  /** Records before this one are folded as usual (a rebuild that starts again from the log's start); default 0. */
  from?: number;
  /** Write and checkpoint after each record. */
  eachRecord: boolean;
  /**
   * A record whose write fails is quarantined, and the projector stops with a
   * RecordNotAppliedError. Off after many in a row: then the fault is not the records'.
   */
  quarantine: boolean;
}

/** What one run of a projector gets from its supervisor. */
export interface RunContext {
  careful?: Careful;
  /** To be called after each durable checkpoint (wire it to the projector's onCheckpoint). */
  checkpointed(position: number): void;
}

/** A projector that can be run again from its checkpoint. */
export interface RestartableProjector<T> {
  run(signal: AbortSignal): Promise<T>;
  /** Just after the last record its run has read. */
  readonly readThrough: number;
}

/** Why a projector is down, as /healthz shows it. */
export interface ProjectorFailure {
  reason: string;
  /** Epoch ms of the first failure of this spell. */
  since: number;
  error: unknown;
}

export interface ProjectorRestartsOptions<T> {
  /** Builds the projector of one run; it resumes from its own checkpoint. */
  create(context: RunContext): RestartableProjector<T>;
  clock?: Clock;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Quarantines without a checkpoint between them after which a failing write is taken for the world's fault. */
  maxQuarantinesInARow?: number;
  /** A run that goes on this long without failing has recovered, even before its first checkpoint (an idle tail). */
  settleMs?: number;
  /** Failures in a row that neither care nor a quarantine resolved, after which `run` throws the last (a rebuild); default never. */
  maxFailures?: number;
  /** Told of each failure after which the projector waits and is tried again. */
  onFailure?(failure: ProjectorFailure, retryInMs: number): void;
  /** Told when a careful pass begins and when a record was quarantined (a line for stderr). */
  onNote?(line: string): void;
}

/**
 * Runs a projector and decides what each of its failures gets, so that no record and no bad day
 * takes the fold down for good:
 * - a failure that is not retriable (a write the store refused, a record that does not fold) first
 *   gets the projector restarted from its checkpoint with care over the records it had read: the
 *   metrics whose keys the store refuses are quarantined and the fold goes on. Should that fail
 *   again, the next pass writes after each record, so the failing write names its record, which
 *   is quarantined (RecordNotAppliedError), and the pass goes on after it;
 * - anything else (an outage that outlasted the store's own patience, refused credentials, or a
 *   failure no record explains) is reported as a failure (`failing`, shown by /healthz), and the
 *   projector is tried again from its checkpoint after a capped exponential backoff.
 * The fold counts nothing twice: every restart resumes from the last checkpoint, past the
 * records quarantined before it.
 *
 * @example
 * const restarts = new ProjectorRestarts({ create: ({ careful, checkpointed }) => new Projector({ ...options, careful, onCheckpoint: async (c) => checkpointed(c.position) }) });
 * await restarts.run(signal);
 */
export class ProjectorRestarts<T> {
  private failure?: ProjectorFailure;
  private careful?: Omit<Careful, 'quarantine'>;
  private backoffMs: number;
  private failures = 0;
  private quarantinedInARow = 0;
  private readonly clock: Clock;

  constructor(private readonly options: ProjectorRestartsOptions<T>) {
    this.clock = options.clock ?? keepAliveClock;
    this.backoffMs = options.initialBackoffMs ?? 500;
  }

  /** Why the projector is down, until a later run checkpoints (or runs `settleMs` without failing). */
  get failing(): ProjectorFailure | undefined {
    return this.failure;
  }

  /** Runs until a run ends by itself (a rebuild reached the log's end) or `signal` aborts (undefined then). */
  async run(signal: AbortSignal): Promise<T | undefined> {
    for (;;) {
      const careful = this.careful && { ...this.careful, quarantine: this.quarantinedInARow < (this.options.maxQuarantinesInARow ?? 10) };
      const projector = this.options.create({ careful, checkpointed: (position) => this.checkpointed(position) });
      const settling = this.failure === undefined ? undefined : this.clock.setTimeout(() => this.recovered(), this.options.settleMs ?? 5000);
      try {
        return await projector.run(signal);
      } catch (error) {
        if (signal.aborted) {
          // Stopping: the run's last writes failed; what they held is folded again from the checkpoint at the next start.
          this.options.onNote?.(`stopped with: ${reasonOf(error)}`);
          return undefined;
        }
        const waitMs = this.decide(error, projector.readThrough);
        if (waitMs > 0) await this.sleep(waitMs, signal);
        if (signal.aborted) return undefined;
      } finally {
        if (settling !== undefined) this.clock.clearTimeout(settling);
      }
    }
  }

  private checkpointed(position: number): void {
    this.recovered();
    this.quarantinedInARow = 0;
    if (this.careful && position >= this.careful.through) this.careful = undefined;
  }

  private recovered(): void {
    this.failure = undefined;
    this.failures = 0;
    this.backoffMs = this.options.initialBackoffMs ?? 500;
  }

  /** What a failure gets; returns how long to wait before the next run. */
  private decide(error: unknown, readThrough: number): number {
    const through = Math.max(this.careful?.through ?? 0, readThrough);
    if (error instanceof RecordNotAppliedError) {
      this.quarantinedInARow++;
      this.careful = { through, eachRecord: true };
      this.options.onNote?.(`quarantined the record at position ${error.position} (${reasonOf(error.cause ?? error)}); going on after it`);
      return 0;
    }
    // A damaged log is mended by an operator, not by care or time: a rebuild stops at once and names the way out;
    // a service reports it (failing, on /healthz) and tries again after a backoff, without careful passes.
    const damaged = error instanceof DamagedLogError;
    if (damaged && this.options.maxFailures !== undefined) throw error;
    const retriable = error instanceof OpsfoldError && error.retriable;
    if (!retriable && !damaged && this.careful === undefined) {
      this.careful = { through, eachRecord: false };
      this.options.onNote?.(`${reasonOf(error)}; folding again from the last checkpoint, trying each record's keys first`);
      return 0;
    }
    if (!retriable && !damaged && this.careful !== undefined && !this.careful.eachRecord) {
      this.careful = { through, eachRecord: true };
      this.options.onNote?.(`${reasonOf(error)}; folding again from the last checkpoint, writing after each record to find the one that fails`);
      return 0;
    }
    if (this.careful) this.careful.through = through;
    this.failures++;
    if (this.options.maxFailures !== undefined && this.failures >= this.options.maxFailures) throw error;
    this.failure = { reason: reasonOf(error), since: this.failure?.since ?? this.clock.now(), error };
    const waitMs = this.backoffMs;
    this.backoffMs = Math.min(this.options.maxBackoffMs ?? 30_000, this.backoffMs * 2);
    this.options.onFailure?.(this.failure, waitMs);
    return waitMs;
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const handle = this.clock.setTimeout(done, ms);
      const onAbort = () => {
        this.clock.clearTimeout(handle);
        done();
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** The machine's clock, whose backoff keeps the process alive (a rebuild waiting to try again has nothing else to). */
const keepAliveClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Whether a record at `position` is in the careful pass. */
export function isCareful(careful: Careful | undefined, position: number): careful is Careful {
  return careful !== undefined && position >= (careful.from ?? 0) && position < careful.through;
}
