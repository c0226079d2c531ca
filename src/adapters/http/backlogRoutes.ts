import { Router, type Request, type Response } from 'express';
import { InvalidInputError } from '../../core/errors';
import type { FieldValue, Row, RowTable } from '../../core/ports';
import { localIso, parseLocalDate, timeZone } from '../../core/zonedTime';
import { parseQuery, requiredString } from './params';

/** What the backlog routes read: the active BacklogDaily tables and the zones their dates are in. */
export interface BacklogApi {
  /** BACKLOG_TIMEZONE: the zone of the dates of a team without one of its own. */
  timezone: string;
  /** A team's own zone (BACKLOG_TEAMS), else `timezone`. */
  timezoneOf?: (team: string) => string;
  daily(): Promise<RowTable>;
  teams(): Promise<RowTable>;
}

interface Snapshot {
  date: string;
  count: number;
  sampledAt: string;
  samples: number;
  change: number | null;
  gapDays: number;
}

/** The old CSV files' two columns first, so that their readers keep working; then the rest. */
const CSV_HEADER = 'timestamp,backlog_incident_count,date,samples,change,gap_days,team';

/**
 * `GET /v1/backlog?team=NAME[&from=YYYY-MM-DD][&to=YYYY-MM-DD][&format=json|csv]` and
 * `GET /v1/backlog/teams` (DESIGN §5). Mounted by createApp; errors go to its error handler.
 */
export function backlogRoutes(api: BacklogApi): Router {
  const router = Router();
  timeZone(api.timezone); // a wrong zone stops the start, not the first request
  const zoneOf = (team: string) => api.timezoneOf?.(team) ?? api.timezone;

  router.get('/v1/backlog/teams', async (req: Request, res: Response) => {
    parseQuery(queryString(req), []);
    const rows = await (await api.teams()).list({ partition: ['teams'] });
    const teams = rows
      .map((r) => ({ team: r.row, timezone: zoneOf(r.row), from: str(r.fields.from), to: str(r.fields.to), snapshots: num(r.fields.snapshots) ?? 0, samples: num(r.fields.samples) ?? 0 }))
      .sort((a, b) => (a.team < b.team ? -1 : a.team > b.team ? 1 : 0));
    res.json({ timezone: api.timezone, teams });
  });

  router.get('/v1/backlog', async (req: Request, res: Response) => {
    const params = parseQuery(queryString(req), ['team', 'from', 'to', 'format']);
    const team = requiredString(params, 'team');
    const from = dateParam(params, 'from');
    const to = dateParam(params, 'to');
    if (from !== undefined && to !== undefined && from > to) {
      throw new InvalidInputError(`parameter "from" (${from}) is after "to" (${to})`, { parameter: 'from' });
    }
    const format = params.get('format') ?? 'json';
    if (format !== 'json' && format !== 'csv') throw new InvalidInputError(`parameter "format" must be json or csv, got "${format}"`, { parameter: 'format' });
    const rows = await (await api.daily()).list({ partition: [team], fromRow: from, toRow: to });
    const data = rows.map(snapshotOf);
    if (format === 'json') {
      res.json({ team, timezone: zoneOf(team), data });
      return;
    }
    const zone = timeZone(zoneOf(team));
    const lines = data.map((d) => [localIso(Date.parse(d.sampledAt), zone), d.count, d.date, d.samples, d.change ?? '', d.gapDays, team].map(csvCell).join(','));
    res.type('text/csv; charset=utf-8')
      .set('content-disposition', `inline; filename="backlog.csv"; filename*=UTF-8''${encodeURIComponent(`backlog-${team}.csv`)}`)
      .send(`${[CSV_HEADER, ...lines].join('\r\n')}\r\n`);
  });

  return router;
}

function snapshotOf(r: Row): Snapshot {
  return { date: r.row, count: num(r.fields.count) ?? 0, sampledAt: String(r.fields.sampledAt), samples: num(r.fields.samples) ?? 0, change: num(r.fields.change) ?? null, gapDays: num(r.fields.gapDays) ?? 0 };
}

function dateParam(params: Map<string, string>, name: string): string | undefined {
  const v = params.get(name);
  if (v === undefined) return undefined;
  if (!parseLocalDate(v.trim())) throw new InvalidInputError(`parameter "${name}" must be a date YYYY-MM-DD, got "${v}"`, { parameter: name });
  return v.trim();
}

function queryString(req: Request): string {
  const url = req.originalUrl ?? req.url;
  const i = url.indexOf('?');
  return i < 0 ? '' : url.slice(i + 1);
}

function csvCell(value: string | number): string {
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function num(v: FieldValue | undefined): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function str(v: FieldValue | undefined): string | null {
  return typeof v === 'string' ? v : null;
}
