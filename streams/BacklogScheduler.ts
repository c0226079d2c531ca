import type { Clock } from '../src/core/clock';
import { OpsfoldError } from '../src/core/errors';
import { formatPollAt, nextPollAfter, pollInstantOn, type PollAt } from '../src/core/pollSchedule';
import { localDate, timeZone } from '../src/core/zonedTime';

export type PollReason = 'scheduled' | 'catch-up' | 'retry';

/** A team with a day of its own: its zone and poll time, when they are not the scheduler's. */
export interface ScheduledTeam {
  team: string;
  timezone?: string;
  pollAt?: PollAt;
}

export interface BacklogSchedulerOptions {
  /** The teams: names, or teams with their own zone and poll time (else `timezone` and `pollAt`). */
  teams: readonly (string | ScheduledTeam)[];
  /** The poll time of the teams that have none of their own. */
  pollAt: PollAt;
  /** The zone of the teams that have none of their own. */
  timezone: string;
  clock: Clock;
  /**
   * Polls these teams now and records their samples. Resolves with the teams that failed; a
   * throw fails them all (retried later the same day when the error is retriable).
   */
  poll(teams: string[], reason: PollReason): Promise<{ failed: { team: string; retriable: boolean }[] }>;
  /** The teams that have a sample on a local date; asked once, at start, for the catch-up. */
  sampledTeamsOn(date: string): Promise<ReadonlySet<string>>;
  /** A team whose poll failed in a retriable way is polled again this much later, the same local day. */
  retryAfterMs?: number;
  /** The longest single wait, so that a suspended machine or a changed clock is noticed. */
  maxSleepMs?: number;
  onError?(error: unknown): void;
}

export interface LastPoll {
  atMs: number;
  date: string;
  reason: PollReason;
  teams: string[];
  failed: string[];
}

/** One day's worth of polling: the teams that share a zone and a poll time. */
export interface PollSchedule {
  teams: string[];
  timezone: string;
  pollAt: string;
  nextPollAt?: number;
}

/**
 * Polls the backlog once per local day of each team at its `pollAt` in its `timezone` (never the
 * machine's zone), also on 23- and 25-hour days: teams that share a zone and poll time are polled
 * together. When started after today's poll time, the teams that have no sample today are polled
 * at once (catch-up after downtime). Teams whose poll failed in a retriable way are tried again
 * every `retryAfterMs` until their local day ends; a refused credential waits for the next day.
 * All waiting goes through the injected clock.
 *
 * @example
 * const scheduler = new BacklogScheduler({
 *   teams: ['EUC', { team: 'Tokyo desk', timezone: 'Asia/Tokyo', pollAt: { hour: 18, minute: 0 } }],
 *   pollAt: { hour: 19, minute: 0 }, timezone: 'America/New_York', clock: systemClock, poll, sampledTeamsOn,
 * });
 * void scheduler.run();
 * scheduler.nextPollAt; // epoch ms of the next poll of any team
 */
export class BacklogScheduler {
  private readonly days: DailyPoll[];
  private running?: Promise<void>;

  constructor(options: BacklogSchedulerOptions) {
    const groups = new Map<string, { timezone: string; pollAt: PollAt; teams: string[] }>();
    for (const entry of options.teams) {
      const t = typeof entry === 'string' ? { team: entry } : entry;
      const timezone = t.timezone ?? options.timezone;
      const pollAt = t.pollAt ?? options.pollAt;
      const key = `${timezone} ${formatPollAt(pollAt)}`;
      if (!groups.has(key)) groups.set(key, { timezone, pollAt, teams: [] });
      groups.get(key)!.teams.push(t.team);
    }
    this.days = [...groups.values()].map((g) => new DailyPoll({ ...options, ...g }));
  }

  /** When the next poll of any team is due (epoch ms); undefined before `run` and after `stop`. */
  get nextPollAt(): number | undefined {
    const due = this.days.map((d) => d.nextPollAt).filter((at): at is number => at !== undefined);
    return due.length > 0 ? Math.min(...due) : undefined;
  }

  /** The latest poll of any team. */
  get lastPoll(): LastPoll | undefined {
    return this.days.map((d) => d.lastPoll).filter((p): p is LastPoll => p !== undefined).sort((a, b) => b.atMs - a.atMs)[0];
  }

