import { InvalidInputError } from './errors';
import { formatPollAt, parsePollAt } from './pollSchedule';
import { isTimeZone } from './zonedTime';

/**
 * One backlog series that is polled: its name (the series' identity: a team's incidents and its
 * tasks are two entries, e.g. "EUC" and "EUC tasks"), the ServiceNow `sysparm_query` that counts
 * its open records, and optionally the table counted and its own day (zone and poll time).
 */
export interface BacklogTeam {
  team: string;
  query: string;
  /** The ServiceNow table whose Aggregate API counts it (`/api/now/stats/<table>`); `incident` when absent. */
  table?: string;
  /** IANA zone of its poll time and snapshot dates; BACKLOG_TIMEZONE when absent. */
  timezone?: string;
  /** Local time of its daily poll, `HH:mm`; BACKLOG_POLL_AT when absent. */
  pollAt?: string;
}

export const DEFAULT_TABLE = 'incident';
const KEYS = ['team', 'query', 'table', 'timezone', 'pollAt'];

/** ServiceNow table names (`incident`, `sc_task`, `u_desk_request`): lowercase letters, digits and underscores, at most 80. */
export function validateTableName(table: unknown, what = 'table'): string {
  if (typeof table !== 'string' || !/^[a-z0-9_]{1,80}$/.test(table)) {
    throw new InvalidInputError(`${what} must be a ServiceNow table name (lowercase letters, digits and underscores, such as incident or sc_task), got ${JSON.stringify(table)}`, { parameter: what });
  }
  return table;
}

/** The zone of each team's snapshot dates: its own, else `fallback` (BACKLOG_TIMEZONE); teams not listed (imported only) get `fallback`. */
export function teamTimezones(teams: readonly BacklogTeam[] | undefined, fallback: string): (team: string) => string {
  const zones = new Map((teams ?? []).filter((t) => t.timezone !== undefined).map((t) => [t.team, t.timezone!]));
  return (team) => zones.get(team) ?? fallback;
}

export const MAX_TEAM_LENGTH = 128;

/** Team names become table partitions and CSV cells: printable, 1 to 128 characters. */
export function validateTeamName(team: unknown, what = 'team'): string {
  if (typeof team !== 'string' || team.trim() === '' || team !== team.trim()) {
    throw new InvalidInputError(`${what} must be a non-empty name without surrounding spaces, got ${JSON.stringify(team)}`, { parameter: what });
  }
  if (team.length > MAX_TEAM_LENGTH || /[\u0000-\u001f\u007f-\u009f]/.test(team)) {
    throw new InvalidInputError(`${what} must be at most ${MAX_TEAM_LENGTH} printable characters, got ${JSON.stringify(team)}`, { parameter: what });
  }
  return team;
}

/**
 * Reads the BACKLOG_TEAMS JSON: `[{"team":"EUC","query":"active=true^assignment_group.name=EUC"}]`,
 * each entry optionally with `"table"`, `"timezone"` and `"pollAt"`. Team names are unique; an
 * unknown key is refused (a misspelt `"timeZone"` would silently mean BACKLOG_TIMEZONE); the
 * error names the entry at fault.
 */
export function parseBacklogTeams(json: string, what = 'BACKLOG_TEAMS'): BacklogTeam[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new InvalidInputError(`${what} is not valid JSON (${(error as Error).message}); expected [{"team":"EUC","query":"active=true^assignment_group.name=EUC"}]`, { parameter: what });
  }
  if (!Array.isArray(parsed)) throw new InvalidInputError(`${what} must be a JSON array of {"team","query"} objects`, { parameter: what });
  const seen = new Set<string>();
  return parsed.map((entry: unknown, i): BacklogTeam => {
    const where = `${what}[${i}]`;
    const refuse = (message: string) => new InvalidInputError(message, { parameter: what });
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw refuse(`${where} must be an object {"team","query"}`);
    const { team, query, table, timezone, pollAt } = entry as Record<string, unknown>;
    const unknown = Object.keys(entry).filter((k) => !KEYS.includes(k));
    if (unknown.length > 0) throw refuse(`${where} has the unknown key ${JSON.stringify(unknown[0])} (an entry may have ${KEYS.map((k) => `"${k}"`).join(', ')})`);
    validateTeamName(team, `${where}.team`);
    if (typeof query !== 'string' || query.trim() === '') throw refuse(`${where}.query must be a non-empty ServiceNow query`);
    if (seen.has(team as string)) throw refuse(`${where}.team ${JSON.stringify(team)} appears twice`);
    seen.add(team as string);
    const parsedTeam: BacklogTeam = { team: team as string, query };
    if (table !== undefined) parsedTeam.table = validateTableName(table, `${where}.table`);
    if (timezone !== undefined) {
      if (typeof timezone !== 'string' || !isTimeZone(timezone)) throw refuse(`${where}.timezone must be an IANA time zone such as America/Chicago, got ${JSON.stringify(timezone)}`);
      parsedTeam.timezone = timezone;
    }
    if (pollAt !== undefined) parsedTeam.pollAt = formatPollAt(parsePollAt(pollAt as string, `${where}.pollAt`));
    return parsedTeam;
  });
}
