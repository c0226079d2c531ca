import type { BacklogSample, BacklogSampled } from '../src/core/events';
import { daysBetween, localDate, timeZone } from '../src/core/zonedTime';

/** One team's daily snapshot (DESIGN §5): the last sample of a local date. */
export interface DailySnapshot {
  /** Local date in the backlog time zone, `YYYY-MM-DD`. */
  date: string;
  /** The date's last sample. */
  count: number;
  /** When that sample was taken (epoch ms). */
  sampledAtMs: number;
  /** How many distinct samples the date had. */
  samples: number;
  /** `count` minus the previous snapshot's count, over the whole history; null for the first. */
  change: number | null;
  /** Dates without a snapshot since the previous one; 0 for the first. */
  gapDays: number;
}

/** A sample as the projection keeps it. */
export interface KeptSample {
  sampledAtMs: number;
  count: number;
}

/**
 * The backlog projection's state: every team's samples by identity (team + instant). The first
 * sample of an identity is kept; a repeat (a re-import, a replayed duplicate) changes nothing.
 */
export class BacklogSamples {
  private readonly byTeam = new Map<string, Map<number, KeptSample>>();

  /** Adds a sample; false when its identity is already known. */
  add(sample: Pick<BacklogSample, 'team' | 'sampledAtMs' | 'count'>): boolean {
    let samples = this.byTeam.get(sample.team);
    if (!samples) this.byTeam.set(sample.team, (samples = new Map()));
    if (samples.has(sample.sampledAtMs)) return false;
    samples.set(sample.sampledAtMs, { sampledAtMs: sample.sampledAtMs, count: sample.count });
    return true;
  }

  /** Folds an event in; returns the samples that were new. */
  apply(event: BacklogSampled): BacklogSample[] {
    return event.samples.filter((s) => this.add(s));
  }

  teams(): string[] {
    return [...this.byTeam.keys()].sort();
  }

  of(team: string): Iterable<KeptSample> {
    return this.byTeam.get(team)?.values() ?? [];
  }
}

/**
 * One team's samples → its daily snapshots, ascending by date: for each local date in `zone`
 * that has samples, the last one (latest instant), how many it had, the change from the
 * previous snapshot and how many dates are missing in between.
 */
export function dailySnapshots(samples: Iterable<KeptSample>, zone: string): DailySnapshot[] {
  const tz = timeZone(zone);
  const byDate = new Map<string, { last: KeptSample; samples: number }>();
  for (const s of samples) {
    const date = localDate(s.sampledAtMs, tz);
    const day = byDate.get(date);
    if (!day) byDate.set(date, { last: s, samples: 1 });
    else {
      day.samples++;
      if (s.sampledAtMs > day.last.sampledAtMs) day.last = s;
    }
  }
  const dates = [...byDate.keys()].sort();
  let previous: { date: string; count: number } | undefined;
  return dates.map((date) => {
    const { last, samples: n } = byDate.get(date)!;
    const snapshot: DailySnapshot = {
      date,
      count: last.count,
      sampledAtMs: last.sampledAtMs,
      samples: n,
      change: previous === undefined ? null : last.count - previous.count,
      gapDays: previous === undefined ? 0 : daysBetween(previous.date, date) - 1,
    };
    previous = { date, count: last.count };
    return snapshot;
  });
}
