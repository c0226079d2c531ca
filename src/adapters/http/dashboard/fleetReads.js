// The fleet panel's reads of the service for one selection.

import { ApiError, getJson } from './api.js';

/**
 * The selection's reads: the key's minute windows (its newest ends the range, as in the API), the
 * VM's over the same range, and the p95 buckets when drawn. A service that refuses p95 (one without
 * percentiles) is not an error: the note under the chart says so.
 */
export async function readFleet(sel) {
  const range = { key: sel.key, minutes: sel.minutes, aggregationInterval: 1, aggregationBy: 'avg' };
  const cross = await getJson('/v1/get-data', range);
  const end = cross.data.at(-1)?.timestamp;
  const vm = sel.tenant && sel.vm ? getJson('/v1/get-tenant-data', { ...range, tenant: sel.tenant, vm: sel.vm, to: end }) : null;
  const p95 = sel.p95 && end !== undefined
    ? getJson('/v1/get-data', { ...range, aggregationInterval: sel.interval, aggregationBy: 'p95', to: end }).catch((error) => {
      if (error instanceof ApiError && error.status === 400 && error.body?.error?.parameter === 'aggregationBy') return { refused: error.message };
      throw error;
    })
    : null;
  return { cross, end, vm: await vm, p95: await p95 };
}
