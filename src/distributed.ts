import { Subject, type Observable } from 'rxjs';
import { earliestEventPosition, type CheckpointStore, type EventHubConsumerClient, type EventPosition } from '@azure/event-hubs';
import type { Settings } from './config/settings';
import type { TableStore } from './core/ports';
import { windowEvent, type WindowEvent } from './core/windowMath';
import { checkpointContainerFor, createCheckpointStore, createConsumer } from './adapters/eventHubs/azureClients';
import { EventHubsProcessor } from './adapters/eventHubs/EventHubsProcessor';
import type { HubHistory } from './adapters/eventHubs/HubHistory';
import { PartitionFeed } from './adapters/eventHubs/PartitionFeed';
import { DuplicateFilter } from './adapters/eventHubs/DuplicateFilter';
import { decodeBlock, slotStartOf, type MinuteWindow } from '../projections/minuteBlocks';
import { logKeysTable, scopeOfPartition } from '../projections/projectionCatalog';
import { openMerged } from '../projections/projectionTables';
import { emptyAggregate, mergeAggregate } from './core/mergeAggregate';
import type { ProjectionVersions } from '../streams/projectionVersions';
import type { ConsumerLag, FailingProjector } from './localProjections';
import { windowsProjection, type WindowsStats } from '../projections/windowsProjection';
import type { RejectsStats } from '../projections/rejectsProjection';
import { ProjectorRestarts, type RestartableProjector, type RunContext } from '../streams/ProjectorRestarts';
import { ActiveVersions, type VersionSwitch } from '../streams/ActiveVersions';
import { sameHostedVersions, type HostedProjection, type HostedRun, type HostedVersion } from '../streams/hostedProjection';
import { SerialQueue } from '../streams/SerialQueue';
import { CrossTenantFinals } from '../streams/CrossTenantFinals';
import type { Checkpoint } from '../streams/projectionVersions';
import type { ProjectionName } from '../projections/projectionCatalog';
import { builtInHosted } from './builtInHosted';

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

/** The projectors of one owned partition: the current run of each projection's, and their supervisors, by projection. */
interface PartitionProjectors {
  runs: Map<string, HostedRun>;
  restarts: Map<string, ProjectorRestarts<unknown>>;
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
  /** What the hub no longer retains: read from Event Hubs Capture, or recorded as a gap. */
  history?: HubHistory;
  /** Where reads for the API find the partitions' checkpoints (finalThrough): a store that fails fast in an outage; default `versions`. */
  readVersions?: ProjectionVersions;
}

/**
 * The projections over an Event Hub: one EventHubsProcessor for the active versions, with its own
 * checkpoint container, sharing the partitions with every other instance on the same consumer
 * group; each owned partition runs every projection, built-in and declared, one projector each.
 * When a rebuild activates another version (ActiveVersions), or the declared projections run
 * change (`runDeclared`), the processor is replaced by one for the new set; its projectors resume
 * from their checkpoints.
 */
export class DistributedProjections {
  private current?: { processor: EventHubsProcessor; consumer: EventHubConsumerClient; declared: readonly HostedVersion[] };
  /** The built-in projections' versions the processor runs (or last ran). */
  private launched: Readonly<Record<string, number>> = {};
  /** The declared projections to run, as last told. */
  private declared: readonly HostedVersion[] = [];
  /** Launches, switches and stops, one at a time. */
  private readonly changes = new SerialQueue();
  private started = false;
  private stopped = false;
  private readonly projectors = new Map<string, PartitionProjectors>();
  private readonly hosted: HostedProjection[];
  private readonly active: ActiveVersions;
  private readonly out = new Subject<WindowEvent>();
  /** The hub's partitions, as the last launch found them. */
  private partitionIds?: string[];
  /** The last finalThrough read, of a version, and when (epoch ms). */
  private finalRead?: { version: number; atMs: number; value: Promise<number> };
  /** Every window revision the partitions owned here emit; cross-tenant ones merged over all partitions' shares. */
  readonly windows$: Observable<WindowEvent> = this.out.asObservable();
  private readonly finalOut = new Subject<WindowEvent>();
  /**
   * Final notices (`final: true`), at least once: of the per-VM windows of the partitions owned here
   * (a VM's windows are all in its tenant's partition, whose watermark alone decides; a partition's
   * new owner, or its projector after a restart, tells again those after the last checkpoint), and,
   * on the instance that owns the first partition, of the cross-tenant windows every partition has
   * passed (CrossTenantFinals).
   */
  readonly finals$: Observable<WindowEvent> = this.finalOut.asObservable();
  private readonly crossFinals: CrossTenantFinals;
  private crossFinalsTimer?: NodeJS.Timeout;

