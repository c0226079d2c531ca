import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { FileLog } from '../adapters/fileLog/FileLog';
import { eventHubsConfigured } from '../adapters/eventHubs/azureClients';
import { noteLogRepair, openRuntime } from '../runtime';
import { openAppender } from '../openAppender';
import { backlogProjection } from '../../projections/backlogProjection';
import { openTable } from '../../projections/projectionTables';
import { resolveSecrets } from '../config/secrets';
import { parseBacklogCsv, type BacklogCsvOptions, type LineError } from '../core/backlogCsv';
import { readBacklogSamples } from '../core/backlogHistory';
import { validateTeamName } from '../core/backlogTeam';
import { ConfigError, InvalidInputError } from '../core/errors';
import type { BacklogSampled } from '../core/events';
import { encodeEvent } from '../core/logCodec';
import { planBacklogImport } from '../core/planBacklogImport';
import { timeZone } from '../core/zonedTime';
import { pollAndRecord, serviceNowClientFrom } from '../composeBacklog';
import { settingsFrom, type Flags } from './commands';
import { progressBar } from './progress';

const MAX_ERRORS_SHOWN = 50;
const note = (line: string) => process.stderr.write(`opsfold: ${line}\n`);

export interface ImportBacklogOptions extends BacklogCsvOptions {
  team: string;
  timezone: string;
}

/**
 * `opsfold import-backlog --team NAME --timezone IANA [--time-column C] [--count-column C]
 * [--keep-creation-row] FILE.csv`: appends one team's history in one log record, all or nothing.
 * Every wrong line is reported and then nothing is appended; samples already in the log (same
 * team and instant) are skipped, so a second import adds nothing.
 */
export async function importBacklogCommand(file: string, o: ImportBacklogOptions, flags: Flags): Promise<number> {
  const settings = settingsFrom(flags);
  const team = validateTeamName(o.team, '--team');
  timeZone(o.timezone, '--timezone');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InvalidInputError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { parameter: 'file' });
  }
  const parsed = parseBacklogCsv(text, o.timezone, { timeColumn: o.timeColumn, countColumn: o.countColumn, keepCreationRow: o.keepCreationRow });
  if (parsed.errors.length > 0) return refuse(file, parsed.errors);
  const creation = parsed.creationRow;
  if (creation && !o.keepCreationRow) {
    note(`import-backlog: ${file}:${creation.line}: left out the 0 the original job wrote when it created the file (${new Date(creation.sampledAtMs).toISOString()}), not a count read from ServiceNow; --keep-creation-row imports it`);
  }
  if ((settings.backlogTeams ?? []).length > 0 && !settings.backlogTeams!.some((t) => t.team === team)) {
    note(`import-backlog: team "${team}" is not in BACKLOG_TEAMS; importing its history anyway`);
  }

  // The file log is read back for the samples it holds; an Event Hub cannot be, so there the projection's sample rows answer.
  const distributed = eventHubsConfigured(settings);
  const rt = distributed ? await openRuntime(settings, { log: false }) : undefined;
  const log = rt ? rt.appender : await FileLog.open(join(settings.dataDir, 'log'), { onRepair: noteLogRepair });
  try {
    let inLog: Map<number, number> | undefined;
    if (rt) {
      const version = await rt.versions.activeOrFirst('backlog');
      const rows = await (await openTable(rt.tables, backlogProjection.tables.samples, { prefix: settings.tablePrefix, version })).list({ partition: [team] });
      inLog = new Map(rows.map((r) => [Date.parse(r.row), Number(r.fields.count)]));
    } else {
      const fileLog = log as FileLog;
      const bar = progressBar('import-backlog: reading the log', await fileLog.end(), 'bytes');
      inLog = (await readBacklogSamples(fileLog, { team, onProgress: (p) => bar.update(p) })).get(team);
      bar.stop();
    }
    const plan = planBacklogImport(parsed.samples, inLog);
    if (plan.errors.length > 0) return refuse(file, plan.errors);
    if (plan.fresh.length > 0) {
      const event: BacklogSampled = {
        type: 'BacklogSampled', source: 'csv', recordedAtMs: Date.now(), origin: basename(file),
        samples: plan.fresh.map((s) => ({ team, sampledAtMs: s.sampledAtMs, count: s.count })),
      };
      await log.append([encodeEvent(event)], { partitionKeys: [team] });
    }
    const first = plan.fresh[0]?.sampledAtMs;
    const last = plan.fresh[plan.fresh.length - 1]?.sampledAtMs;
    process.stdout.write(`${JSON.stringify({
      team, file: basename(file), rows: parsed.samples.length, new: plan.fresh.length, alreadyInLog: plan.alreadyInLog, repeatedInFile: plan.repeatedInFile,
      from: first === undefined ? null : new Date(first).toISOString(), to: last === undefined ? null : new Date(last).toISOString(),
      ...(creation && !o.keepCreationRow ? { creationRowSkipped: { line: creation.line, at: new Date(creation.sampledAtMs).toISOString() } } : {}),
    })}\n`);
    return 0;
  } finally {
    await (rt ? rt.close() : (log as FileLog).close());
  }
}

function refuse(file: string, errors: readonly LineError[]): number {
  const sorted = [...errors].sort((a, b) => a.line - b.line);
  for (const e of sorted.slice(0, MAX_ERRORS_SHOWN)) process.stderr.write(`${file}:${e.line}: ${e.message}\n`);
  if (sorted.length > MAX_ERRORS_SHOWN) process.stderr.write(`… and ${sorted.length - MAX_ERRORS_SHOWN} more\n`);
  process.stderr.write(`opsfold import-backlog: ${sorted.length} ${sorted.length === 1 ? 'line is' : 'lines are'} wrong; nothing was imported\n`);
  return 1;
}

/**
 * `opsfold poll-backlog [--team NAME]`: reads each configured team's count from ServiceNow now
 * and appends the samples in one record. Refused credentials append nothing; exit 1 when any
 * team failed.
 */
export async function pollBacklogCommand(o: { team?: string }, flags: Flags): Promise<number> {
  const settings = await resolveSecrets(settingsFrom(flags), { log: note });
  const configured = settings.backlogTeams ?? [];
  if (configured.length === 0) throw new ConfigError('BACKLOG_TEAMS', 'BACKLOG_TEAMS is not set: no team to poll (e.g. [{"team":"EUC","query":"active=true^assignment_group.name=EUC"}])');
  const teams = o.team === undefined ? configured : configured.filter((t) => t.team === o.team);
  if (teams.length === 0) throw new InvalidInputError(`--team "${o.team}" is not in BACKLOG_TEAMS (${configured.map((t) => t.team).join(', ')})`, { parameter: '--team' });
  const client = serviceNowClientFrom(settings, note);
  const log = await openAppender(settings);
  try {
    const outcome = await pollAndRecord(teams, client, log.appender);
    for (const f of outcome.failures) process.stderr.write(`opsfold poll-backlog: ${f.team}: ${f.message}\n`);
    process.stdout.write(`${JSON.stringify({
      samples: outcome.samples.map((s) => ({ team: s.team, count: s.count, sampledAt: new Date(s.sampledAtMs).toISOString() })),
      failed: outcome.failures.map((f) => f.team),
    })}\n`);
    return outcome.failures.length > 0 ? 1 : 0;
  } finally {
    await log.close();
  }
}
