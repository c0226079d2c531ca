import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { HttpError } from './HttpError';

/** What a browser client of the API sends besides simple headers: the token, the idempotency key, JSON, an SSE resume. */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Idempotency-Key', 'Content-Type', 'Last-Event-ID'] as const;
export const CORS_ALLOWED_METHODS = ['GET', 'HEAD', 'POST', 'OPTIONS'] as const;
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * Opt-in CORS for every route (`OPSFOLD_CORS_ORIGINS`): a request from a listed origin (or any, with
 * `*`) gets `Access-Control-Allow-Origin`; a preflight from one is answered here, before the token
 * check (a browser sends no Authorization on a preflight). Any other origin gets no CORS headers, so the
 * browser keeps the answer from the page; its preflight is refused with 403. Answers depend on
 * `Origin`, hence `Vary: Origin` on every one.
 */
export function cors(origins: readonly string[]): RequestHandler {
  const any = origins.includes('*');
  const listed = new Set(origins);
  return (req: Request, res: Response, next: NextFunction) => {
    res.vary('Origin');
    const origin = req.get('origin');
    const allowed = origin !== undefined && (any || listed.has(origin));
    const preflight = req.method === 'OPTIONS' && origin !== undefined && req.get('access-control-request-method') !== undefined;
    if (allowed) {
      res.set('Access-Control-Allow-Origin', any ? '*' : origin);
      res.set('Access-Control-Expose-Headers', 'WWW-Authenticate, Retry-After');
    }
    if (!preflight) return next();
    if (!allowed) return next(new HttpError(403, 'origin_not_allowed', `the origin ${origin} may not read this API (OPSFOLD_CORS_ORIGINS)`));
    res.vary('Access-Control-Request-Headers');
    res.set({
      'Access-Control-Allow-Methods': CORS_ALLOWED_METHODS.join(', '),
      'Access-Control-Allow-Headers': CORS_ALLOWED_HEADERS.join(', '),
      'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_SECONDS),
    });
    res.status(204).end();
  };
}
