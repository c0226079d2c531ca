import { InvalidInputError } from './errors';

/** A team whose backlog is polled: its name and the ServiceNow `sysparm_query` that counts its open incidents. */
export interface BacklogTeam {
  team: string;
  query: string;
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
 * Reads the BACKLOG_TEAMS JSON: `[{"team":"EUC","query":"active=true^assignment_group.name=EUC"}]`.
 * Team names are unique; the error names the entry at fault.
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
    if (entry === null || typeof entry !== 'object') throw new InvalidInputError(`${where} must be an object {"team","query"}`, { parameter: what });
    const { team, query } = entry as Record<string, unknown>;
    validateTeamName(team, `${where}.team`);
    if (typeof query !== 'string' || query.trim() === '') throw new InvalidInputError(`${where}.query must be a non-empty ServiceNow query`, { parameter: what });
    if (seen.has(team as string)) throw new InvalidInputError(`${where}.team ${JSON.stringify(team)} appears twice`, { parameter: what });
    seen.add(team as string);
    return { team: team as string, query };
  });
}
