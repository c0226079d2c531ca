import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { DDSketch } from '@datadog/sketches-js';
import { copySketch, decodeSketch, encodeSketch, newSketch, SKETCH_BINS } from '../../projections/sketchCodec';

const sketchOf = (values: readonly number[]): DDSketch => {
  const s = newSketch();
  for (const v of values) s.accept(v);
  return s;
};

const QUANTILES = [0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1];

describe('the sketch codec (a DDSketch in a table field)', () => {
  it('property: a decoded sketch answers every quantile as the original, and merges as it', () => {
    const values = fc.array(fc.oneof(fc.double({ min: -1e12, max: 1e12, noNaN: true }), fc.constant(0), fc.integer({ min: -5, max: 100 })), { minLength: 1, maxLength: 300 });
    fc.assert(fc.property(values, values, (a, b) => {
      const original = sketchOf(a);
      const decoded = decodeSketch(encodeSketch(original));
      assert.equal(decoded.count, a.length);
      for (const q of QUANTILES) assert.equal(decoded.getValueAtQuantile(q), original.getValueAtQuantile(q), `q${q}`);
      const merged = copySketch(original);
      merged.merge(sketchOf(b));
      const mergedDecoded = decodeSketch(encodeSketch(original));
      mergedDecoded.merge(decodeSketch(encodeSketch(sketchOf(b))));
      for (const q of QUANTILES) assert.equal(mergedDecoded.getValueAtQuantile(q), merged.getValueAtQuantile(q), `merged q${q}`);
    }), { numRuns: 200 });
  });

  it('keeps counts beyond 2^31 in a bin (a day of one steady value)', () => {
    const s = newSketch();
    s.accept(42, 3_000_000_000);
    s.accept(7);
    const back = decodeSketch(encodeSketch(s), { min: 7, max: 42, sum: 0 });
    assert.equal(back.count, 3_000_000_001);
    assert.equal(back.min, 7);
    assert.ok(Math.abs(back.getValueAtQuantile(0.5) - 42) <= 0.42);
  });

  it('is compact: a hundred CPU percentages take far less than DDSketch\'s protobuf', () => {
    const s = sketchOf(Array.from({ length: 100 }, (_, i) => (i * 37) % 100 + 0.5));
    const compact = encodeSketch(s).length;
    const proto = Buffer.from(s.toProto()).toString('base64').length;
    assert.ok(compact < 500, `${compact} characters`);
    assert.ok(compact * 4 < proto, `${compact} vs protobuf ${proto}`);
  });

  it('keeps at most SKETCH_BINS bins a sign, whatever a sender sends: the high quantiles stay within 1%', () => {
    const within1 = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) <= 0.01 * Math.abs(expected), `${actual} vs ${expected}`);
    // 1e-300 to 1e300: a plain DDSketch kept every bin between them (some 69,000).
    const s = sketchOf([1e-300, 1e-3, 1, 50, 1e300, -1e-300, -1e300]);
    assert.equal(SKETCH_BINS, 2048);
    assert.ok(s.store.bins.length <= SKETCH_BINS, `${s.store.bins.length} positive bins`);
    assert.ok(s.negativeStore.bins.length <= SKETCH_BINS, `${s.negativeStore.bins.length} negative bins`);
    within1(s.getValueAtQuantile(1), 1e300);
    within1(s.getValueAtQuantile(0), -1e300);
    const back = decodeSketch(encodeSketch(s));
    assert.ok(back.store.bins.length <= SKETCH_BINS && back.negativeStore.bins.length <= SKETCH_BINS);
    within1(back.getValueAtQuantile(1), 1e300);
    // Magnitudes more than 17.8 decades (1.0202^2048) below the largest share its lowest bin: they read as that bin, higher.
    const lowest = s.getValueAtQuantile(3 / 7);
    assert.ok(lowest >= 1e300 / 1.0202 ** 2048 / 1.03 && lowest < 1e300, `the collapsed values read ${lowest}`);
  });

  it('a window within 17 decades keeps every quantile within 1% (1e-6 to 1e11)', () => {
    const values = Array.from({ length: 18 }, (_, i) => 10 ** (i - 6));
    const s = sketchOf(values);
    for (let i = 0; i < values.length; i++) {
      const q = i / (values.length - 1);
      const v = s.getValueAtQuantile(q);
      assert.ok(Math.abs(v - values[i]) <= 0.01 * values[i], `q${q.toFixed(2)}: ${v} vs ${values[i]}`);
    }
  });

  it('refuses what it did not write', () => {
    assert.throws(() => decodeSketch(Buffer.from([9, 0, 0, 0]).toString('base64')), /unknown format/);
    assert.throws(() => decodeSketch(Buffer.from([1, 0, 3]).toString('base64')), /cut short/);
  });
});
