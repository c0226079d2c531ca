import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DDSketch } from '@datadog/sketches-js';
import { copySketch, decodeSketch, encodeSketch, SKETCH_ACCURACY } from '../../projections/sketchCodec';

const sketchOf = (values: readonly number[]): DDSketch => {
  const s = new DDSketch({ relativeAccuracy: SKETCH_ACCURACY });
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
    const s = new DDSketch({ relativeAccuracy: SKETCH_ACCURACY });
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

  it('refuses what it did not write', () => {
    assert.throws(() => decodeSketch(Buffer.from([9, 0, 0, 0]).toString('base64')), /unknown format/);
    assert.throws(() => decodeSketch(Buffer.from([1, 0, 3]).toString('base64')), /cut short/);
  });
});
