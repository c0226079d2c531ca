import { Subject, type Observable } from 'rxjs';
import type { CheckpointStore, EventHubConsumerClient } from '@azure/event-hubs';
import type { Settings } from './config/settings';
import type { TableStore } from './core/ports';
import { windowEvent, type WindowEvent } from './core/windowMath';
import { checkpointContainerFor, createCheckpointStore, createConsumer } from './adapters/eventHubs/azureClients';
import { EventHubsProcessor } from './adapters/eventHubs/EventHubsProcessor';
import { PartitionFeed } from './adapters/eventHubs/PartitionFeed';
import { DuplicateFilter } from './adapters/eventHubs/DuplicateFilter';
import { decodeBlock, slotStartOf, type MinuteWindow } from '../projections/minuteBlocks';
import { logKeysTable, scopeOfPartition } from '../projections/projectionCatalog';
import { openMerged } from '../projections/projectionTables';
import { emptyAggregate, mergeAggregate } from './core/mergeAggregate';
import type { ProjectionVersions } from '../streams/projectionVersions';
import type { ConsumerLag, FailingProjector } from './localProjections';
import { Projector } from '../streams/Projector';
import { rejectsProjection, type RejectsStats } from '../projections/rejectsProjection';
import { windowsProjection, type WindowsConfig, type WindowsStats } from '../projections/windowsProjection';
import { backlogProjection, type BacklogConfig, type BacklogStats } from '../projections/backlogProjection';
import { backlogConfig } from './composeBacklog';
import { ProjectorRestarts, type RestartableProjector, type RunContext } from '../streams/ProjectorRestarts';
import type { Checkpoint } from '../streams/projectionVersions';
import type { ProjectionName } from '../projections/projectionCatalog';

/** The figures /healthz and /metrics show, summed over the partitions this instance owns. */
export interface DistributedStats {
  partitions: string[];
  metrics: number;
  late: number;
  windowsEmitted: number;
  revisions: number;
  /** The slowest owned partition's watermark (event time, epoch seconds). */
  watermark: number;
  rejected: number;
  /** The oldest last flush of the owned partitions' windows projectors (epoch ms); undefined when none is owned. */
  lastFlushAtMs?: number;
}

/** The projectors of one owned partition (the current run of each) and their supervisors. */
interface PartitionProjectors {
  windows?: Projector<typeof windowsProjection.tables, WindowsConfig, WindowsStats>;
  rejects?: Projector<typeof rejectsProjection.tables, void, RejectsStats>;
  backlog?: Projector<typeof backlogProjection.tables, BacklogConfig, BacklogStats>;
  restarts: Record<ProjectionName, ProjectorRestarts<unknown>>;
}

export interface DistributedOptions {
  settings: Settings;
  tables: TableStore;
  versions: ProjectionVersions;
  /** How often the active versions are looked up (a rebuild may have switched them). */
  versionPollMs?: number;
  /** For tests: a consumer and a checkpoint store made elsewhere (else from the settings). */
  connect?: (container: string) => Promise<{ consumer: EventHubConsumerClient; checkpointStore: CheckpointStore }>;
  onError?: (error: Error, partitionId?: string) => void;
  /** Told when a projector folds again with care and when it quarantined a record. */
  onNote?: (line: string, partitionId: string) => void;
}

/**
 * The projections over an Event Hub: one EventHubsProcessor for the active pair of versions
 * (windows, rejects), with its own checkpoint container, sharing the partitions with every
 * other instance on the same consumer group. When a rebuild activates another version, the
 * processor is replaced by one for the new pair; its projectors resume from their checkpoints.
 */
export class DistributedProjections {
  private current?: { windows: number; rejects: number; backlog: number; processor: EventHubsProcessor; consumer: EventHubConsumerClient };
  private readonly projectors = new Map<string, PartitionProjectors>();
  private timer?: NodeJS.Timeout;
  private switching?: Promise<void>;

  constructor(private readonly options: DistributedOptions) {}

  private readonly out = new Subject<WindowEvent>();
  /** Every window revision the partitions owned here emit; cross-tenant ones merged over all partitions' shares. */
  readonly windows$: Observable<WindowEvent> = this.out.asObservable();

