import type { EventLog, FieldValue, LogRecord, Row, RowTable, TableStore } from '../src/core/ports';
import type { BacklogSample, BacklogSampled, BacklogSource } from '../src/core/events';
import { decodeBacklog } from '../src/core/backlogCodec';
import { CorruptLogError } from '../src/core/errors';
import { isKnownRecordType } from '../src/core/logCodec';
import { undecodable, type QuarantineEntry, type QuarantineSink } from '../src/core/quarantine';
import { BacklogSamples, dailySnapshots, type DailySnapshot } from '../projections/backlogDaily';
import { backlogTables } from '../projections/projectionCatalog';
import type { Checkpoint, ProjectionVersions } from './projectionVersions';
import { isCareful, type Careful } from './ProjectorRestarts';
import { QuarantineLedger } from './QuarantineLedger';
import { setAside } from './setAside';

export interface BacklogProjectorOptions {
  log: EventLog;
  tables: TableStore;
  versions: ProjectionVersions;
  tablePrefix: string;
  version: number;
  /** The backlog time zone: local dates are dates there. */
  timezone: string;
  /** A team's own zone (BACKLOG_TEAMS), when it has one: its dates are dates there. */
  timezoneOf?: (team: string) => string;
  /** Follow the log's tail (the service) or stop at its end (a rebuild). */
  follow: boolean;
  flushIntervalMs: number;
  /** Called with the resume point at the start, then once per batch with how far the fold has come. */
  onProgress?: (position: number) => void;
  now?: () => number;
  /** The log partition folded ('' for the whole file log). A team's samples are all in one partition. */
  scope?: string;
  /** After each checkpoint is durable. */
  onCheckpoint?: (checkpoint: Checkpoint) => Promise<void>;
  /** A restart after a failure: write after each record up to `careful.through` (see ProjectorRestarts). */
  careful?: Careful;
  /** Also told of every entry this projector quarantines (its own ledger keeps them). */
  quarantine?: QuarantineSink;
}

export interface BacklogProjectorStats {
  position: number;
  /** Distinct samples folded in. */
  samples: number;
  /** Samples whose identity (team + instant) was already known: they changed nothing. */
  duplicates: number;
}

interface Tables {
  daily: RowTable;
  samples: RowTable;
  teams: RowTable;
  quarantine: QuarantineLedger;
}

/**
 * Folds `BacklogSampled` events into the BacklogDaily projection: every distinct sample (one row
 * per identity), each team's daily snapshots (partition team, row local date) and a row per team.
 * Snapshots are recomputed per team from its samples, because a sample imported late changes
 * `change` and `gapDays` of the next date; only rows that differ are written. Writes come before
 * the checkpoint and are idempotent; on restart the state is read back from the tables, and
 * snapshots written for another time zone are corrected.
 */
export class BacklogProjector {
  readonly stats: BacklogProjectorStats = { position: 0, samples: 0, duplicates: 0 };
  private readonly state = new BacklogSamples();
  /** team → date → signature of the row as stored. */
  private readonly written = new Map<string, Map<string, string>>();
  private readonly dirty = new Set<string>();
  private pendingSamples: Row[] = [];
  private flushes = 0;
  private ledger?: QuarantineLedger;
  /** Just after the last record read. */
  readThrough = 0;

  constructor(private readonly options: BacklogProjectorOptions) {}

  /** Entries in this version's quarantine ledger (of this scope), as of the records read. */
  get quarantined(): number {
    return this.ledger?.count ?? 0;
  }

