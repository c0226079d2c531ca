import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { config as rxjsConfig, merge, type Observable } from 'rxjs';
import type { Settings } from './config/settings';
import { createWindowStream } from './adapters/http/streamRoutes';
import type { StreamedWindowEvent, WindowFilter } from './core/windowStream';
import { FileWindowHistory, finalHistoryDir, windowHistoryDir } from './adapters/windowHistory/FileWindowHistory';
import { TableWindowHistory } from './adapters/windowHistory/TableWindowHistory';
import { WindowEventFeed } from '../streams/WindowEventFeed';
import { FinalWindowFeeds, finalFloorId } from '../streams/FinalWindowFeeds';
import { windowEvents } from '../streams/windowEvents';
import { openRuntime } from './runtime';
import { Ingestor } from './core/Ingestor';
import { InvalidInputError } from './core/errors';
import { validateSpocMessage } from './core/validateSpoc';
import { createApp } from './adapters/http/createApp';
import { answerClientErrors } from './adapters/http/answerClientErrors';
import { simulateSpoc } from './adapters/simulator/spocSimulator';
import { TableIdempotencyLedger } from './core/idempotencyLedger';
import { DistributedProjections } from './distributed';
import { HubHistory } from './adapters/eventHubs/HubHistory';
import { RetentionWatch } from './adapters/eventHubs/RetentionWatch';
import { captureArchiveFrom } from './adapters/capture/captureArchiveFrom';
import { LocalProjections, type ConsumerLag, type ProjectionHost } from './localProjections';
import { idempotencyTable, metaTable, type ProjectionName } from '../projections/projectionCatalog';
import { DeclaredHost } from './declaredHost';
import { ProjectionLedgers } from './projectionLedgers';
import { ProjectionStream } from './adapters/http/projectionStream';
import { openMerged } from '../projections/projectionTables';
import { rejectsProjection } from '../projections/rejectsProjection';
import { windowsProjection } from '../projections/windowsProjection';
import { TableWindowReads } from '../projections/TableWindowReads';
import { RecentWindows } from '../projections/RecentWindows';
import { ProjectionVersions } from '../streams/projectionVersions';
import { resolveSecrets } from './config/secrets';
import { startServiceBusIngestion } from './adapters/serviceBus/startServiceBusIngestion';
import { createConsumer, createProducer } from './adapters/eventHubs/azureClients';
import { PatientTableStore } from './adapters/tableStorage/PatientTableStore';
import { WindowEventPublisher } from './adapters/eventHubs/WindowEventPublisher';
import { dailyPollClientFrom, startBacklog } from './composeBacklog';
import { describeTailRepair } from './adapters/fileLog/repairTail';
import { serviceMetrics } from './adapters/metrics/serviceMetrics';
import { opsfoldMetrics } from './serviceMetricSpecs';
import { readQuarantine } from './readQuarantine';
import { PROJECTIONS } from '../projections/projectionCatalog';
import { HealthChecks } from './core/health';
import { flushHealth, storageHealth } from './serviceHealth';
import { superviseStorage } from './superviseStorage';
import { AZURITE_STOP_MS, closeServerInTime, FINAL_FLUSH_MS, STEP_MS, stopProjectionsInTime, stopStep } from './stopDeadlines';

/** A running service, as `startService` hands it to the CLI or to code that embeds opsfold. */
export interface Service {
  port: number;
  /**
   * Every emitted window revision matching `filter`, live; with `after` (an event id), first
   * what the durable history holds after it. The same events and ids as `GET /v1/stream/windows`
   * (`emit: 'final'`: each window once, when final, as `?emit=final`; on the file log only).
   */
  windowEvents(filter?: WindowFilter, options?: { after?: number; emit?: 'changes' | 'final' }): Observable<StreamedWindowEvent>;
  /**
   * Ends the window streams and the HTTP server, flushes and checkpoints (for at most
   * FINAL_FLUSH_MS: the rest is folded again from the log at the next start) and stops Azurite, last.
   */
  stop(): Promise<void>;
}

