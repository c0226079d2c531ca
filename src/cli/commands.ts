import { collectSettings, loadSettings, describeSettings, type Settings } from '../config/settings';
import { openRuntime, type Runtime } from '../runtime';
import type { StartingAzurite } from '../startAzuriteEarly';
import { Ingestor } from '../core/Ingestor';
import { parseSpocMessage } from '../core/validateSpoc';
import { ConfigError, InvalidInputError } from '../core/errors';
import { Projector } from '../../streams/Projector';
import { rejectsProjection } from '../../projections/rejectsProjection';
import { rebuildProjection } from '../rebuildProjection';
import { logKeysTable, metaTable, PROJECTIONS, type ProjectionName } from '../../projections/projectionCatalog';
import { dropProjectionVersion } from '../dropProjectionVersion';
import { simulateSpoc } from '../adapters/simulator/spocSimulator';
import { progressBar } from './progress';
import { shareRead } from '../../streams/shareRead';
import { openMerged } from '../../projections/projectionTables';
import { BUILT_IN_PROJECTIONS, type AnyProjection } from '../../projections/builtInProjections';
import { DeclaredCatalog } from '../../projections/declaredCatalog';
import { declaredProjection } from '../../projections/declaredProjection';
import type { ProjectionDefinition } from '../core/projectionDefinition';
import { DuplicateFilter } from '../adapters/eventHubs/DuplicateFilter';
import type { EventLog } from '../core/ports';
import { readQuarantine } from '../readQuarantine';
import { ProjectionLedgers } from '../projectionLedgers';
import { describeGap, type SequenceGap } from '../core/sequenceGaps';

export type Flags = Parameters<typeof loadSettings>[0];

/**
 * The Azure SDKs behind these (Key Vault and identity, Service Bus, Event Hubs, Blob Storage: ~0.4 s
 * to load) are loaded when a command uses them: a replay of the file log does not.
 */
const secrets = () => require('../config/secrets') as typeof import('../config/secrets');
const serviceBus = () => require('../adapters/serviceBus/serviceBusClientFrom') as typeof import('../adapters/serviceBus/serviceBusClientFrom');
const hubReplay = () => require('./replayEventHubs') as typeof import('./replayEventHubs');
const capture = () => require('../adapters/capture/captureArchiveFrom') as typeof import('../adapters/capture/captureArchiveFrom');
const hubClients = () => require('../adapters/eventHubs/azureClients') as typeof import('../adapters/eventHubs/azureClients');
const retention = () => require('../adapters/eventHubs/describeRetention') as typeof import('../adapters/eventHubs/describeRetention');

export function settingsFrom(flags: Flags): Settings {
  return loadSettings(flags).settings;
}

/** `opsfold rejects`: the rejects ledger, as JSON lines. */
export async function rejectsCommand(flags: Flags & { limit?: number }): Promise<number> {
  const settings = settingsFrom(flags);
  const rt = await openRuntime(settings, { log: false });
  try {
    const version = await rt.versions.activeOrFirst('rejects');
    // The file log is folded up to its end first; on Event Hubs the processors keep the ledger, one table per partition.
    if (!rt.distributed) await new Projector({ projection: rejectsProjection, config: undefined, log: rt.log, tables: rt.tables, versions: rt.versions, tablePrefix: settings.tablePrefix, version, follow: false, flushIntervalMs: settings.flushIntervalMs }).run();
    const table = await openMerged(rt.tables, rejectsProjection.tables.rejects, { prefix: settings.tablePrefix, version, scopes: await rt.versions.scopes('rejects', version) });
    for (const row of await table.list({ limit: flags.limit ?? 1000 })) process.stdout.write(`${JSON.stringify({ row: row.row, ...row.fields })}\n`);
    return 0;
  } finally {
    await rt.close();
  }
}

/**
 * `opsfold quarantine`: what the projections set aside (records or metrics they could not apply),
 * as JSON lines, by projection and log position: the ledgers of the active versions, as the
 * service's projectors (or the last replay) wrote them.
 */
