import type { Settings } from './config/settings';
import type { Runtime } from './runtime';
import { activeVersion } from './runtime';
import { ConfigError } from './core/errors';
import { systemClock, type Clock } from './core/clock';
import { encodeEvent } from './core/logCodec';
import { readBacklogSamples } from './core/backlogHistory';
import { pollBacklog, polledEvent } from './core/pollBacklog';
import { parsePollAt } from './core/pollSchedule';
import { localDate, timeZone } from './core/zonedTime';
import type { EventLog } from './core/ports';
import type { BacklogTeam } from './core/backlogTeam';
import { ServiceNowClient, type ServiceNowAuth } from './adapters/serviceNow/ServiceNowClient';
import type { BacklogApi } from './adapters/http/backlogRoutes';
import { BacklogProjector } from '../streams/BacklogProjector';
import { BacklogScheduler, type PollReason } from '../streams/BacklogScheduler';
import { backlogTables } from '../projections/projectionCatalog';

type Log = (line: string) => void;

/**
 * The ServiceNow client the settings describe (after `resolveSecrets`); a missing piece is a
 * ConfigError naming the setting and, with KEY_VAULT_URL, the secret that was looked for.
 */
export function serviceNowClientFrom(settings: Settings, log: Log): ServiceNowClient {
  const vault = settings.keyVaultUrl;
  const missing = (setting: string, secret?: string) => new ConfigError(setting, `${setting} is not set${
    secret === undefined ? '' : vault ? ` and Key Vault ${vault} has no secret "${secret}"` : ' (set it, or KEY_VAULT_URL to read it from Key Vault)'}`);
  if (!settings.serviceNowInstanceUrl) throw missing('SERVICENOW_INSTANCE_URL');
  if (!settings.serviceNowUsername) throw missing('SERVICENOW_USERNAME', settings.serviceNowUsernameSecret);
  if (!settings.serviceNowPassword) throw missing('SERVICENOW_PASSWORD', settings.serviceNowPasswordSecret);
  let auth: ServiceNowAuth = { kind: 'basic', username: settings.serviceNowUsername, password: settings.serviceNowPassword };
  if (settings.serviceNowAuth === 'oauth') {
    if (!settings.serviceNowClientId) throw missing('SERVICENOW_CLIENT_ID');
    if (!settings.serviceNowClientSecret) throw missing('SERVICENOW_CLIENT_SECRET', settings.serviceNowClientSecretSecret);
    auth = { ...auth, kind: 'oauth', clientId: settings.serviceNowClientId, clientSecret: settings.serviceNowClientSecret };
  }
  return new ServiceNowClient({ instanceUrl: settings.serviceNowInstanceUrl, auth, timeoutMs: settings.serviceNowTimeoutMs, attempts: settings.serviceNowAttempts, log });
}

/** Polls these teams now and appends their samples in one record; returns what failed. */
export async function pollAndRecord(teams: readonly BacklogTeam[], client: ServiceNowClient, log: EventLog, now: () => number = Date.now): Promise<Awaited<ReturnType<typeof pollBacklog>>> {
  const outcome = await pollBacklog(teams, client, now);
  if (outcome.samples.length > 0) await log.append([encodeEvent(polledEvent(outcome.samples, client.instance, now()))]);
  return outcome;
}

export interface BacklogService {
  running: Promise<unknown>;
  api: BacklogApi;
  health(): Record<string, unknown>;
  stop(): Promise<void>;
}

/**
 * The client of the daily poll when BACKLOG_TEAMS and SERVICENOW_INSTANCE_URL are set (checked
 * before anything starts, so that a missing credential stops the service at once).
 */
export function dailyPollClientFrom(settings: Settings, log: Log): ServiceNowClient | undefined {
  if ((settings.backlogTeams ?? []).length === 0) return undefined;
  if (!settings.serviceNowInstanceUrl) {
    log('backlog: BACKLOG_TEAMS is set but SERVICENOW_INSTANCE_URL is not: no daily poll');
    return undefined;
  }
  return serviceNowClientFrom(settings, log);
}

/**
 * The backlog part of the service: the BacklogDaily projector following the log and, given the
 * client from `dailyPollClientFrom`, the daily poll in BACKLOG_TIMEZONE.
 */
export async function startBacklog(settings: Settings, rt: Runtime, signal: AbortSignal, options: { log: Log; client?: ServiceNowClient; clock?: Clock }): Promise<BacklogService> {
  const { log, client } = options;
  const version = await activeVersion(rt.versions, 'backlog');
  const tables = backlogTables(settings.tablePrefix, version);
  const projector = new BacklogProjector({ log: rt.log, tables: rt.tables, versions: rt.versions, tablePrefix: settings.tablePrefix, version, timezone: settings.backlogTimezone, follow: true, flushIntervalMs: settings.flushIntervalMs });
  const running: Promise<unknown>[] = [projector.run(signal)];
  const teams = settings.backlogTeams ?? [];
  let scheduler: BacklogScheduler | undefined;
  if (client) {
    const zone = timeZone(settings.backlogTimezone, 'BACKLOG_TIMEZONE');
    const clock = options.clock ?? systemClock;
    scheduler = new BacklogScheduler({
      teams: teams.map((t) => t.team),
      pollAt: parsePollAt(settings.backlogPollAt),
      timezone: settings.backlogTimezone,
      clock,
      async poll(names: string[], reason: PollReason) {
        log(`backlog: ${reason} poll of ${names.join(', ')}`);
        const outcome = await pollAndRecord(teams.filter((t) => names.includes(t.team)), client, rt.log, () => clock.now());
        for (const f of outcome.failures) log(`backlog: ${f.team}: ${f.message}${f.retriable ? ' (tried again later today)' : ''}`);
        return { failed: outcome.failures };
      },
      async sampledTeamsOn(date: string) {
        const index = await readBacklogSamples(rt.log);
        return new Set([...index].filter(([, samples]) => [...samples.keys()].some((ms) => localDate(ms, zone) === date)).map(([team]) => team));
      },
      onError: (error) => log(`backlog: poll failed: ${(error as Error).message}`),
    });
    running.push(scheduler.run());
    log(`backlog: polling ${teams.map((t) => t.team).join(', ')} daily at ${settings.backlogPollAt} ${settings.backlogTimezone}`);
  }
  return {
    running: Promise.all(running),
    api: { timezone: settings.backlogTimezone, daily: () => rt.tables.rowTable(tables.daily), teams: () => rt.tables.rowTable(tables.teams) },
    health: () => ({
      timezone: settings.backlogTimezone,
      pollAt: settings.backlogPollAt,
      teams: teams.map((t) => t.team),
      nextPollAt: scheduler?.nextPollAt === undefined ? null : new Date(scheduler.nextPollAt).toISOString(),
      lastPoll: scheduler?.lastPoll ? lastPollView(scheduler.lastPoll) : null,
      projector: { position: projector.stats.position, samples: projector.stats.samples },
      version,
    }),
    async stop() {
      await scheduler?.stop();
    },
  };
}

function lastPollView(p: NonNullable<BacklogScheduler['lastPoll']>): Record<string, unknown> {
  return { at: new Date(p.atMs).toISOString(), date: p.date, reason: p.reason, teams: p.teams, failed: p.failed };
}