/**
 * The composition root: the log (file log, or an Event Hub), the Table endpoint (embedded
 * Azurite by default), the projectors, the window-event feed and its history, the ingestor and
 * its sources (HTTP, Service Bus, the simulator), the backlog poll, the read API and dashboard.
 */
export async function startService(configured: Settings): Promise<Service> {
  const note = (line: string) => process.stderr.write(`opsfold: ${line}\n`);
  // The last road of an error in a stream (a subscriber that threw): reported, never a crash. Projectors route their own to their supervisors.
  rxjsConfig.onUnhandledError = (error: unknown) => note(`unexpected error in a stream: ${(error as Error)?.message ?? String(error)}`);
  const settings = await resolveSecrets(configured, { log: note });
  const snowClient = dailyPollClientFrom(settings, note);
  const rt = await openRuntime(settings, { service: true, onLogRepair: (repair) => note(describeTailRepair(repair)) });
  const distributed = rt.distributed;
  // On Event Hubs the hub is the log: appends go to it, and keys are remembered in a table (the hub cannot be scanned at start).
  const ingestor = distributed
    ? new Ingestor(rt.appender, Date.now, new TableIdempotencyLedger(await rt.tables.rowTable(idempotencyTable(settings.tablePrefix))))
    : new Ingestor(rt.log);
  await ingestor.recover();
  // Projectors wait out a storage outage (retrying with backoff); the read API keeps the plain store and answers 503.
  let outageNoted = 0;
  const patient = new PatientTableStore(rt.tables, {
    onRetry: (error, attempt, operation) => {
      if (attempt === 1 || Date.now() - outageNoted > 60_000) note(`storage unavailable (${operation}: ${error.message}); retrying with backoff`);
      outageNoted = Date.now();
    },
  });
  const patientVersions = new ProjectionVersions(await patient.rowTable(metaTable(settings.tablePrefix)));
  // On Event Hubs: what the hub no longer retains is read from Event Hubs Capture when configured, else reported as a gap.
  const capture = distributed ? captureArchiveFrom(settings) : undefined;
  const hubHistory = distributed ? new HubHistory({ capture, onNote: note }) : undefined;
  // Per partition, what the hub retains and what Capture holds, for /healthz (looked up every minute).
  const retention = distributed ? new RetentionWatch(createConsumer(settings, undefined), capture, { onError: (e) => note(`Event Hubs retention: ${e.message}`) }) : undefined;
  retention?.start();
  // Beside the file log, each windows version's final notices are kept in a history of their own: its fold tells them,
  // and they are durable before its checkpoint passes them (see WindowsConfig.finals). On Event Hubs they go to the hub.
  const finalFeeds = distributed ? undefined : new FinalWindowFeeds(async (version) => WindowEventFeed.open({
    store: await FileWindowHistory.open(finalHistoryDir(settings.dataDir, settings.tablePrefix, version), { onRepair: note }),
    retentionHours: settings.windowHistoryHours, flushIntervalMs: settings.flushIntervalMs,
    floorId: finalFloorId(await patientVersions.checkpoint('windows', version)),
    onWriteError: (error) => note(`final-window history: a write failed, retrying: ${(error as Error).message}`),
    onError: (error) => note(`final-window feed: ${(error as Error).message}`),
  }));
  const projections: ProjectionHost = distributed
    ? new DistributedProjections({
      settings, tables: patient, versions: patientVersions, history: hubHistory, readVersions: rt.versions,
      onError: (e, p) => process.stderr.write(`opsfold: Event Hubs${p === undefined ? '' : ` partition ${p}`}: ${e.message}\n`),
      onNote: (line, p) => note(`Event Hubs partition ${p}: ${line}`),
    })
    : new LocalProjections({ settings, log: rt.log, tables: patient, versions: patientVersions, finals: finalFeeds && ((version) => finalFeeds.sink(version)) });
  const scopes = scopeCache(rt.versions);
  /** The tables of a projection's active version, of every scope, for reading. */
  const active = async (projection: ProjectionName) => {
    const version = projections.versions[projection];
    return { prefix: settings.tablePrefix, version, scopes: await scopes(projection, version) };
  };
  // Cross-tenant windows, the catalog and the ledgers are kept per log partition on Event Hubs: read them merged.
  const tableReads = new TableWindowReads({
    minute: async () => openMerged(rt.tables, windowsProjection.tables.minute, await active('windows')),
    vmMinute: async () => openMerged(rt.tables, windowsProjection.tables.vmMinute, await active('windows')),
    catalog: async () => openMerged(rt.tables, windowsProjection.tables.catalog, await active('windows')),
  });
  // Recent windows served from memory, kept current by every revision the fold emits: subscribed before the projectors
  // start, so that it sees every window the tables do not hold yet. Only on the file log: on Event Hubs an instance
  // sees the windows of the partitions it owns, not the others'.
  const recent = distributed || (settings.readCacheHours === 0 && settings.readCacheVmMinutes === 0) ? undefined : new RecentWindows({
    tables: tableReads, version: () => projections.versions.windows,
    crossMinutes: settings.readCacheHours * 60, vmMinutes: settings.readCacheVmMinutes,
    onError: (error) => note(`read cache: a read of recent windows failed (tried again at the next read): ${(error as Error).message}`),
  });
  const recentSubscription = recent && projections.windows$.subscribe((w) => recent.apply(w));
  let stopping = false;
  superviseStorage(rt, { patient, projections, tablePrefix: settings.tablePrefix, stopping: () => stopping, log: note });
  // Each piece adds what it knows can go wrong; /healthz is 200 only when none of them reports a problem.
  const checks = new HealthChecks()
    .add('projector', () => projections.failing.map((f) => `${f.projection} projector${f.partition === undefined ? '' : ` (partition ${f.partition})`} failing: ${f.reason}`))
    .add('storage', storageHealth(rt))
    .add('flush', flushHealth(projections, settings.flushIntervalMs));
  // The window-event feed follows the projections from their first event; its history belongs to the active windows version.
  // On Event Hubs each instance keeps the history of the windows it emits (resume against the same instance).
  const historyPrefix = distributed ? `${settings.tablePrefix}I${createHash('sha1').update(hostname()).digest('hex').slice(0, 8)}` : settings.tablePrefix;
  // Beside the file log, the history is files of its own in the data dir (a table per hour would make the
  // embedded Azurite hold, and save again and again, every per-VM event of the retention).
  const historyStore = async (version: number) => distributed
    ? new TableWindowHistory(patient, historyPrefix, version)
    : FileWindowHistory.open(windowHistoryDir(settings.dataDir, settings.tablePrefix, version), { onRepair: note });
  const openFeed = async (version: number) => WindowEventFeed.open({
    windows$: projections.windows$, store: await historyStore(version),
    retentionHours: settings.windowHistoryHours, flushIntervalMs: settings.flushIntervalMs,
    onWriteError: (error) => note(`window-event history: a write failed, retrying: ${(error as Error).message}`),
    onError: (error) => note(`window-event feed: ${(error as Error).message}`),
  });
  let feedVersion = await patientVersions.activeOrFirst('windows');
  let feed = await openFeed(feedVersion);
  const source = { subscribe: (...args: Parameters<WindowEventFeed['subscribe']>) => feed.subscribe(...args) };
  let finalFeed = await finalFeeds?.feed(feedVersion);
  const finalSource = finalFeeds && { subscribe: (...args: Parameters<WindowEventFeed['subscribe']>) => finalFeed!.subscribe(...args) };
  const windowStream = createWindowStream({
    source, finalSource, heartbeatMs: settings.sseHeartbeatSeconds * 1000, maxBufferedBytes: settings.sseMaxBufferedBytes, maxClients: settings.sseMaxClients,
  });
  // Declared projections: each one whose first build is complete runs beside the built-in ones (on Event Hubs, a share
  // per owned partition); added, rebuilt and dropped ones are picked up while running. Told first, the host starts with them.
  // Their stream is the file log's only: on Event Hubs a projector's revision is one partition's share (the API merges them).
  const declared = new DeclaredHost({
    settings, host: projections, tables: patient, versions: patientVersions, meta: await patient.rowTable(metaTable(settings.tablePrefix)), emitEvents: !distributed,
  });
  await declared.start();
  await projections.start();
  const declaredApi = declared.api();
  const projectionStream = !distributed ? new ProjectionStream({
    events$: declared.events$, exists: async (name) => (await declaredApi.list()).some((p) => p.name === name),
    heartbeatMs: settings.sseHeartbeatSeconds * 1000, maxClients: settings.sseMaxClients, maxBufferedBytes: settings.sseMaxBufferedBytes,
  }) : undefined;
  // After a rebuild switched the windows version, the stream follows the new version's history: clients reconnect with Last-Event-ID.
  const feedTimer = setInterval(() => {
    const version = projections.versions.windows;
    if (version === feedVersion || version === 0) return;
    feedVersion = version;
    const old = feed;
    void Promise.all([openFeed(version), finalFeeds?.feed(version)]).then(([next, nextFinal]) => {
      feed = next;
      finalFeed = nextFinal;
      windowStream.close();
      return Promise.all([old.close(), finalFeeds?.closeAllBut(version)]);
    }).catch((error: unknown) => note(`window-event history: ${(error as Error).message}`));
  }, 2000);
  const counters = { ingested: 0, rejected: 0 };
  /** The gate's limits for a message arriving now. */
  const arrivingNow = () => ({ arrivalMs: Date.now(), maxFutureSeconds: settings.maxFutureSeconds });
  /** Every source's appends, counted for /metrics (duplicates appended nothing). */
  const counted: Ingestor['ingest'] = async (message, source, key) => {
    const answer = await ingestor.ingest(message, source, key);
    if (!answer.duplicate) {
      counters.ingested += answer.accepted;
      counters.rejected += answer.rejected.length;
    }
    return answer;
  };
  // SPOC messages from Service Bus, when configured: the real source, so the simulator stays off.
  const serviceBus = settings.serviceBusConnectionString !== undefined || settings.serviceBusNamespace !== undefined
    ? await startServiceBusIngestion(settings, { ingest: counted })
    : undefined;
  const simulate = settings.simulate && serviceBus === undefined;
  // On Azure, other services get every window revision from an Event Hub too.
  const publisher = distributed ? new WindowEventPublisher(createProducer(settings, settings.windowEventHubName), { onError: (e) => note(`window events: ${e.message}`) }) : undefined;
  publisher?.start(projections instanceof DistributedProjections ? merge(projections.windows$, projections.finals$) : projections.windows$);
  const backlog = await startBacklog(settings, rt, { log: note, client: snowClient, appender: rt.appender, version: () => projections.versions.backlog });
  const watermarkDelaySeconds = () => (Number.isFinite(projections.stats.watermark) ? Date.now() / 1000 - projections.stats.watermark : null);
  const metrics = serviceMetrics(opsfoldMetrics({
    ingest: counters, projections, watermarkDelaySeconds, logRepairs: () => rt.log.repairs, windowStream: () => windowStream.stats(),
    hubHistory: () => hubHistory,
  }));
  const ledgers = new ProjectionLedgers({ tables: rt.tables, versions: rt.versions, prefix: settings.tablePrefix });
  const app = createApp({
    apiToken: settings.apiToken,
    corsOrigins: settings.corsOrigins,
    ingest: (body, idempotencyKey) => counted(validateSpocMessage(body, arrivingNow()), 'http', idempotencyKey),
    minuteTable: tableReads.tables.minute,
    vmMinuteTable: tableReads.tables.vmMinute,
    catalog: tableReads.tables.catalog,
    reads: recent ?? tableReads,
    finalThrough: () => projections.finalThrough(),
    rejects: async () => openMerged(rt.tables, rejectsProjection.tables.rejects, await active('rejects')),
    late: (projection) => ledgers.late(projection),
    backlog: backlog.api,
    windowStream,
    projections: { ...declaredApi, stream: projectionStream },
    quarantine: async ({ projection, limit }) => {
      const refs = await ledgers.quarantine(projection);
      return refs && readQuarantine(rt.tables, settings.tablePrefix, refs, limit);
    },
    health: async () => ({
      ...(await checks.report()), // status: "ok" or "failing", and the problems
      source: simulate ? 'simulated' : serviceBus ? 'servicebus' : 'api',
      simulated: simulate,
      ...(serviceBus ? { serviceBus: { queue: settings.serviceBusQueue, ...serviceBus.stats } } : {}),
      // A repair is information, not a failure: the log is whole again (a damaged tail's bytes are kept aside).
      log: distributed ? { kind: 'eventhubs', eventHub: settings.eventHubName, partitions: projections.stats.partitions } : { kind: 'file', repairs: rt.log.repairs },
      // What the hub no longer retained when a partition needed it: events read from Capture, and gaps gone past (information: the projections run on).
      ...(hubHistory ? { hubHistory: { ...hubHistoryHealth(hubHistory), retention: retention?.latest ?? null } } : {}),
      projector: {
        position: projections.stats.position ?? null, watermark: Number.isFinite(projections.stats.watermark) ? projections.stats.watermark : null,
        watermarkDelaySeconds: watermarkDelaySeconds(), metrics: projections.stats.metrics, late: projections.stats.late,
        windowsEmitted: projections.stats.windowsEmitted, revisions: projections.stats.revisions,
        // Windows ending by this (epoch seconds) are final: the watermark minus the allowed lateness as of the last checkpoint.
        finalThrough: finite(await projections.finalThrough().catch(() => -Infinity)),
        ...lagHealth(await projections.consumerLag().catch(() => undefined), distributed),
        // Projectors that are down now (each is tried again after a backoff), and why.
        failing: projections.failing.map((f) => ({ ...f, since: new Date(f.since).toISOString() })),
      },
      // Records set aside: counted, listed by GET /v1/quarantine; alone they do not make the status failing.
      quarantine: quarantineHealth(projections.quarantined),
      versions: projections.versions,
      ingest: { ...counters },
      stream: { clients: windowStream.stats().clients, lastEventId: feed.stats.lastId === 0 ? null : String(feed.stats.lastId) },
      // Reads of windows answered from memory and from the tables since the start (null: no read cache, e.g. on Event Hubs).
      readCache: recent ? { ...recent.stats } : null,
      backlog: backlog.health(),
      storage: rt.storage?.health() ?? { kind: 'tables' },
    }),
    metricsText: () => metrics.text(),
    metricsContentType: metrics.contentType,
    observeRequest: metrics.observeRequest,
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(settings.port, settings.host, () => resolve(s));
    answerClientErrors(s);
  });
  const port = (server.address() as { port: number }).port;
  let simTimer: NodeJS.Timeout | undefined;
  if (simulate) {
    process.stderr.write('opsfold: SIMULATED source: the built-in SPOC simulator is feeding the log (--no-simulate turns it off)\n');
    let minute = Math.floor(Date.now() / 60000) * 60;
    // A first start has nothing to show: the simulator fills in the last half hour at once.
    if (!distributed && (await rt.log.end()) === 0) {
      // Concurrent appends share group commits (one fsync for many).
      const backfill = [...simulateSpoc({ tenants: 5, vmsPerTenant: 4, keys: 5, startSeconds: minute - 30 * 60, minutes: 30, seed: minute })];
      await Promise.all(backfill.map((m) => counted(validateSpocMessage(m, arrivingNow()), 'simulator')));
    }
    simTimer = setInterval(() => {
      const now = Math.floor(Date.now() / 60000) * 60;
      if (now <= minute) return;
      for (const m of simulateSpoc({ tenants: 5, vmsPerTenant: 4, keys: 5, startSeconds: minute, minutes: 1, seed: minute })) {
        void counted(validateSpocMessage(m, arrivingNow()), 'simulator').catch(() => undefined);
      }
      minute = now;
    }, 2000);
  }
  process.stderr.write(`opsfold: read API and dashboard on http://${settings.host}:${port}\n`);
  return {
    port,
    windowEvents: (filter = {}, { emit, ...options } = {}) => {
      if (emit === 'final' && !finalSource) throw new InvalidInputError('final windows are streamed on the file log only (on Event Hubs they are published to the window-events hub)', { parameter: 'emit' });
      return windowEvents(emit === 'final' ? finalSource! : source, filter, options);
    },
    async stop() {
      // Each step bounded (see stopDeadlines.ts), so that the whole service ends within 10 s; Azurite last.
      stopping = true;
      const step = (what: string, work: () => Promise<unknown>, ms?: number) => stopStep(what, work, note, ms);
      await step('storage supervision', async () => rt.storage?.stopRestarting(), AZURITE_STOP_MS);
      if (simTimer) clearInterval(simTimer);
      clearInterval(feedTimer);
      recentSubscription?.unsubscribe();
      windowStream.close();
      projectionStream?.close();
      await step('HTTP server', () => closeServerInTime(server));
      await step('sources', () => Promise.all([serviceBus?.stop(), publisher?.stop(), backlog.stop(), retention?.stop()]));
      await step('projections', () => Promise.all([declared.stop(), stopProjectionsInTime(projections, patient, note)]), FINAL_FLUSH_MS + STEP_MS);
      await step('window-event history', () => Promise.all([feed.close(), finalFeeds?.close()]));
      await step('log and storage', () => rt.close(), AZURITE_STOP_MS + STEP_MS);
    },
  };
}