export async function quarantineCommand(flags: Flags & { projection?: string; limit?: number }): Promise<number> {
  const limit = flags.limit ?? 1000;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new InvalidInputError(`--limit must be a whole number of rows, 1 or more, got ${flags.limit}`, { parameter: '--limit' });
  const settings = settingsFrom(flags);
  const rt = await openRuntime(settings, { log: false });
  try {
    const ledgers = await new ProjectionLedgers({ tables: rt.tables, versions: rt.versions, prefix: settings.tablePrefix }).quarantine(flags.projection);
    if (ledgers === undefined) {
      process.stderr.write(`opsfold quarantine: unknown projection "${flags.projection}"; choose one of ${PROJECTIONS.join(', ')} or a declared projection's name\n`);
      return 2;
    }
    for (const entry of await readQuarantine(rt.tables, settings.tablePrefix, ledgers, limit)) process.stdout.write(`${JSON.stringify(entry)}\n`);
    return 0;
  } finally {
    await rt.close();
  }
}

/** `opsfold replay`: rebuilds projections into a new version and switches to it when complete. */
export async function replayCommand(projection: string, flags: Flags, options: { allowGap?: boolean; azurite?: StartingAzurite } = {}): Promise<number> {
  const settings = settingsFrom(flags);
  const rt = await openRuntime(settings, { log: false, azurite: options.azurite });
  try {
    const catalog = new DeclaredCatalog(await rt.tables.rowTable(metaTable(settings.tablePrefix)));
    const declared = await catalog.list();
    const known = [...PROJECTIONS, ...declared.map((d) => d.definition.name)];
    if (projection !== 'all' && !known.includes(projection)) {
      process.stderr.write(`opsfold replay: unknown projection "${projection}"; choose one of ${known.join(', ')} or all\n`);
      return 2;
    }
    const names = projection === 'all' ? known : [projection];
    const definitionOf = (name: string) => declared.find((d) => d.definition.name === name)?.definition;
    if (rt.distributed || names.length === 1) {
      for (const name of names) await rebuildAndActivate(rt, settings, name, definitionOf(name), 'replay', options);
    } else {
      await rebuildTogether(rt, settings, names, definitionOf);
    }
    return 0;
  } finally {
    await rt.close();
  }
}

/**
 * The projections of `opsfold replay --projection all` on the file log, rebuilt at once over one
 * read of the log (shareRead): the log is read and checked once instead of once per projection,
 * and the small folds (rejects, backlog) run while the windows' fold does, instead of after it.
 * Each is made active as it completes; one that fails does not stop the others (the command fails
 * once they have ended). One progress bar, of the shared read.
 */
async function rebuildTogether(rt: Runtime, settings: Settings, names: readonly string[], definitionOf: (name: string) => ProjectionDefinition | undefined): Promise<void> {
  const readers = shareRead(rt.log, names.length);
  const bar = progressBar(`replay ${names.join(', ')}`, await rt.log.end(), 'bytes');
  const outcomes = await Promise.allSettled(names.map(async (name, i) => {
    try {
      await rebuildAndActivate(rt, settings, name, definitionOf(name), 'replay', {
        log: readers[i].log,
        progress: i === 0 ? (position) => bar.update(position) : () => undefined,
        // The read is complete when the first rebuild is: its line goes where the bar was.
        print: (line) => {
          bar.stop();
          process.stdout.write(line);
        },
      });
    } finally {
      readers[i].leave();
    }
  }));
  bar.stop();
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
}

/** How rebuildAndActivate runs when several run at once (rebuildTogether). */
export interface RebuildHow {
  /** On Event Hubs: go on past history nobody holds (--allow-gap). */
  allowGap?: boolean;
  /** The file log's view to fold (a shared read) instead of the runtime's log. */
  log?: EventLog;
  /** Told how far the fold has come, instead of a progress bar of its own. */
  progress?: (position: number) => void;
  /** Writes the summary line (to stdout by default). */
  print?: (line: string) => void;
}

/**
 * Rebuilds one projection (built-in, or declared with its definition) from the whole log into a
 * new version, with a progress bar, prints its totals, and makes it active: a running service
 * switches to it and drops the old version; without one, the old version goes now.
 */