  get versions(): { windows: number; rejects: number; backlog: number } {
    return { windows: this.current?.windows ?? 0, rejects: this.current?.rejects ?? 0, backlog: this.current?.backlog ?? 0 };
  }

  get stats(): DistributedStats {
    const all = [...this.projectors.entries()];
    const windows = all.flatMap(([, p]) => (p.windows ? [p.windows.stats] : []));
    return {
      partitions: all.map(([id]) => id).sort(),
      metrics: sum(windows.map((w) => w.metrics)),
      late: sum(windows.map((w) => w.late)),
      windowsEmitted: sum(windows.map((w) => w.windowsEmitted)),
      revisions: sum(windows.map((w) => w.revisions)),
      watermark: windows.length === 0 ? -Infinity : Math.min(...windows.map((w) => w.watermark)),
      rejected: sum(all.map(([, p]) => p.rejects?.stats.rejected ?? 0)),
      lastFlushAtMs: windows.length === 0 ? undefined : Math.min(...windows.map((w) => w.lastFlushAtMs)),
    };
  }

  /** The projectors of the partitions owned here that are down now. */
  get failing(): FailingProjector[] {
    return [...this.projectors.entries()].sort(([a], [b]) => a.localeCompare(b)).flatMap(([partition, p]) =>
      (['windows', 'rejects', 'backlog'] as const).flatMap((projection) => {
        const failing = p.restarts[projection].failing;
        return failing ? [{ projection, partition, reason: failing.reason, since: failing.since }] : [];
      }));
  }

  get failure(): unknown {
    for (const p of this.projectors.values()) {
      for (const r of Object.values(p.restarts)) if (r.failing) return r.failing.error;
    }
    return undefined;
  }

  /** Quarantine entries of the active versions, summed over the partitions owned here. */
  get quarantined(): Record<ProjectionName, number> {
    const all = [...this.projectors.values()];
    return {
      windows: sum(all.map((p) => p.windows?.quarantined ?? 0)),
      rejects: sum(all.map((p) => p.rejects?.quarantined ?? 0)),
      backlog: sum(all.map((p) => p.backlog?.quarantined ?? 0)),
    };
  }

  /** Events per owned partition not yet processed, asked of the hub now. */
  async consumerLag(): Promise<ConsumerLag> {
    return { events: (await this.current?.processor.consumerLag()) ?? {} };
  }

