import { createHash, timingSafeEqual } from 'node:crypto';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { CapacityError, InvalidInputError, OpsfoldError, StorageError } from '../../core/errors';
import type { BlockTable, RowTable } from '../../core/ports';
import { bucketWindows, type AggregationBy, type Bucket } from '../../../projections/minuteQueries';
import { readVmCatalog } from '../../../projections/vmCatalog';
import { TableWindowReads } from '../../../projections/TableWindowReads';
import type { WindowReads } from '../../../projections/WindowReads';
import { withFinal } from '../../../projections/finalBuckets';
import { AnswerMemo } from './AnswerMemo';
import { topRoutes } from './topRoutes';
import { PROJECTIONS, type ProjectionName } from '../../../projections/projectionCatalog';
import { dashboardRouter } from './dashboardRoutes';
import { projectionRoutes, type ProjectionsApi } from './projectionRoutes';
import { openApiDocument } from './openapi';
import { backlogRoutes, type BacklogApi } from './backlogRoutes';
import { lateRoutes } from './lateRoutes';
import type { ScopedLedger } from '../../../projections/lateQueries';
import { aggregationByParam, intParam, parseQuery, queryString, requiredString, toParam } from './params';
import { HttpError } from './HttpError';
import { cors } from './cors';
import { securityHeaders } from './securityHeaders';

export interface IngestAnswer {
  accepted: number;
  rejected: { index: number; reason: string }[];
  duplicate?: true;
}

export interface ApiDeps {
  /** May throw InvalidInputError for a body that is not a SPOC message. */
  ingest(body: unknown, idempotencyKey?: string): Promise<IngestAnswer>;
  /** Ports for the active projection version. */
  minuteTable(): Promise<BlockTable>;
  vmMinuteTable(): Promise<BlockTable>;
  catalog(): Promise<RowTable>;
  /** How the windows are read (e.g. a read cache, RecentWindows); absent: from the three tables above. */
  reads?: WindowReads;
  /** Windows ending by this (epoch seconds) are final (ProjectionHost.finalThrough); absent: none is. */
  finalThrough?(): number | Promise<number>;
  rejects(): Promise<RowTable>;
  /** The late-events ledger of the active windows version, one table per scope; /v1/late answers only when given. */
  late?(projection?: string): Promise<readonly ScopedLedger[] | undefined>;
  /** The body of /healthz; its `status` is "ok" (200) or anything else, e.g. "failing" (503). */
  health(): Record<string, unknown> | Promise<Record<string, unknown>>;
  metricsText(): string | Promise<string>;
  /** The exposition's content type (prom-client's registry says which). */
  metricsContentType?: string;
  /** Told of every answered request, labelled by route pattern (for the request duration histogram). */
  observeRequest?(method: string, route: string, status: number, seconds: number): void;
  apiToken?: string;
  /** Origins allowed to read the API from a browser (CORS), or ['*']; absent: no CORS headers at all. */
  corsOrigins?: readonly string[];
  /** The BacklogDaily projection; /v1/backlog routes answer only when given. */
  backlog?: BacklogApi;
  /** `GET /v1/stream/windows` (see streamRoutes); absent: the route answers 404. */
  windowStream?: { handle(req: Request, res: Response): void };
  /** The declared projections; /v1/projections routes answer only when given. */
  projections?: ProjectionsApi;
  /** The quarantine ledgers' entries (of one projection when given), at most `limit`; absent: `GET /v1/quarantine` answers 404. */
  quarantine?(options: { projection?: string; limit: number }): Promise<unknown[] | undefined>;
}

export const MAX_BODY_BYTES = 256 * 1024;

export { HttpError };

interface ErrorBody {
  error: { code: string; parameter?: string; message: string };
}

function errorBody(code: string, message: string, parameter?: string): ErrorBody {
  return { error: parameter === undefined ? { code, message } : { code, parameter, message } };
}

const RANGE_PARAMS = ['key', 'minutes', 'aggregationInterval', 'aggregationBy', 'to'] as const;
const TENANT_PARAMS = [...RANGE_PARAMS, 'tenant', 'vm'] as const;

function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!m) return false;
  const a = createHash('sha256').update(m[1]).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

interface RangeRequest {
  key: string;
  minutes: number;
  aggregationInterval: number;
  aggregationBy: AggregationBy;
  to?: number;
}

function parseRange(params: Map<string, string>): RangeRequest {
  return {
    key: requiredString(params, 'key'),
    minutes: intParam(params, 'minutes', 60, 1, 10080),
    aggregationInterval: intParam(params, 'aggregationInterval', 1, 1, 1440),
    aggregationBy: aggregationByParam(params),
    to: toParam(params),
  };
}

