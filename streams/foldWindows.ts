import { Observable, asyncScheduler, interval, type OperatorFunction, type SchedulerLike } from 'rxjs';
import type { Metric } from '../src/core/metric';
import type { LateMetric, WindowEvent } from '../src/core/windowMath';
import type { WindowFolder } from './WindowFolder';

/** A decoded log record that carries metrics. */
export interface MetricRecord {
  position: number;
  next: number;
  appendedAtMs: number;
  metrics: readonly Metric[];
  /** Each metric's index within the log record, when some of its metrics were left out (quarantined). */
  indexes?: readonly number[];
}

/** What folding one record (or one idle tick) produced. `next` is absent on ticks. */
export interface FoldStep {
  next?: number;
  windows: WindowEvent[];
  late: LateMetric[];
}

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
            const idle = folder.tick(record.appendedAtMs);
            const added = folder.add(record.metrics, record.position, record.next, record.appendedAtMs);
            const late = record.indexes ? added.late.map((m) => ({ ...m, index: record.indexes![m.index] })) : added.late;
            step = { next: record.next, windows: idle.length ? idle.concat(added.windows) : added.windows, late };
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
