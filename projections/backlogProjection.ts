import type { FieldValue, LogRecord, Row } from '../src/core/ports';
import type { Checkpoint, FlushWork, Fold, FoldContext, OpenedTables, Prepared, Projection } from '../src/core/projection';
import type { BacklogSample, BacklogSampled, BacklogSource } from '../src/core/events';
import { decodeBacklog } from '../src/core/backlogCodec';
import { CorruptLogError } from '../src/core/errors';
import { isKnownRecordType } from '../src/core/logCodec';
import { undecodable } from '../src/core/quarantine';
import { BacklogSamples, dailySnapshots, type DailySnapshot } from './backlogDaily';
import { rowTableSpec } from './projectionTables';

const tables = {
  /** Daily snapshots: partition [team], row = local date YYYY-MM-DD. A team's samples are all in one log partition. */
  daily: rowTableSpec('BacklogDaily', { scoped: false }),
  /** Every distinct sample: partition [team], row = its instant as ISO 8601 UTC. */
  samples: rowTableSpec('BacklogSamples', { scoped: false }),
  /** What exists: partition ['teams'], one row per team. */
  teams: rowTableSpec('BacklogTeams', { scoped: false }),
  /** Per scope: log positions are per partition on Event Hubs. */
  quarantine: rowTableSpec('BacklogQuarantine', { scoped: true }),
};

type Tables = OpenedTables<typeof tables>;

export interface BacklogConfig {
  /** The backlog time zone: local dates are dates there. */
  timezone: string;
  /** A team's own zone (BACKLOG_TEAMS), when it has one: its dates are dates there. */
  timezoneOf?: (team: string) => string;
}

export interface BacklogStats {
  /** Distinct samples folded in. */
  samples: number;
  /** Samples whose identity (team + instant) was already known: they changed nothing. */
  duplicates: number;
}

/**
 * The BacklogDaily projection, from `BacklogSampled` events: every distinct sample (one row per
 * identity), each team's daily snapshots (partition team, row local date) and a row per team.
 */
export const backlogProjection: Projection<typeof tables, BacklogConfig, BacklogStats> = {
  name: 'backlog',
  tables,
  fold: (config, context) => new BacklogFold(config, context),
};

interface Samples extends Prepared {
  decoded: BacklogSampled;
  skip?: ReadonlySet<number>;
}

/**
 * Snapshots are recomputed per team from its samples, because a sample imported late changes
 * `change` and `gapDays` of the next date; only rows that differ are written. On restart the state
 * is read back from the tables, and snapshots written for another time zone are corrected.
 */
class BacklogFold implements Fold<Tables, BacklogStats> {
  readonly stats: BacklogStats = { samples: 0, duplicates: 0 };
  private readonly state = new BacklogSamples();
  /** team → date → signature of the row as stored. */
  private readonly written = new Map<string, Map<string, string>>();
  private readonly dirty = new Set<string>();
  private pendingSamples: Row[] = [];
  private tables?: Tables;

  constructor(private readonly config: BacklogConfig, private readonly context: FoldContext) {}

  async open(opened: Tables, checkpoint: Checkpoint | undefined): Promise<void> {
    this.tables = opened;
    if (checkpoint === undefined) return;
    for (const row of await opened.samples.list()) {
      if (this.state.add({ team: row.partition[0], sampledAtMs: Date.parse(row.row), count: Number(row.fields.count) })) this.stats.samples++;
    }
    for (const row of await opened.daily.list()) {
      const team = row.partition[0];
      let dates = this.written.get(team);
      if (!dates) this.written.set(team, (dates = new Map()));
      dates.set(row.row, signature(row.fields));
    }
    for (const team of [...this.state.teams(), ...this.written.keys()]) this.dirty.add(team);
  }

  /** The backlog samples of a record; undefined for other records, and for one that does not decode (quarantined). */
  prepare(record: LogRecord, { skip }: { skip?: ReadonlySet<number> }): Samples | undefined {
    try {
      if (!isKnownRecordType(record.payload)) throw new CorruptLogError(`unknown record type ${record.payload[0]}`);
      const event = decodeBacklog(record.payload);
      return event && { decoded: event, skip };
    } catch (error) {
      this.context.quarantine(undecodable('backlog', record, error));
      return undefined;
    }
  }

  apply(record: LogRecord, { decoded, skip }: Samples): void {
    decoded.samples.forEach((s, i) => {
      if (!skip?.has(i)) this.add(s, decoded.source, record.position);
    });
  }

  pending(): boolean {
    return this.pendingSamples.length > 0;
  }

  take(): FlushWork {
    const sampleRows = this.pendingSamples;
    this.pendingSamples = [];
    const dailyRows: Row[] = [];
    const stale: [string, string][] = [];
    const teamRows: Row[] = [];
    for (const team of this.dirty) {
      const snapshots = dailySnapshots(this.state.of(team), this.config.timezoneOf?.(team) ?? this.config.timezone);
      const before = this.written.get(team) ?? new Map<string, string>();
      const after = new Map<string, string>();
      for (const s of snapshots) {
        const fields = snapshotFields(s);
        const sig = signature(fields);
        after.set(s.date, sig);
        if (before.get(s.date) !== sig) dailyRows.push({ partition: [team], row: s.date, fields });
      }
      for (const date of before.keys()) if (!after.has(date)) stale.push([team, date]);
      this.written.set(team, after);
      teamRows.push(teamRow(team, snapshots));
    }
    this.dirty.clear();
    const t = this.tables!;
    return {
      empty: sampleRows.length + dailyRows.length + stale.length + teamRows.length === 0,
      async write() {
        await t.samples.upsert(sampleRows);
        await t.daily.upsert(dailyRows);
        for (const [team, date] of stale) await t.daily.delete([team], date);
        await t.teams.upsert(teamRows);
      },
    };
  }

  private add(sample: BacklogSample, source: BacklogSource, position: number): void {
    if (!this.state.add(sample)) {
      this.stats.duplicates++;
      return;
    }
    this.stats.samples++;
    this.dirty.add(sample.team);
    this.pendingSamples.push({
      partition: [sample.team],
      row: new Date(sample.sampledAtMs).toISOString(),
      fields: { count: sample.count, source, query: sample.query ?? null, position },
    });
  }
}

/** The stored fields of a snapshot (the date is the row key). */
function snapshotFields(s: DailySnapshot): Record<string, FieldValue> {
  return { count: s.count, sampledAt: new Date(s.sampledAtMs).toISOString(), samples: s.samples, change: s.change, gapDays: s.gapDays };
}

function signature(f: Readonly<Record<string, FieldValue>>): string {
  return JSON.stringify([f.count, f.sampledAt, f.samples, f.change ?? null, f.gapDays]);
}

function teamRow(team: string, snapshots: readonly DailySnapshot[]): Row {
  const last = snapshots[snapshots.length - 1];
  return {
    partition: ['teams'],
    row: team,
    fields: {
      from: snapshots[0]?.date ?? null,
      to: last?.date ?? null,
      snapshots: snapshots.length,
      samples: snapshots.reduce((n, s) => n + s.samples, 0),
      latestCount: last?.count ?? null,
    },
  };
}