  constructor(private readonly options: DistributedOptions) {
    this.hosted = builtInHosted(options.settings, ({ version, scope }) => ({
      onWindow: (w) => this.out.next(w),
      onCrossTenantFlushed: async (partial) => {
        for (const w of await this.mergeCrossTenant(partial, version, scope)) this.out.next(w);
      },
      // A partition's cross-tenant windows are shares: final only once every partition has passed them (see finalThrough).
      finals: {
        told: (minute) => {
          for (const w of minute.windows) if (w.tenant !== undefined) this.finalOut.next(w);
        },
        durable: async () => undefined,
      },
    }));
    this.crossFinals = new CrossTenantFinals({
      tables: options.tables, versions: options.versions, tablePrefix: options.settings.tablePrefix,
      version: () => this.launched.windows ?? 0, partitions: () => this.partitionIds, told: (w) => this.finalOut.next(w),
    });
    this.active = new ActiveVersions({
      versions: options.versions, projections: this.hosted.map((h) => h.name), pollMs: options.versionPollMs ?? 2000,
      onSwitch: (switches) => this.switchVersions(switches),
      onError: (error) => options.onError?.(error as Error),
    });
  }

  get versions(): Record<ProjectionName, number> {
    const of = (name: ProjectionName) => this.launched[name] ?? 0;
    return { windows: of('windows'), rejects: of('rejects'), backlog: of('backlog') };
  }

  get stats(): DistributedStats {
    const all = [...this.projectors.entries()];
    const runs = <S>(name: string) => all.flatMap(([, p]) => {
      const stats = p.runs.get(name)?.stats;
      return stats ? [stats as S & HostedRun['stats']] : [];
    });
    const windows = runs<WindowsStats>('windows');
    return {
      partitions: all.map(([id]) => id).sort(),
      metrics: sum(windows.map((w) => w.metrics)),
      late: sum(windows.map((w) => w.late)),
      windowsEmitted: sum(windows.map((w) => w.windowsEmitted)),
      revisions: sum(windows.map((w) => w.revisions)),
      watermark: windows.length === 0 ? -Infinity : Math.min(...windows.map((w) => w.watermark)),
      rejected: sum(runs<RejectsStats>('rejects').map((r) => r.rejected)),
      lastFlushAtMs: windows.length === 0 ? undefined : Math.min(...windows.map((w) => w.lastFlushAtMs)),
    };
  }

  /** The projectors of the partitions owned here that are down now. */
  get failing(): FailingProjector[] {
    return [...this.projectors.entries()].sort(([a], [b]) => a.localeCompare(b)).flatMap(([partition, p]) =>
      [...p.restarts].flatMap(([projection, restarts]) => {
        const failing = restarts.failing;
        return failing ? [{ projection, partition, reason: failing.reason, since: failing.since }] : [];
      }));
  }

  get failure(): unknown {
    for (const p of this.projectors.values()) {
      for (const r of p.restarts.values()) if (r.failing) return r.failing.error;
    }
    return undefined;
  }

  /** Quarantine entries of the active versions, summed over the partitions owned here. */
  get quarantined(): Record<ProjectionName, number> {
    const all = [...this.projectors.values()];
    const of = (name: ProjectionName) => sum(all.map((p) => p.runs.get(name)?.quarantined ?? 0));
    return { windows: of('windows'), rejects: of('rejects'), backlog: of('backlog') };
  }

  /**
   * The least of every partition's final bound (its checkpoint's): a cross-tenant window has a share
   * in each partition, so it is final once each has passed it. A partition without a checkpoint yet
   * may still bring a share of any window, and one that receives nothing holds the bound where it
   * is. Read at most once a second.
   */
  finalThrough(): Promise<number> {
    const version = this.launched.windows;
    const ids = this.partitionIds;
    if (!version || !ids || ids.length === 0) return Promise.resolve(-Infinity);
    const last = this.finalRead;
    if (last && last.version === version && Date.now() - last.atMs < 1000) return last.value;
    const versions = this.options.readVersions ?? this.options.versions;
    const value = Promise.all(ids.map((id) => versions.checkpoint('windows', version, scopeOfPartition(id))))
      .then((checkpoints) => Math.min(...checkpoints.map((c) => c?.finalThrough ?? -Infinity)));
    this.finalRead = { version, atMs: Date.now(), value };
    value.catch(() => {
      if (this.finalRead?.value === value) this.finalRead = undefined;
    });
    return value;
  }

