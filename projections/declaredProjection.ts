import { createHash } from 'node:crypto';
import type { LogRecord, Row, RowTable } from '../src/core/ports';
import type { ApplyHow, Checkpoint, FlushWork, Fold, FoldContext, OpenedTables, Prepared, Projection } from '../src/core/projection';
import { decodeEvent } from '../src/core/logCodec';
import type { Metric } from '../src/core/metric';
import { METRIC_GATE_VERSION, metricRejection } from '../src/core/metricRejection';
import { boundedJson } from '../src/core/boundedJson';
import { MAX_RAW_CHARS } from '../src/core/validateSpoc';
import { undecodable } from '../src/core/quarantine';
import type { ProjectionDefinition } from '../src/core/projectionDefinition';
import { aggregatesOf, DeclaredWindows, type DeclaredWindow, type DeclaredWindowOptions } from './declaredWindows';
import { windowOfRow, windowRow } from './declaredRows';
import { EVENT_HUBS_LATE_SPAN, FILE_LOG_LATE_SPAN, LateLedger } from './lateLedger';
import { rowTableSpec } from './projectionTables';

/**
 * A declared projection's tables, named after a digest of its name (a name of 48 characters
 * would not fit a table name beside the prefix, version and scope): its windows, its late ledger
 * (pages, as the windows projection's) and its quarantine ledger, each per log partition.
 */
export function declaredTables(name: string) {
  const base = `Dp${createHash('sha256').update(name).digest('hex').slice(0, 12)}`;
  return {
    windows: rowTableSpec(base, { scoped: true }),
    late: rowTableSpec(`${base}Late`, { scoped: true }),
    quarantine: rowTableSpec(`${base}Q`, { scoped: true }),
  };
}
export type DeclaredTables = ReturnType<typeof declaredTables>;

/** A window revision of a declared projection, as the API and its stream show it (DESIGN §7). */
export interface DeclaredWindowEvent {
  name: string;
  windowStart: number;
  group: Record<string, string | null>;
  revision: number;
  [aggregate: string]: unknown;
}

export interface DeclaredConfig {
  windows: DeclaredWindowOptions;
  /** Told every window revision as it is emitted (the service's stream); a rebuild leaves it out. */
  onWindow?: (event: DeclaredWindowEvent) => void;
}

export interface DeclaredStats {
  metrics: number;
  windowsEmitted: number;
  revisions: number;
  late: number;
  watermark: number;
}

/** The event of a window revision: its group by field name, the definition's aggregates, the revision. */
export function eventOf(definition: ProjectionDefinition, w: Pick<DeclaredWindow, 'windowStart' | 'group' | 'revision' | 'count' | 'sum' | 'min' | 'max' | 'sketch' | 'vms'> & { vmCount?: number }): DeclaredWindowEvent {
  const group = Object.fromEntries(definition.groupBy.map((field, i) => [field, w.group[i] ?? null]));
  return { name: definition.name, windowStart: w.windowStart, group, ...aggregatesOf(w, definition.aggregates), revision: w.revision };
}

/** The row that says which window is the newest stored (readers answer the newest 60 windows by default). */
export const NEWEST = { partition: ['newest'], row: 'newest' } as const;
const newestRow = (windowStart: number): Row => ({ ...NEWEST, fields: { windowStart } });

/** The projection an analyst declared, run by the one projector loop like the built-in ones. */
export function declaredProjection(definition: ProjectionDefinition): Projection<DeclaredTables, DeclaredConfig, DeclaredStats> {
  return {
    name: definition.name,
    tables: declaredTables(definition.name),
    fold: (config, context) => new DeclaredFold(definition, config, context),
  };
}

interface Kept extends Prepared {
  metrics: Metric[];
  indexes: number[];
}

class DeclaredFold implements Fold<OpenedTables<DeclaredTables>, DeclaredStats> {
  readonly stats: DeclaredStats = { metrics: 0, windowsEmitted: 0, revisions: 0, late: 0, watermark: -Infinity };
  readonly tickMs?: number;
  private fold?: DeclaredWindows;
  private tables?: OpenedTables<DeclaredTables>;
  /** Rows of window revisions waiting for the next flush, by row key (the latest revision wins). */
  private waiting = new Map<string, Row>();
  private readonly late: LateLedger;
  /** The newest window start written: readers default to the newest windows. */
  private newest = -Infinity;

  constructor(private readonly definition: ProjectionDefinition, private readonly config: DeclaredConfig, private readonly context: FoldContext) {
    this.late = new LateLedger(context.scope ? EVENT_HUBS_LATE_SPAN : FILE_LOG_LATE_SPAN);
    if (context.follow) this.tickMs = Math.min(1000, config.windows.idleCloseSeconds * 1000);
  }

