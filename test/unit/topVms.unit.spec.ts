import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { counterValue } from '../support/counterValues';
import { FleetFigures, type TopBy } from '../../projections/topVms';
import { referenceTop as expectedTop, type VmValues } from '../support/topReference';

/**
 * The n highest of the VMs, fed as the windows the fold makes of their minutes (count, sum, min,
 * max), minute by minute across the fleet as the read cache feeds them (each VM's in ascending order).
 */
function ranked(vms: readonly VmValues[], by: TopBy, n: number) {
  const figures = new FleetFigures(by);
  const longest = Math.max(0, ...vms.map((v) => v.minutes.length));
  for (let m = 0; m < longest; m++) {
    vms.forEach((v, id) => {
      const values = v.minutes[m] ?? [];
      if (values.length === 0) return;
      let sum = 0;
      for (const x of values) sum += x;
      figures.add(id, values.length, sum, Math.min(...values), Math.max(...values));
    });
  }
  return figures.top(n, (id) => vms[id].tenant, (id) => vms[id].vm);
}

// -0 left out: it prints as 0, and which of -0 and 0 is "larger" is no question a VM's figure answers.
const value = fc.oneof(fc.integer({ min: -50, max: 150 }), counterValue).map((x) => (x === 0 ? 0 : x));
/** Per-VM minutes of one value each, as SPOC sends them (some minutes missing). */
const singleMinutes = fc.array(fc.oneof(fc.constant([] as number[]), value.map((x) => [x])), { maxLength: 40 });
const fleet = (minutes: fc.Arbitrary<number[][]>) => fc.uniqueArray(
  fc.record({ tenant: fc.constantFrom('t0', 't1', 'T+/=', 'ü'), vm: fc.constantFrom('vm0', 'vm1', 'vm/2=', 'a'), minutes }),
  { selector: (v) => `${v.tenant}\u0000${v.vm}`, maxLength: 16 },
);

describe('the hottest VMs (FleetFigures)', () => {
  for (const by of ['avg', 'max', 'p95'] as const) {
    it(`ranks by ${by} exactly as the single values say, for VMs with one value a minute`, () => {
      fc.assert(fc.property(fleet(singleMinutes), fc.integer({ min: 1, max: 20 }), (vms, n) => {
        assert.deepEqual(ranked(vms, by, n), expectedTop(vms, by, n));
      }), { numRuns: 300 });
    });
  }

  it('p95 is exact for windows of two values, and for windows whose inner values are equal (they are taken at their mean)', () => {
    // Each minute: a min, a max, and k equal values between them: the window's aggregate says all there is to know.
    // Whole numbers, so that the window's sum, and the mean taken back out of it, are exact.
    const whole = fc.integer({ min: -1000, max: 1000 });
    const minute = fc.tuple(whole, whole, whole, fc.integer({ min: 0, max: 5 })).map(([a, b, c, k]) => {
      const [lo, mid, hi] = [a, b, c].sort((x, y) => x - y);
      return [lo, ...Array.from({ length: k }, () => mid), hi];
    });
    fc.assert(fc.property(fleet(fc.array(minute, { maxLength: 30 })), fc.integer({ min: 1, max: 20 }), (vms, n) => {
      assert.deepEqual(ranked(vms, 'p95', n), expectedTop(vms, 'p95', n));
    }), { numRuns: 300 });
  });

  it('worked example: 20 minutes of one VM, a window of three values, ties and n', () => {
    const hot: VmValues = { tenant: 't1', vm: 'hot', minutes: Array.from({ length: 20 }, (_, i) => [i + 1]) }; // 1..20
    const spiky: VmValues = { tenant: 't1', vm: 'spiky', minutes: [[10], [10, 90, 20], [5]] }; // values 5, 10, 10, 20, 90
    const twin: VmValues = { tenant: 't0', vm: 'twin', minutes: [[10.5]] };
    const twin2: VmValues = { tenant: 't0', vm: 'a-twin', minutes: [[10.5]] };
    const vms = [hot, spiky, twin, twin2];
    const rank = (by: TopBy, n = 10) => ranked(vms, by, n).map((r) => [r.vm, r.value, r.count]);
    assert.deepEqual(rank('avg'), [['spiky', 27, 5], ['a-twin', 10.5, 1], ['twin', 10.5, 1], ['hot', 10.5, 20]]);
    assert.deepEqual(rank('max'), [['spiky', 90, 5], ['hot', 20, 20], ['a-twin', 10.5, 1], ['twin', 10.5, 1]]);
    // hot: rank ⌊0.95·19⌋ = 18 of 1..20 is 19; spiky: rank ⌊0.95·4⌋ = 3 of [5, 10, 20, 90] plus the window's inner 20 is 20.
    assert.deepEqual(rank('p95'), [['spiky', 20, 5], ['hot', 19, 20], ['a-twin', 10.5, 1], ['twin', 10.5, 1]]);
    assert.deepEqual(rank('max', 2), [['spiky', 90, 5], ['hot', 20, 20]]);
  });
});
