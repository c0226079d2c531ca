import { Observable, asyncScheduler, interval, type OperatorFunction, type SchedulerLike } from 'rxjs';
import type { WindowEvent } from '../src/core/windowMath';
import type { FoldStep, MetricRecord, WindowFolder } from '../projections/WindowFolder';

export type { FoldStep, MetricRecord };

/**
 * Folds metric records into closed windows. Each record's append time is its processing
 * time, so replays close the same windows; with `idleTickMs` the scheduler's clock also
 * closes idle windows while no record arrives (the live tail). A fold that throws (on a tick
 * too) errors the output, so that the error reaches whoever runs the fold.
 *
 * @example
 * records$.pipe(foldWindows(folder, { idleTickMs: 1000 })).subscribe(step => sink(step.windows));
 */
export function foldWindows(
  folder: WindowFolder,
  { idleTickMs, scheduler = asyncScheduler }: { idleTickMs?: number; scheduler?: SchedulerLike } = {},
): OperatorFunction<MetricRecord, FoldStep> {
  return (source) =>
    new Observable<FoldStep>((subscriber) => {
      const ticks = idleTickMs === undefined
        ? undefined
        : interval(idleTickMs, scheduler).subscribe(() => {
            let windows: WindowEvent[];
            try {
              windows = folder.tick(scheduler.now());
            } catch (error) {
              return subscriber.error(error);
            }
            if (windows.length > 0) subscriber.next({ windows, late: [] });
          });
      const records = source.subscribe({
        next(record) {
          let step: FoldStep;
          try {
            step = folder.step(record);
          } catch (error) {
            return subscriber.error(error);
          }
          subscriber.next(step);
        },
        error: (error) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      return () => {
        ticks?.unsubscribe();
        records.unsubscribe();
      };
    });
}
