import type { Server } from 'node:http';
import type { Settings } from './config/settings';
import { openRuntime, activeVersion } from './runtime';
import { Ingestor } from './core/Ingestor';
import { validateSpocMessage } from './core/validateSpoc';
import { createApp } from './adapters/http/createApp';
import { simulateSpoc } from './adapters/simulator/spocSimulator';
import { WindowsProjector } from '../streams/WindowsProjector';
import { RejectsProjector } from '../streams/RejectsProjector';
import { rejectTables, windowTables } from '../projections/projectionCatalog';
import { resolveSecrets } from './config/secrets';
import { dailyPollClientFrom, startBacklog } from './composeBacklog';

/**
 * The composition root: the file log, the Table endpoint (embedded Azurite by default), the
 * projectors following the log, the ingestor, the read API and, with no real source, the
 * simulator. Resolves with a handle whose `stop()` flushes, checkpoints and stops Azurite.
 */
export async function startService(configured: Settings): Promise<{ port: number; stop(): Promise<void> }> {
  const note = (line: string) => process.stderr.write(`opsfold: ${line}\n`);
  const settings = await resolveSecrets(configured, { log: note });
  const snowClient = dailyPollClientFrom(settings, note);
  const rt = await openRuntime(settings);
  const abort = new AbortController();
  const ingestor = new Ingestor(rt.log);
  await ingestor.recover();
  const windowsVersion = await activeVersion(rt.versions, 'windows');
  const rejectsVersion = await activeVersion(rt.versions, 'rejects');
  const common = { log: rt.log, tables: rt.tables, versions: rt.versions, tablePrefix: settings.tablePrefix, follow: true, flushIntervalMs: settings.flushIntervalMs };
  const projector = new WindowsProjector({ ...common, version: windowsVersion, windows: settings });
  const rejects = new RejectsProjector({ ...common, version: rejectsVersion });
  const backlog = await startBacklog(settings, rt, abort.signal, { log: note, client: snowClient });
  let failure: unknown;
  const running = Promise.all([projector.run(abort.signal), rejects.run(abort.signal), backlog.running]).catch((error) => {
    failure = error;
    process.stderr.write(`opsfold: projector stopped: ${(error as Error).message}\n`);
  });
  const counters = { ingested: 0, rejected: 0 };
  const names = windowTables(settings.tablePrefix, windowsVersion);
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
    backlog: backlog.api,
    health: () => ({
      status: failure ? 'failing' : 'ok',
      source: settings.simulate ? 'simulated' : 'api',
      simulated: settings.simulate,
      projector: { position: projector.stats.position, watermark: projector.stats.watermark, metrics: projector.stats.metrics },
      versions: { windows: windowsVersion, rejects: rejectsVersion },
      backlog: backlog.health(),
    }),
    metricsText: () => [
      `# TYPE opsfold_metrics_ingested_total counter`, `opsfold_metrics_ingested_total ${counters.ingested}`,
      `# TYPE opsfold_metrics_rejected_total counter`, `opsfold_metrics_rejected_total ${counters.rejected}`,
      `# TYPE opsfold_late_metrics_total counter`, `opsfold_late_metrics_total ${projector.stats.late}`,
      `# TYPE opsfold_windows_emitted_total counter`, `opsfold_windows_emitted_total ${projector.stats.windowsEmitted}`,
      `# TYPE opsfold_window_revisions_total counter`, `opsfold_window_revisions_total ${projector.stats.revisions}`,
      `# TYPE opsfold_watermark_delay_seconds gauge`, `opsfold_watermark_delay_seconds ${Number.isFinite(projector.stats.watermark) ? Date.now() / 1000 - projector.stats.watermark : 0}`,
      `# TYPE opsfold_folded_position_bytes gauge`, `opsfold_folded_position_bytes ${projector.stats.position}`,
      '',
    ].join('\n'),
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
    async stop() {
      if (simTimer) clearInterval(simTimer);
      await new Promise((resolve) => server.close(resolve));
      await backlog.stop();
      abort.abort();
      await running;
      await rt.close();
    },
  };
}
