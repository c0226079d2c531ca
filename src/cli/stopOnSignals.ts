import { constants } from 'node:os';

/** The whole stop, whatever happens in it: past this the process ends anyway (the promise is "within 10 s"). */
export const STOP_TIMEOUT_MS = 9000;

type StopSignal = 'SIGINT' | 'SIGTERM';

/** The exit code of a process ended by `signal`, as shells report it (128 + its number: 130, 143). */
export const exitCodeOf = (signal: StopSignal): number => 128 + constants.signals[signal];

/**
 * Waits for SIGINT or SIGTERM (Ctrl-C, `docker stop`, systemd, `timeout`; to this process or its
 * whole group), then stops `service` and resolves with the exit code: 0 when the stop was clean, 1
 * when it failed. A second signal during the stop ends the process at once with 130 or 143, and a
 * stop that takes longer than STOP_TIMEOUT_MS ends it with 1: what was not written then is folded
 * again from the log at the next start, and the embedded Azurite exits with this process.
 */
export function stopOnSignals(service: { stop(): Promise<void> }, log: (line: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const first = (signal: StopSignal) => {
      process.off('SIGINT', first).off('SIGTERM', first);
      const again = (second: StopSignal) => {
        log(`${second} again: stopping at once`);
        process.exit(exitCodeOf(second));
      };
      process.on('SIGINT', again).on('SIGTERM', again);
      log(`${signal}: stopping (a second SIGINT or SIGTERM stops at once)`);
      const watchdog = setTimeout(() => {
        log(`the stop took longer than ${STOP_TIMEOUT_MS / 1000} s; stopping at once`);
        process.exit(1);
      }, STOP_TIMEOUT_MS);
      watchdog.unref();
      service.stop().then(() => {
        log('stopped');
        resolve(0);
      }, (error: unknown) => {
        log(`the stop failed: ${(error as Error).message}`);
        resolve(1);
      });
    };
    process.on('SIGINT', first).on('SIGTERM', first);
  });
}
