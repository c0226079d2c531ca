import { Router, type Request, type Response } from 'express';
import { InvalidInputError } from '../../core/errors';
import type { RowTable } from '../../core/ports';
import type { ProjectionDefinition } from '../../core/projectionDefinition';
import { readDeclared } from '../../../projections/declaredQueries';
import { HttpError } from './HttpError';
import { parseQuery, queryString, toParam } from './params';

/** What the projection routes read: the declared projections, and the active version's tables of one. */
export interface ProjectionsApi {
  list(): Promise<{ name: string; definition: ProjectionDefinition; status: 'building' | 'live'; version: number | null }[]>;
  /** The definition and its active version's window tables (one per log partition); undefined when none is named so, or none is built yet. */
  tables(name: string): Promise<{ definition: ProjectionDefinition; scopes: RowTable[] } | 'building' | undefined>;
  /** `GET /v1/stream/projections/{name}`; absent: 404. */
  stream?: { handle(name: string, req: Request, res: Response): void };
}

/**
 * `GET /v1/projections`, `GET /v1/projections/{name}[?from=T][&to=T][&FIELD=VALUE…][&format=csv]`
 * and `GET /v1/stream/projections/{name}` (DESIGN §7). Errors go to createApp's error handler.
 */
export function projectionRoutes(api: ProjectionsApi): Router {
  const router = Router();

  router.get('/v1/projections', async (req: Request, res: Response) => {
    parseQuery(queryString(req), []);
    res.json({ projections: await api.list() });
  });

  router.get('/v1/projections/:name', async (req: Request, res: Response) => {
    const found = await api.tables(String(req.params.name));
    if (found === undefined) throw new HttpError(404, 'not_found', `no declared projection is named "${String(req.params.name)}"`);
    if (found === 'building') {
      res.set('Retry-After', '5');
      throw new HttpError(503, 'building', `the projection "${String(req.params.name)}" is being built from the log; it answers once its first build is complete`);
    }
    const { definition, scopes } = found;
    const params = parseQuery(queryString(req), ['from', 'to', 'format', ...definition.groupBy]);
    const from = toParam(params, 'from');
    const to = toParam(params, 'to');
    if (from !== undefined && to !== undefined && from > to) throw new InvalidInputError(`parameter "from" (${from}) is after "to" (${to})`, { parameter: 'from' });
    const format = params.get('format') ?? 'json';
    if (format !== 'json' && format !== 'csv') throw new InvalidInputError(`parameter "format" must be json or csv, got "${format}"`, { parameter: 'format' });
    const filters = new Map(definition.groupBy.filter((field) => params.has(field)).map((field) => [field as string, params.get(field)!]));
    const answer = await readDeclared(definition, scopes, { from, to, filters });
    if (format === 'json') {
      res.json(answer);
      return;
    }
    const header = ['windowStart', ...definition.groupBy, ...definition.aggregates, 'revision'];
    const lines = answer.data.map((d) => [
      new Date(d.windowStart * 1000).toISOString(), ...definition.groupBy.map((f) => d.group[f] ?? ''), ...definition.aggregates.map((a) => d[a] ?? ''), d.revision,
    ].map((v) => csvCell(v as string | number)).join(','));
    res.type('text/csv; charset=utf-8')
      .set('content-disposition', `inline; filename="${definition.name}.csv"`)
      .send(`${[header.join(','), ...lines].join('\r\n')}\r\n`);
  });

  router.get('/v1/stream/projections/:name', (req: Request, res: Response) => {
    if (!api.stream) throw new HttpError(404, 'not_found', 'the projection stream is not served here');
    api.stream.handle(String(req.params.name), req, res);
  });

  return router;
}

/** RFC 4180: quote a cell holding a comma, a quote or a line break. */
function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
