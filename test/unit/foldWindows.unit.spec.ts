import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { foldWindows, type FoldStep, type MetricRecord } from '../../streams/foldWindows';
import { WindowFolder, type WindowOptions } from '../../projections/WindowFolder';
import { MinuteBlocks } from '../../projections/minuteBlocks';
import type { Metric } from '../../src/core/metric';
import type { WindowEvent } from '../../src/core/windowMath';
import { metric, windowId, TENANT_A, VM_1 } from '../support/metricBuilders';

const T0 = 1648638000;
// Processing times here are the test scheduler's (from 0 ms), not epoch times: no arrival bound.
const OPTIONS: WindowOptions = { outOfOrderSeconds: 60, idleCloseSeconds: 5, allowedLatenessSeconds: 120, maxFutureSeconds: Infinity };

/** Records processing time in the ticks it is given, so a test can see when the operator ticks. */
class RecordingFolder extends WindowFolder {
  readonly ticks: number[] = [];
  override tick(processingTimeMs: number): WindowEvent[] {
    this.ticks.push(processingTimeMs);
    return super.tick(processingTimeMs);
  }
}

function newFolder(): RecordingFolder {
  return new RecordingFolder(OPTIONS, new MinuteBlocks('minute', true), new MinuteBlocks('vmMinute', true));
}

function record(i: number, appendedAtMs: number, metrics: Metric[]): MetricRecord {
  return { position: i * 10, next: i * 10 + 10, appendedAtMs, metrics };
}

/**
 * The two windows (cross-tenant and per-VM) one metric stream of one key gives, as the expected
 * events: the cross-tenant one counts its one VM, which reported nothing in the hour before.
 */
function pair(key: string, windowStart: number, values: number[], revision: number): WindowEvent[] {
  const count = values.length;
  const sum = values.reduce((a, b) => a + b, 0);
  const agg = { windowStart, count, sum, min: Math.min(...values), max: Math.max(...values), avg: sum / count, revision };
  return [{ key, ...agg, vms: 1, expectedVms: 0 }, { key, tenant: TENANT_A, vm: VM_1, ...agg }];
}

/** Windows inside a step in a canonical order (revision, then identity), so expectations need not know map order. */
function canonical(step: FoldStep): FoldStep {
  const windows = [...step.windows].sort((a, b) => a.revision - b.revision || (windowId(a) < windowId(b) ? -1 : 1));
  return { ...step, windows };
}

/**
 * A TestScheduler whose `run` stops the virtual clock at one minute: a tick that outlives its
 * subscription then shows up as a failed expectation instead of an endless flush.
 */
function newTestScheduler(): TestScheduler {
  const scheduler = new TestScheduler((actual, expected) => assert.deepStrictEqual(actual, expected));
  const run = scheduler.run.bind(scheduler);
  scheduler.run = (callback) => run((helpers) => {
    scheduler.maxFrames = 60_000;
    return callback(helpers);
  });
  return scheduler;
}

