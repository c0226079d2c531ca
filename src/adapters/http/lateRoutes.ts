import { Router, type Request, type Response } from 'express';
import { InvalidInputError } from '../../core/errors';
import { readLate, type ScopedLedger } from '../../../projections/lateQueries';
import { intParam, parseQuery, queryString } from './params';

/**
 * `GET /v1/late[?projection=NAME][&limit=N][&key=K][&tenant=T]` (DESIGN §2, §6): the late-events ledger
 * of the windows projection or of a declared one, the first `limit` (default 100, at most 1,000)
 * metrics in log order, as `{"late":[{key, tenant, vm, t, value, watermark, position, index}]}` (with
 * `partition` on Event Hubs). `ledgers` answers undefined for a name that is no such projection (400).
 * Mounted by createApp.
 */
export function lateRoutes(ledgers: (projection?: string) => Promise<readonly ScopedLedger[] | undefined>): Router {
  const router = Router();
  router.get('/v1/late', async (req: Request, res: Response) => {
    const params = parseQuery(queryString(req), ['projection', 'limit', 'key', 'tenant']);
    const limit = intParam(params, 'limit', 100, 1, 1000);
    const projection = nonEmpty(params, 'projection');
    const scoped = await ledgers(projection);
    if (scoped === undefined) {
      throw new InvalidInputError(`parameter "projection" must be windows or a declared projection's name, got ${JSON.stringify(projection)}`, { parameter: 'projection' });
    }
    res.json({ late: await readLate(scoped, { limit, key: nonEmpty(params, 'key'), tenant: nonEmpty(params, 'tenant') }) });
  });
  return router;
}

function nonEmpty(params: Map<string, string>, name: string): string | undefined {
  const v = params.get(name);
  if (v === '') throw new InvalidInputError(`parameter "${name}" must not be empty`, { parameter: name });
  return v;
}