  /** Runs until the log's end (follow: false) or until `signal` aborts (follow: true). */
  async run(signal?: AbortSignal): Promise<BacklogProjectorStats> {
    const { log, tables, versions, version, follow, flushIntervalMs, careful } = this.options;
    const now = this.options.now ?? Date.now;
    const names = backlogTables(this.options.tablePrefix, version, this.options.scope);
    const [daily, samples, teams, quarantineTable] = await Promise.all([
      tables.rowTable(names.daily), tables.rowTable(names.samples), tables.rowTable(names.teams), tables.rowTable(names.quarantine),
    ]);
    const checkpoint = await versions.checkpoint('backlog', version, this.options.scope);
    let position = checkpoint?.position ?? 0;
    const quarantine = await QuarantineLedger.open(quarantineTable, { from: position, counted: { before: position, entries: checkpoint?.quarantined ?? 0 } });
    this.ledger = quarantine;
    const t: Tables = { daily, samples, teams, quarantine };
    if (checkpoint) await this.load(t);
    this.stats.position = position;
    this.readThrough = position;
    this.options.onProgress?.(position);
    let lastFlush = now();
    for await (const batch of log.read(position, { follow, signal })) {
      for (const record of batch) {
        this.readThrough = record.next;
        const part = quarantine.partOf(record.position);
        const event = part === 'record' ? undefined : this.decode(record, quarantine);
        const skip = part instanceof Set ? part : undefined;
        event?.samples.forEach((s, i) => {
          if (!skip?.has(i)) this.take(s, event.source, record.position);
        });
        position = record.next;
        if (isCareful(careful, record.position) && careful.eachRecord) {
          try {
            await this.flush(t, position);
          } catch (error) {
            throw await setAside(error, record, { projection: 'backlog', ledger: quarantine, allowed: careful.quarantine, decoded: event });
          }
        }
      }
      this.options.onProgress?.(position);
      if (this.pendingSamples.length > 0 || quarantine.pending > 0 || now() - lastFlush >= flushIntervalMs) {
        await this.flush(t, position);
        lastFlush = now();
      }
    }
    await this.flush(t, position);
    return this.stats;
  }

  /** The backlog samples of a record; undefined for other records, and for one that does not decode (quarantined). */
  private decode(record: LogRecord, quarantine: QuarantineLedger): BacklogSampled | undefined {
    try {
      if (!isKnownRecordType(record.payload)) throw new CorruptLogError(`unknown record type ${record.payload[0]}`);
      return decodeBacklog(record.payload);
    } catch (error) {
      const entry: QuarantineEntry = undecodable('backlog', record, error);
      quarantine.take(entry);
      this.options.quarantine?.(entry);
      return undefined;
    }
  }

  private take(sample: BacklogSample, source: BacklogSource, position: number): void {
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

  private async load(t: Tables): Promise<void> {
    for (const row of await t.samples.list()) {
      if (this.state.add({ team: row.partition[0], sampledAtMs: Date.parse(row.row), count: Number(row.fields.count) })) this.stats.samples++;
    }
    for (const row of await t.daily.list()) {
      const team = row.partition[0];
      let dates = this.written.get(team);
      if (!dates) this.written.set(team, (dates = new Map()));
      dates.set(row.row, signature(row.fields));
    }
    for (const team of [...this.state.teams(), ...this.written.keys()]) this.dirty.add(team);
  }

  private async flush(t: Tables, position: number): Promise<void> {
    const sampleRows = this.pendingSamples;
    this.pendingSamples = [];
    const dailyRows: Row[] = [];
    const stale: [string, string][] = [];
    const teamRows: Row[] = [];
    for (const team of this.dirty) {
      const snapshots = dailySnapshots(this.state.of(team), this.options.timezoneOf?.(team) ?? this.options.timezone);
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
    const nothingNew = sampleRows.length + dailyRows.length + stale.length + teamRows.length === 0 && position === this.stats.position;
    if (nothingNew && this.flushes > 0) return; // an idle tail: no table I/O
    await t.samples.upsert(sampleRows);
    await t.daily.upsert(dailyRows);
    for (const [team, date] of stale) await t.daily.delete([team], date);
    await t.teams.upsert(teamRows);
    await t.quarantine.write();
    const saved: Checkpoint = { position, resumeFrom: position, maxEventTime: 0, atMs: Date.now(), quarantined: t.quarantine.count };
    await this.options.versions.saveCheckpoint('backlog', this.options.version, saved, this.options.scope);
    await this.options.onCheckpoint?.(saved);
    this.stats.position = position;
    this.flushes++;
  }
}

/** The stored fields of a snapshot (the date is the row key). */
export function snapshotFields(s: DailySnapshot): Record<string, FieldValue> {
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
