import { Observable } from 'rxjs';
import type { StreamedWindowEvent, WindowEventSource, WindowFilter } from '../src/core/windowStream';

/**
 * The window events of a source as an Observable, for code that embeds opsfold: with `after`,
 * first every matching event the history holds after that id, then live ones, each exactly once
 * and in id order. Errors when the history cannot be read; never completes by itself.
 *
 * @example
 * const service = await startService(settings);
 * service.windowEvents({ key: 'win_cpu.percent', grouping: 'cross' })
 *   .subscribe((w) => console.log(w.id, w.windowStart, w.avg, w.revision));
 */
export function windowEvents(
  source: WindowEventSource,
  filter: WindowFilter = {},
  { after }: { after?: number } = {},
): Observable<StreamedWindowEvent> {
  return new Observable<StreamedWindowEvent>((subscriber) =>
    source.subscribe(filter, {
      next(entries) {
        for (const e of entries) subscriber.next(e.window);
      },
      error: (error) => subscriber.error(error),
    }, { after }),
  );
}