function finiteNumber(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  const reads: WindowReads = deps.reads ?? new TableWindowReads({ minute: () => deps.minuteTable(), vmMinute: () => deps.vmMinuteTable(), catalog: () => deps.catalog() });
  const finalOf = async (): Promise<number> => (deps.finalThrough ? deps.finalThrough() : -Infinity);
  app.disable('x-powered-by');
  app.set('etag', false);
  const observe = deps.observeRequest;
  if (observe) {
    app.use((req: Request, res: Response, next: NextFunction) => {
      const started = process.hrtime.bigint();
      res.once('finish', () => {
        // The route's pattern, never the raw path (ids would make a series each); what matched no route counts as one.
        const pattern = (req.route as { path?: unknown } | undefined)?.path;
        const route = typeof pattern === 'string' ? `${req.baseUrl}${pattern}` : 'unmatched';
        observe(req.method, route, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
      });
      next();
    });
  }

  // Before every route and the token check (preflights and 401s included), so that each answer gets them.
  app.use(securityHeaders());
  if (deps.corsOrigins !== undefined && deps.corsOrigins.length > 0) app.use(cors(deps.corsOrigins));

  if (deps.apiToken) {
    const token = deps.apiToken;
    app.use('/v1', (req: Request, res: Response, next: NextFunction) => {
      if (tokenMatches(req.get('authorization'), token)) return next();
      res.set('WWW-Authenticate', 'Bearer realm="opsfold"'); // RFC 6750: how to authenticate
      next(new HttpError(401, 'unauthorized', 'this route needs Authorization: Bearer <token>'));
    });
  }

  app.post('/v1/spoc', express.text({ type: '*/*', limit: MAX_BODY_BYTES }), async (req: Request, res: Response) => {
    const text = typeof req.body === 'string' ? req.body : '';
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new HttpError(400, 'invalid_json', 'the request body is not valid JSON');
    }
    const key = req.get('idempotency-key');
    const answer = await deps.ingest(body, key === undefined || key === '' ? undefined : key);
    res.status(202).json(answer);
  });

  const getDataAnswers = new AnswerMemo();
  app.get('/v1/get-data', async (req: Request, res: Response) => {
    const q = parseRange(parseQuery(queryString(req), RANGE_PARAMS));
    const end = q.to ?? (await reads.newestOfKey(q.key));
    const answer = (data: (Bucket & { final: boolean })[]) => ({ key: q.key, minutes: q.minutes, aggregationInterval: q.aggregationInterval, aggregationBy: q.aggregationBy, data });
    if (end === undefined) return void res.json(answer([]));
    // Taken before the windows are read: an answer is never kept under a stamp newer than its windows.
    const windowsStamp = reads.crossTenantStamp?.(q.key, end, q.minutes);
    const [windows, finalThrough] = await Promise.all([reads.crossTenant(q.key, end, q.minutes), finalOf()]);
    const make = () => answer(withFinal(bucketWindows(windows, q.aggregationInterval, q.aggregationBy, { fleet: true }), { aggregationInterval: q.aggregationInterval, end }, finalThrough));
    if (windowsStamp === undefined) return void res.json(make());
    const id = JSON.stringify([q.key, end, q.minutes, q.aggregationInterval, q.aggregationBy]);
    const stamp = `${windowsStamp}/${finalThrough}`;
    const body = getDataAnswers.get(id, stamp) ?? getDataAnswers.set(id, stamp, Buffer.from(JSON.stringify(make())));
    res.type('application/json').send(body);
  });

  app.get('/v1/get-tenant-data', async (req: Request, res: Response) => {
    const params = parseQuery(queryString(req), TENANT_PARAMS);
    const q = parseRange(params);
    const tenant = requiredString(params, 'tenant');
    const vm = requiredString(params, 'vm');
    const end = q.to ?? (await reads.newestOfVm(tenant, vm, q.key));
    let data: (Bucket & { final: boolean; average: number | null })[] = [];
    // `average` is the cross-tenant bucket's value, made the same way (a quantile of the fleet's values for p50…p99).
    if (end !== undefined) {
      const [vmWindows, crossWindows, finalThrough] = await Promise.all([reads.perVm(tenant, vm, q.key, end, q.minutes), reads.crossTenant(q.key, end, q.minutes), finalOf()]);
      const cross = new Map(bucketWindows(crossWindows, q.aggregationInterval, q.aggregationBy).map((b) => [b.timestamp, b.value]));
      const buckets = withFinal(bucketWindows(vmWindows, q.aggregationInterval, q.aggregationBy), { aggregationInterval: q.aggregationInterval, end }, finalThrough);
      data = buckets.map((b) => Object.assign(b, { average: cross.get(b.timestamp) ?? null }));
    }
    res.json({ key: q.key, tenant, vm, minutes: q.minutes, aggregationInterval: q.aggregationInterval, aggregationBy: q.aggregationBy, data });
  });

  app.get('/v1/keys', async (req: Request, res: Response) => {
    parseQuery(queryString(req), []);
    const rows = await (await deps.catalog()).list({ partition: ['key'] });
    res.json({ keys: rows.map((r) => ({ key: r.row, newest: finiteNumber(r.fields.newest) ?? null })) });
  });

  app.get('/v1/tenants', async (req: Request, res: Response) => {
    parseQuery(queryString(req), []);
    const rows = await (await deps.catalog()).list();
    const tenants = [...readVmCatalog(rows)]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([tenant, vms]) => ({ tenant, vms: [...vms.keys()].sort() }));
    res.json({ tenants });
  });

  const windowStream = deps.windowStream;
  if (windowStream) app.get('/v1/stream/windows', (req: Request, res: Response) => windowStream.handle(req, res));

  app.get('/v1/rejects', async (req: Request, res: Response) => {
    const params = parseQuery(queryString(req), ['limit']);
    const limit = intParam(params, 'limit', 100, 1, 1000);
    const rows = await (await deps.rejects()).list({ limit });
    res.json({ rejects: rows.slice(0, limit).map((r) => ({ row: r.row, ...r.fields })) });
  });

  app.use(topRoutes(reads));
  if (deps.late) app.use(lateRoutes(deps.late.bind(deps)));
  const quarantine = deps.quarantine;
  if (quarantine) {
    app.get('/v1/quarantine', async (req: Request, res: Response) => {
      const params = parseQuery(queryString(req), ['projection', 'limit']);
      const limit = intParam(params, 'limit', 100, 1, 1000);
      const projection = params.get('projection');
      const entries = await quarantine({ projection, limit });
      if (entries === undefined) {
        throw new InvalidInputError(`parameter "projection" must be one of ${PROJECTIONS.join(', ')} or a declared projection's name, got ${JSON.stringify(projection)}`, { parameter: 'projection' });
      }
      res.json({ quarantine: entries });
    });
  }

  if (deps.backlog) app.use(backlogRoutes(deps.backlog));
  if (deps.projections) app.use(projectionRoutes(deps.projections));

  // 503 unless all is well, so that a probe (Docker's HEALTHCHECK, a load balancer) needs only the status code.
  app.get('/healthz', async (_req: Request, res: Response) => {
    const health = await deps.health();
    res.status(health.status === 'ok' ? 200 : 503).json(health);
  });

  app.get('/metrics', async (_req: Request, res: Response) => {
    res.type(deps.metricsContentType ?? 'text/plain; version=0.0.4; charset=utf-8').send(await deps.metricsText());
  });

  app.get('/openapi.json', (_req: Request, res: Response) => {
    res.json(openApiDocument);
  });

  app.use(dashboardRouter());

  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new HttpError(404, 'not_found', `no route for ${req.method} ${req.path}`));
  });

  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const { status, body, headers } = toErrorResponse(err);
    if (headers) res.set(headers);
    res.status(status).json(body);
  });

  return app;
}

