import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { HistoryChunk } from '../../src/core/ports';
import type { FeedEntry } from '../../src/core/windowStream';
import { ChunkBuilder } from '../../projections/windowEventHistory';
import { HistorySlices } from '../../streams/HistorySlices';

const ID0 = 1_700_002_800_000 * 1000;

/** A chunk of events ID0 + first … ID0 + first + count - 1 (sum = index), and the builder still holding them. */
function chunkOf(first: number, count: number): { chunk: HistoryChunk; builder: ChunkBuilder } {
  const builder = new ChunkBuilder();
  for (let i = first; i < first + count; i++) {
    builder.add(ID0 + i, { key: `win_counter${i % 3}.percent`, tenant: 'T0+demo/a==6378', vm: `Shared0vm${i % 7}`, windowStart: 1_700_000_000 + 60 * i, count: 1, sum: i, min: i, max: i, avg: i, revision: 1 });
  }
  return { chunk: builder.peek(), builder };
}

const sums = (slices: Iterable<readonly FeedEntry[]>): number[] => [...slices].flatMap((s) => s.map((e) => e.event.sum));
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('HistorySlices', () => {
  it('readers of a chunk from its start share its slices; a reader from inside it gets exactly the events after its id', () => {
    const slices = new HistorySlices();
    const close = [slices.open(), slices.open(), slices.open()];
    const { chunk } = chunkOf(0, 500);

    const a = [...slices.of(chunk, ID0 - 1, 8 * 1024)];
    const b = [...slices.of(chunk, 0, 8 * 1024)];
    const c = [...slices.of(chunk, ID0 + 199, 8 * 1024)];

    assert.ok(a.length > 5, `${a.length} slices`);
    assert.equal(a.length, b.length);
    a.forEach((slice, i) => assert.equal(slice, b[i], 'the same slice, not a copy'));
    assert.deepEqual(sums(a), range(0, 500));
    assert.deepEqual(sums(c), range(200, 500));
    assert.ok(c.every((slice) => !a.includes(slice)));
    for (const done of close) done();
  });

  it('holds at most its number of slices, and none once no reader is open', () => {
    const slices = new HistorySlices(4);
    const close = slices.open();
    for (let k = 0; k < 5; k++) assert.deepEqual(sums(slices.of(chunkOf(k * 300, 300).chunk, 0, 4 * 1024)), range(k * 300, (k + 1) * 300));
    assert.equal(slices.size, 4);
    close();
    close(); // twice counts once
    assert.equal(slices.size, 0);
    const none = new HistorySlices();
    assert.deepEqual(sums(none.of(chunkOf(0, 50).chunk, 0, 1024)), range(0, 50));
    assert.equal(none.size, 0, 'nothing is kept without an open reader');
  });

  it('property: readers at any points, of a chunk still being filled and of it sealed later, each get every event after their id once', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 600 }),
      fc.integer({ min: 0, max: 600 }),
      fc.array(fc.tuple(fc.boolean(), fc.oneof(fc.constant(-1), fc.integer({ min: -1, max: 1200 }))), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 40 }),
      (early, more, readers, sliceKb) => {
        const slices = new HistorySlices(8);
        const close = slices.open();
        const { chunk: partial, builder } = chunkOf(0, early);
        for (let i = early; i < early + more; i++) {
          builder.add(ID0 + i, { key: 'k', windowStart: 1_700_000_000 + 60 * i, count: 2, sum: i, min: 0, max: i, avg: i / 2, revision: 3 });
        }
        const full = builder.seal();
        for (const [fromFull, at] of readers) {
          const chunk = fromFull ? full : partial;
          const after = ID0 + Math.min(at, chunk.count);
          assert.deepEqual(sums(slices.of(chunk, after, sliceKb * 256)), range(Math.min(at, chunk.count) + 1, chunk.count));
        }
        close();
      },
    ), { numRuns: 200 });
  });
});
