import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PatientTableStore } from './adapters/tableStorage/PatientTableStore';
import type { ProjectionHost } from './localProjections';

/**
 * The parts of a stop, each bounded so that the whole service ends within 10 s of SIGINT or SIGTERM
 * (the CLI ends the process at 9 s whatever happens): the HTTP server closes its connections
 * (SERVER_CLOSE_MS), the sources stop (STEP_MS: a ServiceNow poll under way is not waited for; it is
 * done again at the next start), the projectors write and checkpoint what they hold (FINAL_FLUSH_MS),
 * and the embedded Azurite saves and exits (AZURITE_STOP_MS).
 */
export const SERVER_CLOSE_MS = 1000;
export const STEP_MS = 1000;
export const FINAL_FLUSH_MS = 4000;
export const AZURITE_STOP_MS = 2500;

/** Whether `work` settled within `ms`. */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  const done = await Promise.race([work.then(() => true, () => true), sleep(ms, false, { signal: timer.signal }).catch(() => false)]);
  timer.abort();
  return done;
}

/**
 * Stops the projectors, which flush and checkpoint first. When that takes longer than `ms` (the
 * storage does not answer), their store is held, so their waiting writes fail and they end without
 * a checkpoint: the log is folded again from the last stored checkpoint at the next start, so
 * nothing acknowledged is lost and nothing is counted twice.
 */
export async function stopProjectionsInTime(projections: ProjectionHost, patient: PatientTableStore, log: (line: string) => void, ms = FINAL_FLUSH_MS): Promise<void> {
  const stopped = projections.stop();
  if (await settlesWithin(stopped, ms)) return stopped;
  log(`the final flush did not finish within ${ms / 1000} s; what it did not write is folded again from the log at the next start`);
  patient.hold('the service is stopping and its final flush ran out of time');
  return stopped;
}

/**
 * Runs one part of a stop: its failure is told and does not keep the next parts from running, nor
 * does its taking longer than `ms` (it goes on meanwhile).
 */
export async function stopStep(what: string, work: () => Promise<unknown>, log: (line: string) => void, ms = STEP_MS): Promise<void> {
  const done = work().catch((error: unknown) => log(`stopping: ${what}: ${(error as Error).message}`));
  if (!(await settlesWithin(done, ms))) log(`stopping: ${what} did not finish within ${ms / 1000} s; going on`);
}

/** Closes the server: no new connections, idle ones closed; requests under way get `ms` to finish, then their connections are cut. */
export async function closeServerInTime(server: Server, ms = SERVER_CLOSE_MS): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  if (!(await settlesWithin(closed, ms))) server.closeAllConnections();
  await closed;
}
