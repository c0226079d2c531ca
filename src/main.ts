import type { Server } from 'node:http';
import type { Observable } from 'rxjs';
import type { Settings } from './config/settings';
import { openRuntime, activeVersion } from './runtime';
import { Ingestor } from './core/Ingestor';
import { validateSpocMessage } from './core/validateSpoc';
import { createApp } from './adapters/http/createApp';
import { createWindowStream } from './adapters/http/streamRoutes';
import type { StreamedWindowEvent, WindowFilter } from './core/windowStream';
import { simulateSpoc } from './adapters/simulator/spocSimulator';
import { WindowsProjector } from '../streams/WindowsProjector';
import { RejectsProjector } from '../streams/RejectsProjector';
import { WindowEventFeed } from '../streams/WindowEventFeed';
import { windowEvents } from '../streams/windowEvents';
import { rejectTables, windowTables } from '../projections/projectionCatalog';

/** A running service, as `startService` hands it to the CLI or to code that embeds opsfold. */
export interface Service {
  port: number;
  /**
   * Every emitted window revision matching `filter`, live; with `after` (an event id), first
   * what the durable history holds after it. The same events and ids as `GET /v1/stream/windows`.
   */
  windowEvents(filter?: WindowFilter, options?: { after?: number }): Observable<StreamedWindowEvent>;
  /** Ends the window streams, flushes, checkpoints and stops Azurite. */
  stop(): Promise<void>;
}

/**
 * The composition root: the file log, the Table endpoint (embedded Azurite by default), the
 * projectors following the log, the window-event feed and its history, the ingestor, the read
 * API and dashboard and, with no real source, the simulator.
 */
export async function startService(settings: Settings): Promise<Service> {
  const rt = await openRuntime(settings);
  const abort = new AbortController();
  const ingestor = new Ingestor(rt.log);
  await ingestor.recover();
  const windowsVersion = await activeVersion(rt.versions, 'windows');
  const rejectsVersion = await activeVersion(rt.versions, 'rejects');
  const common = { log: rt.log, tables: rt.tables, versions: rt.versions, tablePrefix: settings.tablePrefix, follow: true, flushIntervalMs: settings.flushIntervalMs };
  const projector = new WindowsProjector({ ...common, version: windowsVersion, windows: settings });
  const rejects = new RejectsProjector({ ...common, version: rejectsVersion });
  const feed = await WindowEventFeed.open({
    windows$: projector.windows$, tables: rt.tables, tablePrefix: settings.tablePrefix, version: windowsVersion,
    retentionHours: settings.windowHistoryHours, flushIntervalMs: settings.flushIntervalMs,
    onWriteError: (error) => process.stderr.write(`opsfold: window-event history: a write failed, retrying: ${(error as Error).message}\n`),
  });
  const windowStream = createWindowStream({ source: feed, heartbeatMs: settings.sseHeartbeatSeconds * 1000, maxBufferedBytes: settings.sseMaxBufferedBytes });
  let failure: unknown;
  const counters = { ingested: 0, rejected: 0 };
  const names = windowTables(settings.tablePrefix, windowsVersion);
  const watermarkDelaySeconds = () => (Number.isFinite(projector.stats.watermark) ? Date.now() / 1000 - projector.stats.watermark : null);
  const app = createApp({
    apiToken: settings.apiToken,
    async ingest(body, idempotencyKey) {
      const answer = await ingestor.ingest(validateSpocMessage(body), 'http', idempotencyKey);
      if (!answer.duplicate) {
        counters.ingested += answer.accepted;
        counters.rejected += answer.rejected.length;
      }
      return answer;
    },
    minuteTable: () => rt.tables.blockTable(names.minute),
    vmMinuteTable: () => rt.tables.blockTable(names.vmMinute),
    catalog: () => rt.tables.rowTable(names.catalog),
    rejects: () => rt.tables.rowTable(rejectTables(settings.tablePrefix, rejectsVersion).rejects),
    windowStream,
    health: () => ({
      status: failure ? 'failing' : 'ok',
      source: settings.simulate ? 'simulated' : 'api',
      simulated: settings.simulate,
      projector: {
        position: projector.stats.position, watermark: Number.isFinite(projector.stats.watermark) ? projector.stats.watermark : null,
        watermarkDelaySeconds: watermarkDelaySeconds(), metrics: projector.stats.metrics, late: projector.stats.late,
        windowsEmitted: projector.stats.windowsEmitted, revisions: projector.stats.revisions,
      },
      ingest: { ...counters },
      stream: { clients: windowStream.stats().clients, lastEventId: feed.stats.lastId === 0 ? null : String(feed.stats.lastId) },
      versions: { windows: windowsVersion, rejects: rejectsVersion },
    }),
    metricsText: () => [
      `# TYPE opsfold_metrics_ingested_total counter`, `opsfold_metrics_ingested_total ${counters.ingested}`,
      `# TYPE opsfold_metrics_rejected_total counter`, `opsfold_metrics_rejected_total ${counters.rejected}`,
      `# TYPE opsfold_late_metrics_total counter`, `opsfold_late_metrics_total ${projector.stats.late}`,
      `# TYPE opsfold_windows_emitted_total counter`, `opsfold_windows_emitted_total ${projector.stats.windowsEmitted}`,
      `# TYPE opsfold_window_revisions_total counter`, `opsfold_window_revisions_total ${projector.stats.revisions}`,
      `# TYPE opsfold_watermark_delay_seconds gauge`, `opsfold_watermark_delay_seconds ${watermarkDelaySeconds() ?? 0}`,
      `# TYPE opsfold_folded_position_bytes gauge`, `opsfold_folded_position_bytes ${projector.stats.position}`,
      `# TYPE opsfold_window_stream_clients gauge`, `opsfold_window_stream_clients ${windowStream.stats().clients}`,
      `# TYPE opsfold_window_stream_overflows_total counter`, `opsfold_window_stream_overflows_total ${windowStream.stats().overflows}`,
      '',
    ].join('\n'),
  });
  // The app is built (and its dashboard files found) before anything runs that would outlive a failure here.
  const running = Promise.all([projector.run(abort.signal), rejects.run(abort.signal)]).catch((error) => {
    failure = error;
    process.stderr.write(`opsfold: projector stopped: ${(error as Error).message}\n`);
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(settings.port, settings.host, () => resolve(s));
  });
  const port = (server.address() as { port: number }).port;
  let simTimer: NodeJS.Timeout | undefined;
  if (settings.simulate) {
    process.stderr.write('opsfold: SIMULATED source: the built-in SPOC simulator is feeding the log (--no-simulate turns it off)\n');
    let minute = Math.floor(Date.now() / 60000) * 60;
    simTimer = setInterval(() => {
      const now = Math.floor(Date.now() / 60000) * 60;
      if (now <= minute) return;
      for (const m of simulateSpoc({ tenants: 5, vmsPerTenant: 4, keys: 5, startSeconds: minute, minutes: 1, seed: minute })) {
        void ingestor.ingest(validateSpocMessage(m), 'simulator').catch(() => undefined);
      }
      minute = now;
    }, 2000);
  }
  process.stderr.write(`opsfold: read API and dashboard on http://${settings.host}:${port}\n`);
  return {
    port,
    windowEvents: (filter = {}, options = {}) => windowEvents(feed, filter, options),
    async stop() {
      if (simTimer) clearInterval(simTimer);
      windowStream.close();
      await new Promise((resolve) => server.close(resolve));
      abort.abort();
      await running;
      await feed.close();
      await rt.close();
    },
  };
}
