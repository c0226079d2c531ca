import { Router, type Request, type Response } from 'express';
import type { WindowReads } from '../../../projections/WindowReads';
import { intParam, parseQuery, queryString, requiredString, toParam, topByParam } from './params';

/** The longest range /v1/top reads: a day (on the tables it takes a read per VM, each of up to 96 blocks). */
export const TOP_MAX_MINUTES = 1440;
export const TOP_MAX_N = 1000;

/**
 * `GET /v1/top?key=K&minutes=N[&n=10][&by=avg|max|p95][&to=T]` (DESIGN §8): the `n` VMs with the
 * highest value of the key over the range, highest first, as
 * `{"key","minutes","by","data":[{"tenant","vm","value","count"}]}`. The range ends at `to` (as
 * get-data's) or else at the key's newest cross-tenant window; `count` is the VM's metrics in it.
 * Mounted by createApp.
 */
export function topRoutes(reads: WindowReads): Router {
  const router = Router();
  router.get('/v1/top', async (req: Request, res: Response) => {
    const params = parseQuery(queryString(req), ['key', 'minutes', 'n', 'by', 'to']);
    const key = requiredString(params, 'key');
    const minutes = intParam(params, 'minutes', 60, 1, TOP_MAX_MINUTES);
    const n = intParam(params, 'n', 10, 1, TOP_MAX_N);
    const by = topByParam(params);
    const end = toParam(params) ?? (await reads.newestOfKey(key));
    const data = end === undefined ? [] : await reads.top(key, end, minutes, by, n);
    res.json({ key, minutes, by, data });
  });
  return router;
}
