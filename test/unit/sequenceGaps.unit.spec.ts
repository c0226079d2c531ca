import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeGap, missingRanges, SequenceCursor } from '../../src/core/sequenceGaps';

describe('what neither Capture nor the hub holds of a partition', () => {
  it('nothing when Capture reaches the hub, with an overlap or exactly up to it', () => {
    assert.deepEqual(missingRanges('0', 99, { first: 0, last: 60 }, { first: 40, last: 99 }), []);
    assert.deepEqual(missingRanges('0', 99, { first: 0, last: 39 }, { first: 40, last: 99 }), []);
  });

  it('the range between the last captured event and the earliest retained one', () => {
    assert.deepEqual(missingRanges('0', 99, { first: 0, last: 29 }, { first: 40, last: 99 }), [{ partitionId: '0', from: 30, to: 39 }]);
  });

  it('everything before the earliest retained event when nothing is captured, and the start when Capture began late', () => {
    assert.deepEqual(missingRanges('1', 99, undefined, { first: 40, last: 99 }), [{ partitionId: '1', from: 0, to: 39 }]);
    assert.deepEqual(missingRanges('1', 99, { first: 10, last: 50 }, { first: 40, last: 99 }), [{ partitionId: '1', from: 0, to: 9 }]);
  });

  it('the tail after Capture when the hub retains nothing any more', () => {
    assert.deepEqual(missingRanges('2', 99, { first: 0, last: 89 }, undefined), [{ partitionId: '2', from: 90, to: 99 }]);
    assert.deepEqual(missingRanges('2', -1, undefined, undefined), []);
  });

  it('is said with the numbers and the count', () => {
    assert.equal(describeGap({ partitionId: '0', from: 30, to: 39 }), 'partition 0: sequence numbers 30..39 (10 events)');
    assert.equal(describeGap({ partitionId: '0', from: 7, to: 7 }), 'partition 0: sequence number 7 (1 event)');
  });
});

describe('reading across the seam', () => {
  it('takes each sequence number once, reads past an overlap, and names a jump', () => {
    const cursor = new SequenceCursor('0', 0);
    const seen = [0, 1, 2, 1, 2, 3, 7, 8].map((n) => cursor.take(n));
    assert.deepEqual(seen.map((s) => s.take), [true, true, true, false, false, true, true, true]);
    assert.deepEqual(seen.flatMap((s) => (s.gap ? [s.gap] : [])), [{ partitionId: '0', from: 4, to: 6 }]);
    assert.equal(cursor.next, 9);
  });
});
