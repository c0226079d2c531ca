import { cachedCheck, type HealthCheck } from './core/health';
import type { Runtime } from './runtime';
import type { ProjectionHost } from './localProjections';

/** How long a storage probe may take, and how long its answer is kept (/healthz may be polled often). */
const PROBE_TIMEOUT_MS = 2000;
const PROBE_TTL_MS = 1500;

/** The storage, as /healthz sees it: the embedded Azurite's process (when there is one), and one cheap request to the tables. */
export function storageHealth(rt: Runtime): HealthCheck {
  const probe = cachedCheck(async () => {
    try {
      await rt.tables.probe(PROBE_TIMEOUT_MS);
      return [];
    } catch (error) {
      return [`storage: unreachable: ${(error as Error).message}`];
    }
  }, PROBE_TTL_MS);
  return async () => {
    const down = rt.storage?.problems() ?? [];
    return down.length > 0 ? down : probe();
  };
}

/**
 * The projections' flushes: a windows projector whose last flush (a write and a checkpoint every
 * flush interval, or nothing to write on an idle tail) is older than max(30 s, 10 flush intervals)
 * is stuck, e.g. waiting for a storage that does not answer.
 */
export function flushHealth(projections: ProjectionHost, flushIntervalMs: number, now: () => number = Date.now): HealthCheck {
  const boundMs = Math.max(30_000, 10 * flushIntervalMs);
  return () => {
    const last = projections.stats.lastFlushAtMs;
    if (last === undefined || last === 0 || now() - last <= boundMs) return [];
    return [`projector: the last flush was ${Math.round((now() - last) / 1000)} s ago (more than ${boundMs / 1000} s)`];
  };
}