/** Maps any thrown value to a status and an error object; never leaks a stack trace. */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody; headers?: Record<string, string> } {
  if (err instanceof HttpError) return { status: err.status, body: errorBody(err.code, err.message, err.parameter) };
  if (err instanceof InvalidInputError) return { status: 400, body: errorBody(err.code, err.message, err.parameter) };
  if (err instanceof StorageError) return { status: 503, body: errorBody(err.code, 'storage is unavailable; try again') };
  if (err instanceof CapacityError) return { status: 503, body: errorBody(err.code, err.message), headers: { 'Retry-After': String(err.retryAfterSeconds) } };
  if (err instanceof OpsfoldError) return { status: 500, body: errorBody('internal_error', 'internal error') };
  // body-parser errors carry `type` and `status`.
  const e = err as { type?: unknown; status?: unknown; statusCode?: unknown } | null;
  if (e && typeof e === 'object') {
    if (e.type === 'entity.too.large') return { status: 413, body: errorBody('payload_too_large', `the request body exceeds ${MAX_BODY_BYTES} bytes`) };
    const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
    if (status !== undefined && status >= 400 && status < 500) {
      const code = typeof e.type === 'string' ? e.type.replace(/[^a-z0-9]+/gi, '_') : 'bad_request';
      return { status, body: errorBody(code, 'the request could not be read') };
    }
  }
  return { status: 500, body: errorBody('internal_error', 'internal error') };
}