  async open(tables: OpenedTables<DeclaredTables>, checkpoint: Checkpoint | undefined): Promise<void> {
    this.tables = tables;
    if (!checkpoint) {
      this.fold = new DeclaredWindows(this.definition, this.config.windows);
      return;
    }
    const newest = await tables.windows.get(NEWEST.partition, NEWEST.row);
    if (newest) this.newest = Number(newest.fields.windowStart);
    // A window after the newest stored is not in the store: the live tail reads no row for a new window.
    this.fold = new DeclaredWindows(this.definition, this.config.windows, { maxEventTime: checkpoint.maxEventTime, storedThrough: this.newest });
    this.late.resume(await tables.late.list(this.late.spanQuery(checkpoint.resumeFrom)));
  }

  async prepare(record: LogRecord, { skip }: ApplyHow): Promise<Kept | undefined> {
    let event;
    try {
      event = decodeEvent(record.payload);
    } catch (error) {
      this.context.quarantine(undecodable(this.definition.name, record, error));
      return undefined;
    }
    if (event.type !== 'MetricsReceived' || event.metrics.length === 0) return undefined;
    const kept: Kept = { metrics: [], indexes: [], decoded: event };
    // A record written before the ingest gate: its metrics pass the gate here, as the windows projection's do.
    const limits = (event.gate ?? 0) < METRIC_GATE_VERSION ? { arrivalMs: Math.max(record.appendedAtMs, event.receivedAtMs), maxFutureSeconds: this.config.windows.maxFutureSeconds } : undefined;
    event.metrics.forEach((m, index) => {
      if (skip?.has(index)) return;
      const refused = limits && metricRejection(m, limits);
      if (refused !== undefined) {
        this.context.quarantine({ projection: this.definition.name, position: record.position, index, reason: refused, raw: boundedJson(m, MAX_RAW_CHARS) });
        return;
      }
      kept.metrics.push(m);
      kept.indexes.push(index);
    });
    if (kept.metrics.length === 0) return undefined;
    await this.restore(kept.metrics);
    return kept;
  }

  apply(record: LogRecord, kept: Kept): void {
    const fold = this.fold!;
    this.stats.metrics += kept.metrics.length;
    this.emit(fold.tick(record.appendedAtMs));
    const step = fold.add(kept.metrics, record.position, record.next, record.appendedAtMs);
    this.emit(step.windows);
    for (const late of step.late) {
      const m = late.metric;
      this.late.add({ position: late.position, index: kept.indexes[late.index], key: m.key, tenant: m.tenant, vm: m.vm, t: m.t, value: m.value, watermark: late.watermark });
    }
    this.stats.late += step.late.length;
  }

  tick(nowMs: number): void {
    this.emit(this.fold!.tick(nowMs));
  }

  end(): void {
    this.emit(this.fold!.closeAll());
  }

  take(position: number): FlushWork {
    const fold = this.fold!;
    const t = this.tables!;
    const rows = [...this.waiting.values()];
    this.waiting = new Map();
    const newest = rows.reduce((max, r) => Math.max(max, Number(r.fields.windowStart)), -Infinity);
    if (newest > this.newest) {
      this.newest = newest;
      rows.push(newestRow(newest));
    }
    const lateRows = this.late.take();
    // Where a restart must re-read from, as of what this flush writes: the fold goes on while it is written,
    // and a window that closes meanwhile is written only by the next flush, so it must still count as open here.
    const resume = fold.resumePoint(position);
    return {
      empty: rows.length + lateRows.length === 0,
      write: async () => {
        await Promise.all([t.windows.upsert(rows), t.late.upsert(lateRows)]);
      },
      resume: () => resume,
      done: async () => {
        this.stats.watermark = fold.watermark;
        this.stats.windowsEmitted = fold.emitted.windows;
        this.stats.revisions = fold.emitted.revisions;
      },
    };
  }

  /** Reads the stored rows of windows the metrics may revise that are not in memory (closed before a restart). */
  private async restore(metrics: readonly Metric[]): Promise<void> {
    const fold = this.fold!;
    const wanted = fold.lookups(metrics);
    if (wanted.length === 0) return;
    const table: RowTable = this.tables!.windows;
    await Promise.all(wanted.map(async (w) => {
      const key = windowRow(this.definition.window, { windowStart: w.windowStart, group: w.group, count: 0, sum: 0, min: 0, max: 0, revision: 0, appliedThrough: 0 });
      // A revision not yet written (waiting for the flush) is newer than the stored row.
      const row = this.waiting.get(`${key.partition[0]}|${key.row}`) ?? (await table.get(key.partition, key.row));
      fold.restore(w.id, row ? windowOfRow(row) : null);
    }));
  }

  private emit(windows: readonly DeclaredWindow[]): void {
    for (const w of windows) {
      const row = windowRow(this.definition.window, w);
      this.waiting.set(`${row.partition[0]}|${row.row}`, row);
      this.config.onWindow?.(eventOf(this.definition, w));
    }
  }
}
