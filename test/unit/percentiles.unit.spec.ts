import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { counterValue } from '../support/counterValues';
import { DDSketch } from '@datadog/sketches-js';
import { BucketValues, type WindowValues } from '../../projections/BucketValues';
import { bucketWindows } from '../../projections/minuteQueries';
import { FleetFigures } from '../../projections/topVms';
import { WindowFolder } from '../../projections/WindowFolder';
import { MinuteBlocks, decodeBlock, type MinuteWindow } from '../../projections/minuteBlocks';
import { sketchBytes } from '../../projections/sketchCodec';
import type { Metric } from '../../src/core/metric';
import { feed } from '../support/metricBuilders';
import { T0 } from '../support/fleetRecords';

const QUANTILES = [0.5, 0.9, 0.95, 0.99] as const;

/** The exact quantile as the README states it: the value at rank ⌊q·(n−1)⌋ of the values sorted ascending. */
function exactQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))];
}

/** A window of these values as the blocks hold it, its sketch made by the library itself (not by the fold). */
function windowOf(values: readonly number[]): WindowValues {
  const w: WindowValues = { count: values.length, sum: values.reduce((a, b) => a + b, 0), min: Math.min(...values), max: Math.max(...values) };
  if (values.length >= 3) {
    const sketch = new DDSketch({ relativeAccuracy: 0.01 });
    for (const v of values) sketch.accept(v);
    w.sketch = sketchBytes(sketch);
  }
  return w;
}

const within1Percent = (got: number | null, exact: number, what: string): void => {
  assert.ok(got !== null && Math.abs(got - exact) <= 0.01 * Math.abs(exact) + 1e-12, `${what}: ${got} against exact ${exact}`);
};

const value = fc.oneof(
  counterValue,
  fc.integer({ min: 0, max: 100 }),
  fc.constant(0),
  fc.double({ min: 1e-3, max: 1e9, noNaN: true }),
);

describe('percentiles of a bucket (p50, p90, p95, p99)', () => {
  it('property: within 1% of the exact quantile, however the values are split into windows', () => {
    fc.assert(fc.property(fc.array(fc.array(value, { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 20 }), (windows) => {
      const bucket = new BucketValues();
      for (const w of windows) bucket.add(windowOf(w));

      for (const q of QUANTILES) within1Percent(bucket.quantile(q), exactQuantile(windows.flat(), q), `q${q}`);
    }), { numRuns: 400 });
  });

  it('property: exact when every window holds one or two values (a VM\'s windows)', () => {
    fc.assert(fc.property(fc.array(fc.array(value, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 60 }), (windows) => {
      const bucket = new BucketValues();
      for (const w of windows) bucket.add(windowOf(w));

      // === : 0 and -0 are the same value (the sort leaves them in either order).
      for (const q of QUANTILES) {
        const [got, exact] = [bucket.quantile(q), exactQuantile(windows.flat(), q)];
        assert.ok(got === exact, `q${q}: ${got} against exact ${exact}`);
      }
    }), { numRuns: 300 });
  });

  it('is null for a window of three values or more without a sketch (folded before sketches were kept), and for none', () => {
    const old = new BucketValues();
    old.add({ count: 1, sum: 5, min: 5, max: 5 });
    old.add({ count: 3, sum: 6, min: 1, max: 3 });

    assert.equal(old.quantile(0.5), null);
    assert.equal(new BucketValues().quantile(0.95), null);
  });

  it('property: top\'s p95 of a VM equals get-tenant-data\'s p95 of the same windows in one bucket', () => {
    fc.assert(fc.property(fc.array(fc.array(value, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 30 }), (windows) => {
      const figures = new FleetFigures('p95');
      const minuteWindows: MinuteWindow[] = windows.map((values, i) => ({ windowStart: T0 + i * 60, revision: 1, ...windowOf(values) }));
      for (const w of minuteWindows) figures.add(0, w.count, w.sum, w.min, w.max, w.sketch);

      const [bucket] = bucketWindows(minuteWindows, 1440, 'p95');

      assert.equal(figures.value(0), bucket.value);
    }), { numRuns: 300 });
  });

  it('property: folded into cross-tenant and per-VM windows, each bucket\'s quantiles are within 1% of the values sent', () => {
    const metricArb = fc.record({
      minute: fc.integer({ min: 0, max: 29 }),
      second: fc.integer({ min: 0, max: 59 }),
      tenant: fc.constantFrom('t/1', 't+2'),
      vm: fc.constantFrom('a', 'b=', 'c'),
      value,
    });
    fc.assert(fc.property(fc.array(metricArb, { minLength: 1, maxLength: 200 }), fc.constantFrom(1, 5, 15), (sent, interval) => {
      const metrics: Metric[] = sent.map((s) => ({ t: T0 + s.minute * 60 + s.second, tenant: s.tenant, vm: s.vm, key: 'k', value: s.value }));
      const folder = new WindowFolder({ outOfOrderSeconds: 60, idleCloseSeconds: 5, allowedLatenessSeconds: 86_400, maxFutureSeconds: Infinity }, new MinuteBlocks('minute', true), new MinuteBlocks('vmMinute', true));
      // One metric a record, in the order sent: windows close and are revised as they come.
      feed(folder, metrics.map((m, i) => ({ position: i, next: i + 1, appendedAtMs: 1_000_000 + i, metrics: [m] })));
      folder.closeAll();
      const stored = [...folder.cross.takeDirty(1e9), ...folder.perVm.takeDirty(1e9)];
      const windowsOf = (partition: string, sub: string) => stored.filter((b) => b.partition.join('|') === partition).flatMap((b) => decodeBlock(b).get(sub) ?? []);

      for (const [partition, sub, of] of [['k', '', () => true], ['t/1|b=', 'k', (m: Metric) => m.tenant === 't/1' && m.vm === 'b=']] as const) {
        for (const q of QUANTILES) {
          const by = `p${Math.round(q * 100)}` as 'p50' | 'p90' | 'p95' | 'p99';
          for (const b of bucketWindows(windowsOf(partition, sub), interval, by)) {
            const values = metrics.filter((m) => of(m) && Math.floor((m.t - T0) / 60 / interval) === Math.floor((b.timestamp - T0) / 60 / interval)).map((m) => m.value);
            within1Percent(b.value, exactQuantile(values, q), `${partition} ${by} of the bucket at ${b.timestamp}`);
          }
        }
      }
    }), { numRuns: 150 });
  });
});
