import type { EventLog, LogRecord } from '../src/core/ports';

/**
 * A view of the log that hands records out one at a time and remembers the append time of the
 * one being folded: a rebuild's processing time, for code that must time-stamp the projector's
 * emissions the way the live service did (the window-event history) without touching the
 * projector. A reader processes a batch before asking for the next, so the clock is the record's.
 *
 * @example
 * const { log: timed, clock } = withRecordClock(log);
 * const projector = new Projector({ ...options, projection: windowsProjection, log: timed });
 * const feed = await WindowEventFeed.open({ windows$: projector.windows$, clock, ... });
 */
export function withRecordClock(log: EventLog, fallback: () => number = Date.now): { log: EventLog; clock: () => number } {
  let current: number | undefined;
  const timed: EventLog = {
    append: (payloads) => log.append(payloads),
    end: () => log.end(),
    close: () => log.close(),
    read(from, options) {
      const source = log.read(from, options);
      return {
        async *[Symbol.asyncIterator](): AsyncGenerator<LogRecord[]> {
          for await (const batch of source) {
            for (const record of batch) {
              current = record.appendedAtMs;
              yield [record];
            }
          }
        },
      };
    },
  };
  return { log: timed, clock: () => current ?? fallback() };
}
