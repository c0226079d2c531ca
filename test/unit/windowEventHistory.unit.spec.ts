import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { StreamedWindowEvent } from '../../src/core/windowStream';
import { encodeChunk, fromChunk, HISTORY_PARTITION, toChunks } from '../../projections/windowEventHistory';
import { feedEntry } from '../../src/core/windowStream';

const ID0 = 1_700_002_800_000 * 1000;

/** A window event as the feed streams it, avg = sum / count like every emitted one. */
function streamed(id: number, fields: { key: string; windowStart: number; count: number; sum: number; min: number; max: number; revision: number; tenant?: string; vm?: string }): StreamedWindowEvent {
  const { tenant, vm, ...rest } = fields;
  const e: StreamedWindowEvent = { id, ...rest, avg: rest.sum / rest.count };
  return tenant === undefined ? e : { ...e, tenant, vm };
}

/** As the feed holds them: the id beside the emitted event. */
const entriesOf = (events: readonly StreamedWindowEvent[]) => events.map(({ id, ...event }) => feedEntry(id, event));

const chunkOf = (data: string) => ({ partition: HISTORY_PARTITION, row: 0, data, appliedThrough: 0 });

describe('window-event history chunks', () => {
  it('give back every event, per-VM and cross-tenant, single-metric or not, with the JSON a live subscriber got', () => {
    const events = [
      streamed(ID0, { key: 'win_cpu.percent', windowStart: 1_700_000_040, count: 1, sum: 7.25, min: 7.25, max: 7.25, revision: 1, tenant: "t/1'#?", vm: 'vm+=ü' }),
      streamed(ID0 + 1, { key: 'win_cpu.percent', windowStart: 1_700_000_040, count: 2000, sum: -1.5e300, min: -1e300, max: 5, revision: 1 }),
      streamed(ID0 + 9_000, { key: 'win_mem.used', windowStart: 1_699_990_000, count: 3, sum: 0.3, min: 0.1, max: 0.1, revision: 4, tenant: "t/1'#?", vm: 'vm+=ü' }),
      streamed(ID0 + 9_001, { key: 'win_mem.used', windowStart: 1_700_000_040, count: 1, sum: 2, min: 2, max: 2, revision: 2, tenant: 't2', vm: 'v' }),
    ];
    const data = encodeChunk(entriesOf(events));

    const back = fromChunk(chunkOf(data));

    assert.ok(data.startsWith('h1:'), 'packed');
    assert.deepEqual(back.map((e) => e.window), events);
    assert.deepEqual(back.map((e) => JSON.parse(e.json)), events.map((e) => JSON.parse(JSON.stringify(e))));
    assert.ok(data.length < events.map((e) => JSON.stringify(e)).join('\n').length, 'smaller than JSON lines');
  });

  it('property: any events of one chunk come back equal, as JSON', () => {
    const text = fc.string({ minLength: 0, maxLength: 12, unit: 'grapheme' });
    const value = fc.double({ noNaN: true, noDefaultInfinity: true });
    const event = fc.record({
      gap: fc.integer({ min: 0, max: 50_000 }),
      key: text,
      windowStart: fc.integer({ min: 0, max: 4_000_000_000 }).map((m) => m * 60),
      count: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
      values: fc.tuple(value, value, value),
      revision: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
      place: fc.option(fc.tuple(text, text), { nil: undefined }),
      single: fc.boolean(),
    });
    fc.assert(fc.property(fc.array(event, { minLength: 1, maxLength: 60 }), (drawn) => {
      let id = ID0;
      const events = drawn.map((d) => {
        id += d.gap;
        const [sum, min, max] = d.single ? [d.values[0], d.values[0], d.values[0]] : d.values;
        return streamed(id, {
          key: d.key, windowStart: d.windowStart, count: d.single ? 1 : d.count, sum, min, max, revision: d.single ? 1 : d.revision,
          ...(d.place ? { tenant: d.place[0], vm: d.place[1] } : {}),
        });
      });
      // As subscribers see them: JSON (a window start too far from the first makes a chunk of JSON lines).
      assert.deepEqual(fromChunk(chunkOf(encodeChunk(entriesOf(events)))).map((e) => JSON.parse(e.json) as unknown), events.map((e) => JSON.parse(JSON.stringify(e)) as unknown));
    }), { numRuns: 300 });
  });

  it('still reads chunks written as one JSON event a line', () => {
    const events = [streamed(ID0, { key: 'k', windowStart: 60, count: 1, sum: 1, min: 1, max: 1, revision: 1 }), streamed(ID0 + 1, { key: 'k', windowStart: 120, count: 2, sum: 3, min: 1, max: 2, revision: 1, tenant: 't', vm: 'v' })];

    const back = fromChunk(chunkOf(events.map((e) => JSON.stringify(e)).join('\n')));

    assert.deepEqual(back.map((e) => e.window), events);
  });

  it('toChunks cuts at the hour, and chunks carry their first id as the row and their last as appliedThrough', () => {
    const hourStart = Math.ceil(ID0 / 3.6e9) * 3.6e9;
    const events = [hourStart - 2, hourStart - 1, hourStart, hourStart + 5].map((id, i) => streamed(id, { key: 'k', windowStart: 60 * i, count: 1, sum: i, min: i, max: i, revision: 1 }));

    const byHour = toChunks(entriesOf(events));

    assert.deepEqual([...byHour.entries()].map(([hour, blocks]) => [hour, blocks.map((b) => [b.row, b.appliedThrough, fromChunk(b).length])]), [
      [hourStart / 3.6e9 - 1, [[3.6e9 - 2, hourStart - 1, 2]]],
      [hourStart / 3.6e9, [[0, hourStart + 5, 2]]],
    ]);
  });
});
