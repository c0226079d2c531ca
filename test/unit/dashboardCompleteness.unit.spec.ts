import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The dashboard's own ES modules (served as they are, no build step), loaded the way the browser does. */
const dashboardModule = (name: string) => import(pathToFileURL(resolve(__dirname, '../../../src/adapters/http/dashboard', name)).href);

describe('the dashboard\'s reading of completeness (DESIGN §8)', () => {
  let c: any;
  let b: any;
  let v: any;
  before(async () => {
    [c, b, v] = await Promise.all([dashboardModule('completeness.js'), dashboardModule('buckets.js'), dashboardModule('fleetView.js')]);
  });

  it('calls a bucket provisional when it is not final, or has fewer than 90% of its expected VMs; unknown fields are no reason', () => {
    const cases: [Record<string, unknown>, boolean, string][] = [
      [{ vms: 37, expectedVms: 52, final: false }, true, 'provisional: 37 of 52 VMs, not final'],
      [{ vms: 37, expectedVms: 52, final: true }, true, 'provisional: 37 of 52 VMs, final'], // 37 < 46.8
      [{ vms: 47, expectedVms: 52, final: true }, false, '47 of 52 VMs, final'], // 47 ≥ 46.8
      [{ vms: 11, expectedVms: 12, final: true }, false, '11 of 12 VMs, final'], // 11 ≥ 10.8
      [{ vms: 10, expectedVms: 12, final: true }, true, 'provisional: 10 of 12 VMs, final'],
      [{ vms: 52, expectedVms: 52, final: false }, true, 'provisional: 52 of 52 VMs, not final'],
      [{ vms: 3, expectedVms: 0, final: true }, false, '3 VMs, none expected, final'], // a key new in the hour
      [{ vms: 1, expectedVms: 12 }, true, 'provisional: 1 of 12 VMs'],
      [{ final: false }, true, 'provisional: not final'],
      [{ final: true }, false, 'final'],
      [{}, false, ''], // a service that sends none of them
      [{ vms: 1 }, false, ''], // expectedVms unknown: no share to judge
    ];
    for (const [bucket, provisional, text] of cases) {
      assert.equal(c.isProvisional(bucket), provisional, JSON.stringify(bucket));
      assert.equal(c.statusText(bucket), text, JSON.stringify(bucket));
    }
  });

  it('gives a bucket of windows the largest vms and expectedVms and final only when all are final; a field some window lacks stays unknown', () => {
    const w = (windowStart: number, extra: Record<string, unknown>) => ({ windowStart, avg: 10, count: 2, min: 5, max: 15, ...extra });
    const [first, second] = b.bucketize([
      w(600, { vms: 4, expectedVms: 9, final: true }), w(660, { vms: 7, expectedVms: 8, final: true }), w(720, { vms: 2, expectedVms: 10, final: false }),
      w(900, { vms: 5, final: true }), w(960, { vms: 6, expectedVms: 6, final: true }),
    ], 5, 'avg');
    assert.deepEqual(first, { timestamp: 600, value: 10, count: 6, windows: 3, low: 5, high: 15, vms: 7, expectedVms: 10, final: false });
    assert.deepEqual(second, { timestamp: 900, value: 10, count: 4, windows: 2, low: 5, high: 15, vms: 6, final: true });
  });

  it('keeps the larger completeness of a read and a stream event, in either order; values follow the revision', () => {
    const read = { timestamp: 600, value: 40, count: 12, windows: 1, low: 1, high: 90, vms: 12, expectedVms: 12, final: true };
    const event = { windowStart: 600, avg: 38, count: 11, min: 1, max: 90, revision: 3, final: false };
    const series = b.MinuteSeries.fromBuckets([read]);
    series.merge(event);
    assert.deepEqual(series.range(600, 1), [{ windowStart: 600, avg: 38, count: 11, min: 1, max: 90, revision: 3, vms: 12, expectedVms: 12, final: true }]);
    const other = new b.MinuteSeries();
    other.merge({ ...event, vms: 11, expectedVms: 12 });
    other.merge({ ...event, revision: 2, avg: 1, vms: 3, expectedVms: 13 }); // an older revision: its values lose, its expectedVms still counts
    assert.deepEqual(other.range(600, 1), [{ windowStart: 600, avg: 38, count: 11, min: 1, max: 90, revision: 3, vms: 11, expectedVms: 13, final: false }]);
    // The window's final notice (its last revision, final: true): final from then on, even if a revision event is re-applied after it.
    other.merge({ ...event, vms: 12, expectedVms: 13, final: true });
    other.merge({ ...event, vms: 11, expectedVms: 12, final: false });
    assert.deepEqual(other.range(600, 1), [{ windowStart: 600, avg: 38, count: 11, min: 1, max: 90, revision: 3, vms: 12, expectedVms: 13, final: true }]);
    assert.equal(c.isProvisional(b.bucketize(other.range(600, 1), 1, 'avg')[0]), false, '12 of 13 VMs, final: not provisional');
  });

  it('leaves a provisional point out of uPlot\'s line (a gap there), keeps its value for the marks, the hover and the y axis', () => {
    const view = v.fleetView({
      cross: [{ timestamp: 60, value: 58, vms: 12, expectedVms: 12, final: true }, { timestamp: 120, value: 57, vms: 12, expectedVms: 12, final: true }, { timestamp: 180, value: 3, vms: 1, expectedVms: 12, final: false }],
      vm: [{ timestamp: 120, value: 70, final: true }, { timestamp: 180, value: 71, final: false }],
      p95: null,
    });
    assert.deepEqual(view.xs, [60, 120, 180]);
    assert.deepEqual(view.drawn, [[60, 120, 180], [58, 57, null], [null, 70, null], [null, null, null]]);
    assert.deepEqual(view.values.cross, [58, 57, 3]);
    assert.deepEqual(view.provisional.cross, [false, false, true]);
    assert.deepEqual(view.texts.cross, ['12 of 12 VMs, final', '12 of 12 VMs, final', 'provisional: 1 of 12 VMs, not final']);
    assert.deepEqual(view.provisional.vm, [false, false, true]);
    assert.deepEqual(view.extent.sort((a: number, z: number) => a - z), [3, 71]);
    assert.deepEqual(v.stripSummary([...view.at.cross.values()]), { known: 3, provisional: 1, newest: view.at.cross.get(180) });
  });
});