  /** Events per owned partition not yet processed, asked of the hub now. */
  async consumerLag(): Promise<ConsumerLag> {
    return { events: (await this.current?.processor.consumerLag()) ?? {} };
  }

  async start(): Promise<void> {
    await this.changes.run(async () => {
      const versions = await this.active.start();
      this.started = true;
      await this.launch(versions);
    });
    this.startCrossFinals();
  }

  async stop(): Promise<void> {
    if (this.crossFinalsTimer) clearInterval(this.crossFinalsTimer);
    await this.active.stop();
    await this.changes.run(async () => {
      this.stopped = true;
      await this.halt();
    });
  }

  /**
   * Runs these declared projections in every owned partition beside the built-in ones: a processor
   * for the new set replaces this one. Its checkpoint container is the new set's, so each partition
   * is read again from the earliest record any projection's own checkpoint still needs (see
   * startPositions). Told before `start`, the first processor runs them.
   */
  async runDeclared(wanted: readonly HostedVersion[]): Promise<void> {
    await this.changes.run(async () => {
      this.declared = [...wanted];
      if (!this.started || this.stopped) return;
      if (this.current && sameHostedVersions(this.current.declared, wanted)) return;
      await this.halt();
      await this.launch(this.launched);
    });
  }

  /** A rebuild activated other versions: a processor for the new ones replaces this one (a failed launch is tried again at the next poll). */
  private async switchVersions(switches: VersionSwitch[]): Promise<void> {
    await this.changes.run(async () => {
      if (this.stopped) return;
      const next = { ...this.launched, ...Object.fromEntries(switches.map(({ projection, to }) => [projection, to])) };
      await this.halt();
      await this.launch(next);
    });
  }

  private async launch(active: Readonly<Record<string, number>>): Promise<void> {
    const { settings, tables, versions } = this.options;
    const declared = this.declared;
    const runs: HostedVersion[] = [...this.hosted.map((hosted) => ({ hosted, version: active[hosted.name] })), ...declared];
    const container = checkpointContainerFor(
      settings.checkpointContainer, { windows: active.windows, rejects: active.rejects, backlog: active.backlog },
      declared.map(({ hosted, version }) => ({ name: hosted.name, version })),
    );
    const { consumer, checkpointStore } = this.options.connect
      ? await this.options.connect(container)
      : await (async () => {
        const store = await createCheckpointStore(settings, container);
        return { consumer: createConsumer(settings, store), checkpointStore: store };
      })();
    const startFrom = await this.startPositions(consumer, runs).catch(async (error: unknown) => {
      await consumer.close();
      throw error;
    });
    const processor = new EventHubsProcessor({
      consumer,
      checkpointStore,
      startFrom,
      duplicates: new DuplicateFilter(await tables.rowTable(logKeysTable(settings.tablePrefix))),
      history: this.options.history,
      // Every projection of the set, declared ones included: the earliest record any of them still needs.
      resumeFloor: async (partitionId) => {
        const scope = scopeOfPartition(partitionId);
        const points = await Promise.all(runs.map(async ({ hosted, version }) => (await versions.checkpoint(hosted.name, version, scope))?.resumeFrom ?? 0));
        return points.length === 0 ? 0 : Math.min(...points);
      },
      onError: this.options.onError,
      createWork: (partitionId, onCheckpoint) => {
        const scope = scopeOfPartition(partitionId);
        const feeds = runs.map(() => new PartitionFeed(partitionId));
        const entry: PartitionProjectors = { runs: new Map(), restarts: new Map() };
        runs.forEach(({ hosted, version }, i) => {
          /** Run `context` of projection i: its careful pass, and checkpoints that its supervisor, its feed and the hub follow. */
          const create = (context: RunContext) => {
            const run = hosted.projector({
              log: feeds[i], tables, versions, tablePrefix: settings.tablePrefix, version, scope,
              follow: true, flushIntervalMs: settings.flushIntervalMs, careful: context.careful,
              onCheckpoint: async (checkpoint: Checkpoint) => {
                context.checkpointed(checkpoint.position);
                feeds[i].forgetBefore(checkpoint.resumeFrom);
                await onCheckpoint(i)(checkpoint);
              },
            });
            entry.runs.set(hosted.name, run);
            return run;
          };
          entry.restarts.set(hosted.name, this.restarts(partitionId, hosted.name, create));
        });
        this.projectors.set(partitionId, entry);
        return {
          feeds,
          run: async (signal) => {
            try {
              await Promise.all([...entry.restarts.values()].map((r) => r.run(signal)));
            } finally {
              if (this.projectors.get(partitionId) === entry) this.projectors.delete(partitionId);
            }
          },
        };
      },
    });
    this.current = { processor, consumer, declared };
    this.launched = { ...active };
    processor.start();
  }