  async start(): Promise<void> {
    const { versions, versionPollMs = 2000 } = this.options;
    await this.launch({ windows: await versions.activeOrFirst('windows'), rejects: await versions.activeOrFirst('rejects'), backlog: await versions.activeOrFirst('backlog') });
    this.timer = setInterval(() => {
      this.switching ??= this.poll().catch((error: unknown) => this.options.onError?.(error as Error)).finally(() => (this.switching = undefined));
    }, versionPollMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.switching;
    await this.halt();
  }

  private async poll(): Promise<void> {
    const next = { ...this.versions };
    for (const p of ['windows', 'rejects', 'backlog'] as const) next[p] = (await this.options.versions.active(p)) ?? next[p];
    if (next.windows === this.versions.windows && next.rejects === this.versions.rejects && next.backlog === this.versions.backlog) return;
    await this.halt();
    await this.launch(next);
  }

  private async launch(active: { windows: number; rejects: number; backlog: number }): Promise<void> {
    const { settings, tables, versions } = this.options;
    const { windows: windowsVersion, rejects: rejectsVersion, backlog: backlogVersion } = active;
    const container = checkpointContainerFor(settings.checkpointContainer, active);
    const { consumer, checkpointStore } = this.options.connect
      ? await this.options.connect(container)
      : await (async () => {
        const store = await createCheckpointStore(settings, container);
        return { consumer: createConsumer(settings, store), checkpointStore: store };
      })();
    const out = this.out;
    const processor = new EventHubsProcessor({
      consumer,
      checkpointStore,
      duplicates: new DuplicateFilter(await tables.rowTable(logKeysTable(settings.tablePrefix))),
      onError: this.options.onError,
      createWork: (partitionId, onCheckpoint) => {
        const scope = scopeOfPartition(partitionId);
        const feeds = [new PartitionFeed(partitionId), new PartitionFeed(partitionId), new PartitionFeed(partitionId)];
        const common = { tables, versions, tablePrefix: settings.tablePrefix, follow: true, flushIntervalMs: settings.flushIntervalMs, scope };
        /** What run `context` of projector i gets: its careful pass, and checkpoints that its supervisor, its feed and the hub follow. */
        const run = (i: number, context: RunContext) => ({
          log: feeds[i], careful: context.careful,
          onCheckpoint: async (checkpoint: Checkpoint) => {
            context.checkpointed(checkpoint.position);
            feeds[i].forgetBefore(checkpoint.resumeFrom);
            await onCheckpoint(i)(checkpoint);
          },
        });
        const windowsConfig: WindowsConfig = {
          windows: settings,
          onWindow: (w) => out.next(w),
          onCrossTenantFlushed: async (partial) => {
            for (const w of await this.mergeCrossTenant(partial, windowsVersion, scope)) out.next(w);
          },
        };
        const entry: PartitionProjectors = {
          restarts: {
            windows: this.restarts(partitionId, 'windows', (context) =>
              (entry.windows = new Projector({ ...common, ...run(0, context), projection: windowsProjection, config: windowsConfig, version: windowsVersion }))),
            rejects: this.restarts(partitionId, 'rejects', (context) => (entry.rejects = new Projector({ ...common, ...run(1, context), projection: rejectsProjection, config: undefined, version: rejectsVersion }))),
            backlog: this.restarts(partitionId, 'backlog', (context) =>
              (entry.backlog = new Projector({ ...common, ...run(2, context), projection: backlogProjection, config: backlogConfig(settings), version: backlogVersion }))),
          },
        };
        this.projectors.set(partitionId, entry);
        return {
          feeds,
          run: async (signal) => {
            try {
              await Promise.all(Object.values(entry.restarts).map((r) => r.run(signal)));
            } finally {
              if (this.projectors.get(partitionId) === entry) this.projectors.delete(partitionId);
            }
          },
        };
      },
    });
    this.current = { ...active, processor, consumer };
    processor.start();
  }

  /**
   * A partition's share of cross-tenant windows, just made durable, combined with the other
   * scopes' stored shares. Each partition does this after its own write, so of two partitions
   * closing the same window the later one reads both shares: the last revision emitted is whole.
   * The revision of a combined window is the sum of the shares' revisions.
   */
  private async mergeCrossTenant(partial: readonly WindowEvent[], version: number, own: string): Promise<WindowEvent[]> {
    const { tables, versions, settings } = this.options;
    const others = (await versions.scopes('windows', version)).filter((s) => s !== own && s !== '');
    if (others.length === 0) return [...partial];
    const stored = await openMerged(tables, windowsProjection.tables.minute, { prefix: settings.tablePrefix, version, scopes: others });
    /** The other scopes' shares, merged, by key and slot, then by window start. */
    const shares = new Map<string, Map<number, MinuteWindow>>();
    const idOf = (w: WindowEvent) => `${w.key}\u0000${slotStartOf(w.windowStart)}`;
    for (const w of partial) {
      if (shares.has(idOf(w))) continue;
      const block = await stored.read([w.key], slotStartOf(w.windowStart));
      shares.set(idOf(w), new Map((block ? decodeBlock(block).get('') ?? [] : []).map((x) => [x.windowStart, x])));
    }
    return partial.map((w) => {
      const other = shares.get(idOf(w))!.get(w.windowStart);
      const whole = mergeAggregate({ count: w.count, sum: w.sum, min: w.min, max: w.max }, other ?? emptyAggregate());
      return windowEvent(whole, w.key, w.windowStart, w.revision + (other?.revision ?? 0));
    });
  }

  /** The supervisor of one projector of one partition: no failure of the projector ends the partition's work. */
  private restarts(partitionId: string, projection: ProjectionName, create: (context: RunContext) => RestartableProjector<unknown>): ProjectorRestarts<unknown> {
    const { onError, onNote, settings } = this.options;
    return new ProjectorRestarts<unknown>({
      create, settleMs: 5 * settings.flushIntervalMs,
      onFailure: (failure) => onError?.(failure.error instanceof Error ? failure.error : new Error(failure.reason), partitionId),
      onNote: (line) => onNote?.(`${projection} projector: ${line}`, partitionId),
    });
  }

  private async halt(): Promise<void> {
    const current = this.current;
    if (!current) return;
    await current.processor.stop();
    await current.consumer.close();
  }
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