describe('foldWindows', () => {
  it('emits a step per record, and an idle-closed window at the first tick idleCloseSeconds after its last arrival', () => {
    const folder = newFolder();
    const scheduler = newTestScheduler();

    scheduler.run(({ cold, expectObservable }) => {
      const records$ = cold<MetricRecord>('a 9999ms |', { a: record(0, 0, [metric({ t: T0 + 1, value: 4 })]) });

      const steps$ = records$.pipe(foldWindows(folder, { idleTickMs: 1000, scheduler }), map(canonical));

      expectObservable(steps$).toBe('a 4999ms b 4999ms |', {
        a: { next: 10, windows: [], late: [] },
        b: { windows: pair('win_cpu.percent', T0, [4], 1), late: [] },
      });
    });
  });

  it('closes each idle window at its own time, leaving recently reached ones open', () => {
    const folder = newFolder();
    const scheduler = newTestScheduler();

    scheduler.run(({ cold, expectObservable }) => {
      const records$ = cold<MetricRecord>('a 2999ms b 9999ms |', {
        a: record(0, 0, [metric({ t: T0 + 1, key: 'k.quiet', value: 1 })]),
        b: record(1, 3000, [metric({ t: T0 + 2, key: 'k.busy', value: 2 })]),
      });

      const steps$ = records$.pipe(foldWindows(folder, { idleTickMs: 1000, scheduler }), map(canonical));

      expectObservable(steps$).toBe('a 2999ms b 1999ms q 2999ms r 4999ms |', {
        a: { next: 10, windows: [], late: [] },
        b: { next: 20, windows: [], late: [] },
        q: { windows: pair('k.quiet', T0, [1], 1), late: [] },
        r: { windows: pair('k.busy', T0, [2], 1), late: [] },
      });
    });
  });

  it('without idle ticks, a record appended after the idle time first closes the idle window, then folds in as revision 2', () => {
    const folder = newFolder();
    const scheduler = newTestScheduler();

    scheduler.run(({ cold, expectObservable }) => {
      const records$ = cold<MetricRecord>('a 99ms b |', {
        a: record(0, 0, [metric({ t: T0 + 1, value: 4 })]),
        b: record(1, 6000, [metric({ t: T0 + 2, value: 6 })]),
      });

      const steps$ = records$.pipe(foldWindows(folder, { scheduler }), map(canonical));

      expectObservable(steps$).toBe('a 99ms b |', {
        a: { next: 10, windows: [], late: [] },
        b: { next: 20, windows: [...pair('win_cpu.percent', T0, [4], 1), ...pair('win_cpu.percent', T0, [4, 6], 2)], late: [] },
      });
    });
    assert.deepEqual(folder.ticks, [0, 6000], 'only the records ticked, at their append times');
  });

  it('passes too-late metrics through in the step of their record', () => {
    const folder = newFolder();
    const scheduler = newTestScheduler();

    scheduler.run(({ cold, expectObservable }) => {
      const records$ = cold<MetricRecord>('a b |', {
        a: record(0, 0, [metric({ t: T0 + 1000 })]),
        b: record(1, 1, [metric({ t: T0 + 100, value: 3 })]),
      });

      const steps$ = records$.pipe(foldWindows(folder, { scheduler }));

      expectObservable(steps$).toBe('a b |', {
        a: { next: 10, windows: [], late: [] },
        b: { next: 20, windows: [], late: [{ position: 10, index: 0, key: 'win_cpu.percent', tenant: TENANT_A, vm: VM_1, t: T0 + 100, value: 3, watermark: T0 + 940 }] },
      });
    });
  });

  it('completes when the source completes, and errors when it errors', () => {
    const scheduler = newTestScheduler();

    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const completing = cold<MetricRecord>('--|');
      const failing = cold<MetricRecord>('a-#', { a: record(0, 0, [metric({ t: T0 })]) }, new Error('log read failed'));

      expectObservable(completing.pipe(foldWindows(newFolder(), { idleTickMs: 1000, scheduler }))).toBe('--|');
      expectObservable(failing.pipe(foldWindows(newFolder(), { idleTickMs: 1000, scheduler }))).toBe('a-#', { a: { next: 10, windows: [], late: [] } }, new Error('log read failed'));
      expectSubscriptions(completing.subscriptions).toBe('^-!');
    });
  });

  it('stops ticking, and unsubscribes from the source, when unsubscribed', () => {
    const folder = newFolder();
    const scheduler = newTestScheduler();

    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const records$ = cold<MetricRecord>('a', { a: record(0, 0, [metric({ t: T0 + 1 })]) });

      const steps$ = records$.pipe(foldWindows(folder, { idleTickMs: 1000, scheduler }));

      expectObservable(steps$, '^ 2500ms !').toBe('a', { a: { next: 10, windows: [], late: [] } });
      expectSubscriptions(records$.subscriptions).toBe('^ 2500ms !');
    });
    assert.deepEqual(folder.ticks, [0, 1000, 2000]);
    assert.equal(folder.openCount, 2, 'the window was not idle-closed after the unsubscribe');
  });
});