/** A number for JSON: null for ±Infinity (none yet). */
const finite = (n: number): number | null => (Number.isFinite(n) ? n : null);

/** /healthz's `quarantine`: entries per projection (active versions) and their total. */
function quarantineHealth(counts: Record<ProjectionName, number>): Record<string, number> {
  return { ...counts, total: PROJECTIONS.reduce((n, p) => n + counts[p], 0) };
}

/** The consumer lag under /healthz's `projector`: bytes per projection, or events per owned partition; null when it cannot be read now. */
function lagHealth(lag: ConsumerLag | undefined, distributed: boolean): Record<string, unknown> {
  if (distributed) return { consumerLagEvents: lag && 'events' in lag ? lag.events : null };
  return { consumerLagBytes: lag && 'bytes' in lag ? lag.bytes : null };
}

/** The scopes of a projection version, looked up at most every few seconds (they change only when partitions do). */
function scopeCache(versions: ProjectionVersions, ttlMs = 5000): (projection: ProjectionName, version: number) => Promise<string[]> {
  const cache = new Map<string, { at: number; scopes: Promise<string[]> }>();
  return (projection, version) => {
    const id = `${projection}/${version}`;
    const hit = cache.get(id);
    if (hit && Date.now() - hit.at < ttlMs) return hit.scopes;
    const scopes = versions.scopes(projection, version);
    cache.set(id, { at: Date.now(), scopes });
    scopes.catch(() => cache.delete(id));
    return scopes;
  };
}

/** /healthz's `hubHistory`: whether Capture is read, how many events came from it, and the gaps gone past (the newest 100, with when). */
function hubHistoryHealth(history: HubHistory): Record<string, unknown> {
  return {
    capture: history.captureConfigured ? 'configured' : 'off',
    readFromCapture: history.captured,
    gapEvents: history.skipped,
    gaps: history.gaps.map((g) => ({ partitionId: g.partitionId, from: g.from, to: g.to, at: new Date(g.atMs).toISOString() })),
  };
}