export async function rebuildAndActivate(rt: Runtime, settings: Settings, name: string, definition?: ProjectionDefinition, label = 'replay', options: RebuildHow = {}): Promise<void> {
  const old = await rt.versions.active(name);
  const version = (await rt.versions.latest(name)) + 1;
  const { progress } = options;
  const bar = progress
    ? { update: progress, setTotal: () => undefined, stop: () => undefined }
    : progressBar(`${label} ${name} v${version}`, rt.distributed ? 1 : await rt.log.end(), rt.distributed ? 'events' : 'bytes');
  const started = Date.now();
  const totals: Record<string, number> = {};
  /** On Event Hubs: the history nobody holds that the rebuild went past (--allow-gap), and the events read from Capture. */
  let history: { gaps: SequenceGap[]; fromCapture: number } | undefined;
  const add = (figures: Record<string, number>) => { for (const [k, v] of Object.entries(figures)) totals[k] = (totals[k] ?? 0) + v; };
  /** Rebuilds one scope of the projection from one log (the whole file log, or one partition), adding up its totals. */
  const fold = async (log: EventLog, scope: string, onProgress?: (p: number) => void) => {
    add(await rebuildProjection({ name, definition, log, scope, tables: rt.tables, versions: rt.versions, settings, version, onProgress }));
  };
  if (rt.distributed) {
    const duplicates = new DuplicateFilter(await rt.tables.rowTable(logKeysTable(settings.tablePrefix)));
    const outcome = await hubReplay().replayPartitions(settings, (log, scope) => fold(log, scope), (done, total) => { bar.setTotal(Math.max(total, 1)); bar.update(done); }, undefined, duplicates, {
      capture: capture().captureArchiveFrom(settings), allowGap: options.allowGap,
      onGap: (gap) => process.stderr.write(`opsfold ${label}: ${name}: went past a gap in the history (--allow-gap): ${describeGap(gap)} are in neither Event Hubs Capture nor the hub\n`),
    });
    history = { gaps: outcome.gaps, fromCapture: outcome.captured };
  } else {
    await fold(options.log ?? rt.log, '', (p) => bar.update(p));
  }
  bar.stop();
  const print = options.print ?? ((line: string) => process.stdout.write(line));
  print(`${JSON.stringify({ projection: name, version, ...totals, ...(name === 'backlog' ? { timezone: settings.backlogTimezone } : {}), ...history, seconds: (Date.now() - started) / 1000 })}\n`);
  await rt.versions.activate(name, version);
  if (old !== undefined && old !== version) {
    if (rt.service || rt.distributed) {
      // The running service still folds into the old version until it notices the switch; it drops the old tables then.
      process.stderr.write(rt.service
        ? `opsfold ${label}: ${name} v${version} is active; the running service (pid ${rt.service.pid}) switches to it and drops v${old}\n`
        : definition
          ? `opsfold ${label}: ${name} v${version} is active; the processor instances switch to it and drop v${old}\n`
          : `opsfold ${label}: ${name} v${version} is active; the processor instances switch to it; v${old}'s tables stay until \`opsfold cleanup\`\n`);
    } else {
      await dropProjectionVersion(rt.tables, settings, projectionOf(name, definition), old);
      await rt.versions.forget(name, old);
    }
  }
}

/** A projection's definition object, built-in or declared. */
function projectionOf(name: string, definition?: ProjectionDefinition): AnyProjection {
  if (definition) return declaredProjection(definition) as unknown as AnyProjection;
  return BUILT_IN_PROJECTIONS[name as ProjectionName];
}