  /** Each group of teams polled together, with its zone, poll time and next poll. */
  get schedules(): PollSchedule[] {
    return this.days.map((d) => ({ teams: [...d.options.teams], timezone: d.options.timezone, pollAt: formatPollAt(d.options.pollAt), nextPollAt: d.nextPollAt }));
  }

  /** Runs until `stop()`; resolves then. */
  run(): Promise<void> {
    this.running ??= Promise.all(this.days.map((d) => d.run())).then(() => undefined);
    return this.running;
  }

  async stop(): Promise<void> {
    await Promise.all(this.days.map((d) => d.stop()));
    await this.running;
  }
}

/** The daily poll of teams that share a zone and a poll time. */
class DailyPoll {
  /** When the next poll is due (epoch ms); undefined before `run` and after `stop`. */
  nextPollAt?: number;
  lastPoll?: LastPoll;
  private day = '';
  private readonly done = new Set<string>();
  private readonly gaveUp = new Set<string>();
  private retryAt?: number;
  private stopped = false;
  private timer?: unknown;
  private wake?: () => void;
  private running?: Promise<void>;
  private readonly zone: ReturnType<typeof timeZone>;

  constructor(readonly options: Omit<BacklogSchedulerOptions, 'teams'> & { teams: readonly string[] }) {
    this.zone = timeZone(options.timezone, 'timezone');
  }

  /** Runs until `stop()`; resolves then. */
  run(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer);
    this.wake?.();
    await this.running;
    this.nextPollAt = undefined;
  }

  private async loop(): Promise<void> {
    const { clock, maxSleepMs = 3_600_000 } = this.options;
    let first = true;
    while (!this.stopped) {
      const now = clock.now();
      const today = localDate(now, this.zone);
      if (now >= this.dueOn(today)) {
        if (this.day !== today) await this.startDay(today, first);
        const pending = this.pending();
        if (pending.length > 0 && (this.retryAt === undefined || now >= this.retryAt)) {
          await this.pollNow(today, pending, first ? 'catch-up' : this.retryAt === undefined ? 'scheduled' : 'retry');
          first = false;
          continue;
        }
      }
      first = false;
      const target = this.target(now, today);
      this.nextPollAt = target;
      await this.sleep(Math.min(target - now, maxSleepMs));
    }
  }

  private dueOn(date: string): number {
    return pollInstantOn(date, this.options.pollAt, this.options.timezone);
  }

  /** A new local day whose poll time has come; on start, teams already sampled today count as done. */
  private async startDay(date: string, onStart: boolean): Promise<void> {
    this.day = date;
    this.done.clear();
    this.gaveUp.clear();
    this.retryAt = undefined;
    if (!onStart) return;
    try {
      const sampled = await this.options.sampledTeamsOn(date);
      for (const team of this.options.teams) if (sampled.has(team)) this.done.add(team);
    } catch (error) {
      // Not knowing today's samples, poll: an extra sample changes at most which one is the day's last.
      this.options.onError?.(error);
    }
  }

  private pending(): string[] {
    return this.options.teams.filter((t) => !this.done.has(t) && !this.gaveUp.has(t));
  }

  private target(now: number, today: string): number {
    if (now < this.dueOn(today)) return this.dueOn(today);
    if (this.pending().length > 0 && this.retryAt !== undefined) return this.retryAt;
    return nextPollAfter(this.dueOn(today), this.options.pollAt, this.options.timezone);
  }

  private async pollNow(date: string, teams: string[], reason: PollReason): Promise<void> {
    const { clock, retryAfterMs = 15 * 60_000 } = this.options;
    let failed: { team: string; retriable: boolean }[];
    try {
      failed = (await this.options.poll(teams, reason)).failed;
    } catch (error) {
      this.options.onError?.(error);
      const retriable = error instanceof OpsfoldError ? error.retriable : true;
      failed = teams.map((team) => ({ team, retriable }));
    }
    const failedTeams = new Set(failed.map((f) => f.team));
    for (const team of teams) if (!failedTeams.has(team)) this.done.add(team);
    const retryAt = clock.now() + retryAfterMs;
    const canRetry = localDate(retryAt, this.zone) === date;
    for (const f of failed) if (!f.retriable || !canRetry) this.gaveUp.add(f.team);
    this.retryAt = this.pending().length > 0 ? retryAt : undefined;
    this.lastPoll = { atMs: clock.now(), date, reason, teams, failed: [...failedTeams] };
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = this.options.clock.setTimeout(() => {
        this.timer = undefined;
        resolve();
      }, Math.max(0, ms));
    });
  }
}