  /**
   * Where each partition is read from while the checkpoint container holds no checkpoint of it
   * (a new set of versions): the earliest record any of `runs` still needs by its own checkpoint of
   * that partition's scope; the earliest event retained when one has none, or needs one no longer retained.
   */
  private async startPositions(consumer: EventHubConsumerClient, runs: readonly HostedVersion[]): Promise<Record<string, EventPosition>> {
    const { versions } = this.options;
    const positions: Record<string, EventPosition> = {};
    this.partitionIds = await consumer.getPartitionIds();
    for (const id of this.partitionIds) {
      const checkpoints = await Promise.all(runs.map(({ hosted, version }) => versions.checkpoint(hosted.name, version, scopeOfPartition(id))));
      const from = checkpoints.some((c) => c === undefined) ? undefined : Math.min(...checkpoints.map((c) => c!.resumeFrom));
      const retained = from === undefined ? undefined : (await consumer.getPartitionProperties(id)).beginningSequenceNumber;
      positions[id] = from === undefined || from < retained! ? earliestEventPosition : { sequenceNumber: from, isInclusive: true };
    }
    return positions;
  }

  /**
   * A partition's share of cross-tenant windows, just made durable, combined with the other
   * scopes' stored shares. Each partition does this after its own write, so of two partitions
   * closing the same window the later one reads both shares: the last revision emitted is whole.
   * The revision of a combined window is the sum of the shares' revisions; VM counts add (a
   * tenant lives in one partition), a partition without data in the window counting the VMs it
   * expects there.
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
      shares.set(idOf(w), new Map((block ? decodeBlock(block, { expectedOnly: true }).get('') ?? [] : []).map((x) => [x.windowStart, x])));
    }
    return partial.map((w) => {
      const other = shares.get(idOf(w))!.get(w.windowStart);
      const whole = mergeAggregate({ count: w.count, sum: w.sum, min: w.min, max: w.max }, other && other.count > 0 ? other : emptyAggregate());
      const merged = windowEvent(whole, w.key, w.windowStart, w.revision + (other?.revision ?? 0));
      if (w.vms !== undefined) merged.vms = w.vms + (other?.vms ?? 0);
      if (w.expectedVms !== undefined) merged.expectedVms = w.expectedVms + (other?.expectedVms ?? 0);
      return merged;
    });
  }

  /** Every flush interval, while this instance owns the first partition: the cross-tenant windows that became final. */
  private startCrossFinals(): void {
    let running = false;
    let failing = false;
    this.crossFinalsTimer = setInterval(() => {
      const first = this.partitionIds?.[0];
      if (running || first === undefined || !this.projectors.has(first)) return;
      running = true;
      this.crossFinals.pass().then(() => {
        failing = false;
      }, (error: unknown) => {
        if (!failing) this.options.onError?.(new Error(`final cross-tenant windows: ${(error as Error).message}; trying again`));
        failing = true;
      }).finally(() => {
        running = false;
      });
    }, this.options.settings.flushIntervalMs);
    this.crossFinalsTimer.unref();
  }

  /** The supervisor of one projector of one partition: no failure of the projector ends the partition's work. */
  private restarts(partitionId: string, projection: string, create: (context: RunContext) => RestartableProjector<unknown>): ProjectorRestarts<unknown> {
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
    this.current = undefined;
    await current.processor.stop();
    await current.consumer.close();
  }
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
