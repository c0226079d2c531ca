import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { loadSettings, describeSettings, type Settings } from '../config/settings';
import { openRuntime, activeVersion } from '../runtime';
import { Ingestor } from '../core/Ingestor';
import { parseSpocMessage } from '../core/validateSpoc';
import { OpsfoldError } from '../core/errors';
import { WindowsProjector } from '../../streams/WindowsProjector';
import { RejectsProjector } from '../../streams/RejectsProjector';
import { WindowEventFeed } from '../../streams/WindowEventFeed';
import { withRecordClock } from '../../streams/withRecordClock';
import { PROJECTIONS, tablesOf, rejectTables, type ProjectionName } from '../../projections/projectionCatalog';
import { historyTablePrefix } from '../../projections/windowEventHistory';
import type { Runtime } from '../runtime';
import { simulateSpoc } from '../adapters/simulator/spocSimulator';
import { progressBar } from './progress';

export type Flags = Parameters<typeof loadSettings>[0];

export function settingsFrom(flags: Flags): Settings {
  return loadSettings(flags).settings;
}

/** `opsfold ingest FILE|-`: one JSON message, or NDJSON with one message a line. */
export async function ingestCommand(file: string, flags: Flags): Promise<number> {
  const settings = settingsFrom(flags);
  const rt = await openRuntime(settings, { log: false });
  try {
    const ingestor = new Ingestor(rt.log);
    const input = file === '-' ? process.stdin : createReadStream(file);
    const text: string[] = [];
    for await (const line of createInterface({ input, crlfDelay: Infinity })) text.push(line);
    const lines = text.filter((l) => l.trim() !== '');
    // One pretty-printed JSON message, or NDJSON.
    const messages = lines.length > 1 && lines[0].trim().startsWith('{') && !isJson(lines[0]) ? [text.join('\n')] : lines;
    const bar = progressBar('ingest', messages.length, 'messages');
    let accepted = 0, rejected = 0, failed = 0;
    for (let i = 0; i < messages.length; i++) {
      try {
        const answer = await ingestor.ingest(parseSpocMessage(messages[i]), 'cli');
        accepted += answer.accepted;
        rejected += answer.rejected.length;
      } catch (error) {
        if (!(error instanceof OpsfoldError) || error.retriable) throw error;
        failed++;
        process.stderr.write(`line ${i + 1}: ${error.message}\n`);
      }
      bar.update(i + 1);
    }
    bar.stop();
    process.stdout.write(`${JSON.stringify({ messages: messages.length, accepted, rejected, invalidMessages: failed })}\n`);
    return failed > 0 ? 1 : 0;
  } finally {
    await rt.close();
  }
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/** `opsfold rejects`: the rejects ledger, as JSON lines. */
export async function rejectsCommand(flags: Flags & { limit?: number }): Promise<number> {
  const settings = settingsFrom(flags);
  const rt = await openRuntime(settings, { log: false });
  try {
    const version = await activeVersion(rt.versions, 'rejects');
    await new RejectsProjector({ log: rt.log, tables: rt.tables, versions: rt.versions, tablePrefix: settings.tablePrefix, version, follow: false, flushIntervalMs: settings.flushIntervalMs }).run();
    const table = await rt.tables.rowTable(rejectTables(settings.tablePrefix, version).rejects);
    for (const row of await table.list({ limit: flags.limit ?? 1000 })) process.stdout.write(`${JSON.stringify({ row: row.row, ...row.fields })}\n`);
    return 0;
  } finally {
    await rt.close();
  }
}

/** `opsfold replay`: rebuilds projections into a new version and switches to it when complete. */
export async function replayCommand(projection: string, flags: Flags): Promise<number> {
  const names = projection === 'all' ? [...PROJECTIONS] : [projection as ProjectionName];
  if (!names.every((n) => (PROJECTIONS as readonly string[]).includes(n))) {
    process.stderr.write(`opsfold replay: unknown projection "${projection}"; choose one of ${PROJECTIONS.join(', ')} or all\n`);
    return 2;
  }
  const settings = settingsFrom(flags);
  const rt = await openRuntime(settings, { log: false });
  try {
    const end = await rt.log.end();
    for (const name of names) {
      const old = await rt.versions.active(name);
      const version = (await rt.versions.latest(name)) + 1;
      const bar = progressBar(`replay ${name} v${version}`, end, 'bytes');
      const common = { log: rt.log, tables: rt.tables, versions: rt.versions, tablePrefix: settings.tablePrefix, version, follow: false, flushIntervalMs: Math.max(settings.flushIntervalMs, 5000), onProgress: (p: number) => bar.update(p) };
      const started = Date.now();
      if (name === 'windows') {
        // The window-event history is rebuilt too, each event stamped with its record's append time.
        const { log, clock } = withRecordClock(rt.log);
        const projector = new WindowsProjector({ ...common, log, windows: settings });
        const feed = await WindowEventFeed.open({
          windows$: projector.windows$, tables: rt.tables, tablePrefix: settings.tablePrefix, version,
          retentionHours: settings.windowHistoryHours, flushIntervalMs: common.flushIntervalMs, clock,
        });
        const stats = await projector.run();
        await feed.close();
        bar.stop();
        const history = { events: feed.stats.written, notWritten: feed.stats.undurable };
        process.stdout.write(`${JSON.stringify({ projection: name, version, metrics: stats.metrics, windows: stats.windowsEmitted, revisions: stats.revisions, late: stats.late, history, seconds: (Date.now() - started) / 1000 })}\n`);
      } else {
        const rejected = await new RejectsProjector(common).run();
        bar.stop();
        process.stdout.write(`${JSON.stringify({ projection: name, version, rejected, seconds: (Date.now() - started) / 1000 })}\n`);
      }
      await rt.versions.activate(name, version);
      if (old !== undefined && old !== version) {
        for (const table of await projectionTables(rt, name, settings.tablePrefix, old)) await rt.tables.dropTable(table);
        await rt.versions.forget(name, old);
      }
    }
    return 0;
  } finally {
    await rt.close();
  }
}

/** Every table a projection version owns: the fixed ones and, for windows, the hourly history tables. */
async function projectionTables(rt: Runtime, name: ProjectionName, prefix: string, version: number): Promise<string[]> {
  const fixed = tablesOf(name, prefix, version);
  return name === 'windows' ? [...fixed, ...(await rt.tables.listTables(historyTablePrefix(prefix, version)))] : fixed;
}

/** `opsfold simulate`: synthetic SPOC traffic appended to the log. */
export async function simulateCommand(o: { tenants: number; vms: number; keys: number; minutes: number; late: number; start?: number; seed: number }, flags: Flags): Promise<number> {
  const settings = settingsFrom(flags);
  const rt = await openRuntime(settings, { log: false });
  try {
    const ingestor = new Ingestor(rt.log);
    const start = o.start ?? Math.floor(Date.now() / 60000) * 60 - o.minutes * 60;
    const total = o.tenants * o.minutes;
    const bar = progressBar('simulate', total, 'messages');
    let n = 0, metrics = 0;
    let pending: Promise<unknown>[] = [];
    for (const message of simulateSpoc({ tenants: o.tenants, vmsPerTenant: o.vms, keys: o.keys, startSeconds: start, minutes: o.minutes, lateFraction: o.late, seed: o.seed })) {
      pending.push(ingestor.ingest(parseSpocMessage(JSON.stringify(message)), 'simulator'));
      metrics += message.metrics.length;
      if (pending.length >= 64) {
        await Promise.all(pending);
        pending = [];
      }
      bar.update(++n);
    }
    await Promise.all(pending);
    bar.stop();
    process.stdout.write(`${JSON.stringify({ messages: n, metrics, simulated: true })}\n`);
    return 0;
  } finally {
    await rt.close();
  }
}

/** `opsfold cleanup --projection NAME`: drops every version's tables of a projection. */
export async function cleanupCommand(projection: string, flags: Flags): Promise<number> {
  if (!(PROJECTIONS as readonly string[]).includes(projection)) {
    process.stderr.write(`opsfold cleanup: unknown projection "${projection}"; choose one of ${PROJECTIONS.join(', ')}\n`);
    return 2;
  }
  const settings = settingsFrom(flags);
  const rt = await openRuntime(settings, { log: false });
  try {
    const latest = await rt.versions.latest(projection as ProjectionName);
    for (let v = 1; v <= latest; v++) {
      for (const table of await projectionTables(rt, projection as ProjectionName, settings.tablePrefix, v)) await rt.tables.dropTable(table);
      await rt.versions.forget(projection as ProjectionName, v);
    }
    await rt.versions.activate(projection as ProjectionName, latest + 1);
    process.stdout.write(`${JSON.stringify({ projection, dropped: latest, next: latest + 1 })}\n`);
    return 0;
  } finally {
    await rt.close();
  }
}

export function configCommand(flags: Flags): number {
  const { settings, sources } = loadSettings(flags);
  for (const s of describeSettings(settings, sources)) process.stdout.write(`${s.env.padEnd(34)} ${s.value.padEnd(24)} (${s.source})\n`);
  return 0;
}
