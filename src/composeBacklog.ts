import type { Settings } from './config/settings';
import type { Runtime } from './runtime';
import { ConfigError } from './core/errors';
import { systemClock, type Clock } from './core/clock';
import { encodeEvent } from './core/logCodec';
import { readBacklogSamples } from './core/backlogHistory';
import { pollBacklog, polledEvent } from './core/pollBacklog';
import { parsePollAt } from './core/pollSchedule';
import { localDate, timeZone } from './core/zonedTime';
import type { EventAppender } from './core/ports';
import { teamTimezones, type BacklogTeam } from './core/backlogTeam';
import { ServiceNowClient, type ServiceNowAuth } from './adapters/serviceNow/ServiceNowClient';
import type { BacklogApi } from './adapters/http/backlogRoutes';
import { BacklogScheduler, type PollReason } from '../streams/BacklogScheduler';
import { backlogProjection, type BacklogConfig } from '../projections/backlogProjection';
import { openTable } from '../projections/projectionTables';

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

/** The backlog fold's settings: the backlog time zone, and each team's own. */
export function backlogConfig(settings: Settings): BacklogConfig {
  return { timezone: settings.backlogTimezone, timezoneOf: teamTimezones(settings.backlogTeams, settings.backlogTimezone) };
}

/** Polls these teams now and appends their samples, one record per team (partition key: the team); returns what failed. */
export async function pollAndRecord(teams: readonly BacklogTeam[], client: ServiceNowClient, log: EventAppender, now: () => number = Date.now): Promise<Awaited<ReturnType<typeof pollBacklog>>> {
  const outcome = await pollBacklog(teams, client, now);
  const byTeam = new Map<string, typeof outcome.samples>();
  for (const s of outcome.samples) byTeam.set(s.team, [...(byTeam.get(s.team) ?? []), s]);
  if (byTeam.size > 0) {
    const at = now();
    await log.append([...byTeam.values()].map((samples) => encodeEvent(polledEvent(samples, client.instance, at))), { partitionKeys: [...byTeam.keys()] });
  }
  return outcome;
}

export interface BacklogService {
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
 * The backlog part of the service besides its projector (which runs with the others): given
 * the client from `dailyPollClientFrom`, the daily poll of each team at its poll time in its
 * zone (BACKLOG_POLL_AT in BACKLOG_TIMEZONE unless its entry says otherwise), and the API's
 * view of the active version of the BacklogDaily projection.
 */
export async function startBacklog(
  settings: Settings, rt: Runtime, options: { log: Log; client?: ServiceNowClient; clock?: Clock; appender: EventAppender; version: () => number },
): Promise<BacklogService> {
  const { log, client } = options;
  const table = (role: 'daily' | 'teams') => openTable(rt.tables, backlogProjection.tables[role], { prefix: settings.tablePrefix, version: options.version() });
  const teams = settings.backlogTeams ?? [];
  const zoneOf = teamTimezones(teams, settings.backlogTimezone);
  let scheduler: BacklogScheduler | undefined;
  if (client) {
    const clock = options.clock ?? systemClock;
    scheduler = new BacklogScheduler({
      teams: teams.map((t) => ({ team: t.team, timezone: t.timezone, pollAt: t.pollAt === undefined ? undefined : parsePollAt(t.pollAt) })),
      pollAt: parsePollAt(settings.backlogPollAt),
      timezone: settings.backlogTimezone,
      clock,
      async poll(names: string[], reason: PollReason) {
        log(`backlog: ${reason} poll of ${names.join(', ')}`);
        const outcome = await pollAndRecord(teams.filter((t) => names.includes(t.team)), client, options.appender, () => clock.now());
        for (const f of outcome.failures) log(`backlog: ${f.team}: ${f.message}${f.retriable ? ' (tried again later today)' : ''}`);
        return { failed: outcome.failures };
      },
      async sampledTeamsOn(date: string) {
        // The file log is read back exactly; an Event Hub cannot be, so there the daily snapshots answer.
        if (rt.distributed) {
          const daily = await table('daily');
          const found = await Promise.all(teams.map(async (t) => ((await daily.get([t.team], date)) ? t.team : undefined)));
          return new Set(found.filter((t): t is string => t !== undefined));
        }
        const index = await readBacklogSamples(rt.log);
        const sampledOn = ([team, samples]: [string, Map<number, number>]) => {
          const zone = timeZone(zoneOf(team));
          return [...samples.keys()].some((ms) => localDate(ms, zone) === date);
        };
        return new Set([...index].filter(sampledOn).map(([team]) => team));
      },
      onError: (error) => log(`backlog: poll failed: ${(error as Error).message}`),
    });
    void scheduler.run();
    for (const s of scheduler.schedules) log(`backlog: polling ${s.teams.join(', ')} daily at ${s.pollAt} ${s.timezone}`);
  }
  return {
    api: { timezone: settings.backlogTimezone, timezoneOf: zoneOf, daily: () => table('daily'), teams: () => table('teams') },
    health: () => ({
      timezone: settings.backlogTimezone,
      pollAt: settings.backlogPollAt,
      teams: teams.map((t) => t.team),
      nextPollAt: scheduler?.nextPollAt === undefined ? null : new Date(scheduler.nextPollAt).toISOString(),
      lastPoll: scheduler?.lastPoll ? lastPollView(scheduler.lastPoll) : null,
      schedules: (scheduler?.schedules ?? []).map((s) => ({ ...s, nextPollAt: s.nextPollAt === undefined ? null : new Date(s.nextPollAt).toISOString() })),
      version: options.version(),
    }),
    async stop() {
      await scheduler?.stop();
    },
  };
}

function lastPollView(p: NonNullable<BacklogScheduler['lastPoll']>): Record<string, unknown> {
  return { at: new Date(p.atMs).toISOString(), date: p.date, reason: p.reason, teams: p.teams, failed: p.failed };
}
