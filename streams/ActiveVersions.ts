import { every, systemClock, type Clock } from '../src/core/clock';
import type { ProjectionVersions } from './projectionVersions';

/** A projection whose active version a rebuild has changed. */
export interface VersionSwitch {
  projection: string;
  from: number;
  to: number;
}

export interface ActiveVersionsOptions {
  versions: ProjectionVersions;
  /** The projections followed, by name. */
  projections: readonly string[];
  /** How often the active versions are looked up (a rebuild, maybe in another process, may have switched them). */
  pollMs: number;
  clock?: Clock;
  /** Told of the projections whose active version changed, all at once; awaited before the next look; a rejection has them told again then. */
  onSwitch(switches: VersionSwitch[]): Promise<void>;
  /** Told when a look-up or a switch failed (it is tried again at the next poll). */
  onError?(error: unknown): void;
}

/**
 * The one place where a service notices that a rebuild (`opsfold replay`) activated another
 * version of its projections: it looks the active versions up every `pollMs` and hands the
 * changes to whoever runs the projectors (a projector per projection on the file log, a processor
 * for them all on Event Hubs), which stops the old ones and starts the new ones from their checkpoints.
 *
 * @example
 * const active = new ActiveVersions({ versions, projections: ['windows', 'rejects'], pollMs: 2000, onSwitch: async (switches) => restart(switches) });
 * const started = await active.start(); // { windows: 1, rejects: 1 }, version 1 made active on a fresh store
 */
export class ActiveVersions {
  private readonly current = new Map<string, number>();
  private stopTimer?: () => void;
  private polling?: Promise<void>;

  constructor(private readonly options: ActiveVersionsOptions) {}

  /** The active version of `projection` as last looked up (0 before `start`). */
  of(projection: string): number {
    return this.current.get(projection) ?? 0;
  }

  /** Looks the active versions up (making version 1 active on a fresh store), then follows them. */
  async start(): Promise<Readonly<Record<string, number>>> {
    for (const projection of this.options.projections) this.current.set(projection, await this.options.versions.activeOrFirst(projection));
    this.stopTimer = every(this.options.clock ?? systemClock, this.options.pollMs, () => {
      this.polling ??= this.poll().finally(() => (this.polling = undefined));
    });
    return Object.fromEntries(this.current);
  }

  /** Looks the active versions up once and hands on what changed; never rejects (failures go to onError). */
  async poll(): Promise<void> {
    try {
      const switches: VersionSwitch[] = [];
      for (const projection of this.options.projections) {
        const to = await this.options.versions.active(projection);
        const from = this.of(projection);
        if (to !== undefined && to !== from) switches.push({ projection, from, to });
      }
      if (switches.length === 0) return;
      // Taken as switched once the switch is done: one that failed is tried again at the next poll.
      await this.options.onSwitch(switches);
      for (const { projection, to } of switches) this.current.set(projection, to);
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  async stop(): Promise<void> {
    this.stopTimer?.();
    await this.polling;
  }
}