/** `opsfold simulate`: synthetic SPOC traffic appended to the log. */
export async function simulateCommand(o: { tenants: number; vms: number; keys: number; minutes: number; late: number; start?: number; seed: number; to?: string }, flags: Flags): Promise<number> {
  const settings = settingsFrom(flags);
  if (o.to === 'servicebus') return simulateToServiceBus(o, settings);
  if (o.to !== undefined && o.to !== 'log') throw new InvalidInputError(`--to must be log or servicebus, got ${JSON.stringify(o.to)}`, { parameter: '--to' });
  const rt = await openRuntime(settings, { log: false });
  try {
    const ingestor = new Ingestor(rt.appender);
    const start = o.start ?? Math.floor(Date.now() / 60000) * 60 - o.minutes * 60;
    const total = o.tenants * o.minutes;
    const bar = progressBar('simulate', total, 'messages');
    let n = 0, metrics = 0;
    let pending: Promise<unknown>[] = [];
    for (const message of simulateSpoc({ tenants: o.tenants, vmsPerTenant: o.vms, keys: o.keys, startSeconds: start, minutes: o.minutes, lateFraction: o.late, seed: o.seed })) {
      pending.push(ingestor.ingest(parseSpocMessage(JSON.stringify(message), { arrivalMs: Date.now(), maxFutureSeconds: settings.maxFutureSeconds }), 'simulator'));
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

/** `opsfold simulate --to servicebus`: the same traffic sent to the SPOC queue, as SPOC services would send it (messageId per message). */
async function simulateToServiceBus(o: { tenants: number; vms: number; keys: number; minutes: number; late: number; start?: number; seed: number }, settings: Settings): Promise<number> {
  if (settings.serviceBusConnectionString === undefined && settings.serviceBusNamespace === undefined) {
    throw new ConfigError('SERVICEBUS_CONNECTION_STRING', 'simulate --to servicebus needs SERVICEBUS_CONNECTION_STRING or SERVICEBUS_NAMESPACE');
  }
  const client = serviceBus().serviceBusClientFrom(settings);
  const sender = client.createSender(settings.serviceBusQueue);
  try {
    const start = o.start ?? Math.floor(Date.now() / 60000) * 60 - o.minutes * 60;
    const bar = progressBar('simulate → Service Bus', o.tenants * o.minutes, 'messages');
    let n = 0, metrics = 0;
    for (const message of simulateSpoc({ tenants: o.tenants, vmsPerTenant: o.vms, keys: o.keys, startSeconds: start, minutes: o.minutes, lateFraction: o.late, seed: o.seed })) {
      await sender.sendMessages({ body: Buffer.from(JSON.stringify(message)), messageId: `sim-${o.seed}-${n}`, contentType: 'application/json' });
      metrics += message.metrics.length;
      bar.update(++n);
    }
    bar.stop();
    process.stdout.write(`${JSON.stringify({ messages: n, metrics, simulated: true, queue: settings.serviceBusQueue })}\n`);
    return 0;
  } finally {
    await sender.close();
    await client.close();
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
      await dropProjectionVersion(rt.tables, settings, BUILT_IN_PROJECTIONS[projection as ProjectionName], v);
      await rt.versions.forget(projection as ProjectionName, v);
    }
    await rt.versions.activate(projection as ProjectionName, latest + 1);
    process.stdout.write(`${JSON.stringify({ projection, dropped: latest, next: latest + 1 })}\n`);
    return 0;
  } finally {
    await rt.close();
  }
}

/**
 * `opsfold config`: every setting, where it came from (secrets masked), and each wrong one marked
 * with its message; exit 2 when any is wrong (Key Vault is then not asked).
 */
export async function configCommand(flags: Flags): Promise<number> {
  const { settings: configured, sources, problems } = collectSettings(flags);
  let settings = configured;
  if (problems.length === 0) {
    // With KEY_VAULT_URL, the secrets not set otherwise are read from the vault: show them as such (masked).
    settings = await secrets().resolveSecrets(configured, { log: (line) => process.stderr.write(`opsfold: ${line}\n`) });
    for (const name of Object.keys(sources) as (keyof typeof sources)[]) {
      if (configured[name] === undefined && settings[name] !== undefined) sources[name] = 'keyvault';
    }
  }
  const wrong = new Map(problems.map((p) => [p.name as string, p.error.message]));
  const rows = describeSettings(settings, sources).map((s) => (wrong.has(s.name) ? { ...s, value: 'WRONG' } : s));
  const envWidth = Math.max(...rows.map((s) => s.env.length));
  const valueWidth = Math.min(48, Math.max(...rows.map((s) => s.value.length)));
  for (const s of rows) {
    const problem = wrong.get(s.name);
    process.stdout.write(`${s.env.padEnd(envWidth)}  ${s.value.padEnd(valueWidth)}  (${s.source})${problem === undefined ? '' : `  ${problem}`}\n`);
  }
  if (problems.length === 0) {
    if (settings.eventHubsConnectionString !== undefined || settings.eventHubsNamespace !== undefined) await printRetention(settings);
    return 0;
  }
  process.stderr.write(`opsfold config: ${problems.length === 1 ? '1 setting is' : `${problems.length} settings are`} wrong: ${problems.map((p) => p.env).join(', ')}\n`);
  return 2;
}

/** `opsfold config` on Event Hubs: per partition, what the hub retains and what Event Hubs Capture holds. */
async function printRetention(settings: Settings): Promise<void> {
  const { describeRetention, retentionLine } = retention();
  const consumer = hubClients().createConsumer(settings, undefined);
  try {
    const partitions = await describeRetention(consumer, capture().captureArchiveFrom(settings));
    process.stdout.write(`\nthe history of ${settings.eventHubName}, per partition:\n`);
    for (const r of partitions) process.stdout.write(`${retentionLine(r)}\n`);
  } catch (error) {
    process.stderr.write(`opsfold config: could not read what ${settings.eventHubName} retains: ${(error as Error).message}\n`);
  } finally {
    await consumer.close();
  }
}
