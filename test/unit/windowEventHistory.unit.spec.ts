import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { StreamedWindowEvent } from '../../src/core/windowStream';
import { CHUNK_MAX_EVENTS, countOf, decodeChunk, encodeChunks, HISTORY_PARTITION } from '../../projections/windowEventHistory';
import { TableWindowHistory } from '../../src/adapters/windowHistory/TableWindowHistory';
import { MemoryTableStore } from '../support/memoryTableStore';
import { feedEntry } from '../../src/core/windowStream';

const ID0 = 1_700_002_800_000 * 1000;

/** A window event as the feed streams it, avg = sum / count like every emitted one. */
function streamed(id: number, fields: { key: string; windowStart: number; count: number; sum: number; min: number; max: number; revision: number; tenant?: string; vm?: string; vms?: number; expectedVms?: number; final?: boolean }): StreamedWindowEvent {
  const { tenant, vm, vms, expectedVms, final = false, ...rest } = fields;
  const e = { id, ...rest, avg: rest.sum / rest.count } as StreamedWindowEvent;
  if (vms !== undefined) Object.assign(e, { vms, expectedVms });
  e.final = final;
  return tenant === undefined ? e : { ...e, tenant, vm };
}

/** As the feed holds them: the id beside the emitted event. */
const entriesOf = (events: readonly StreamedWindowEvent[]) => events.map(({ id, ...event }) => feedEntry(id, event));

/** Packed and read back, chunk by chunk. */
const roundTrip = (events: readonly StreamedWindowEvent[]) => encodeChunks(entriesOf(events)).flatMap((c) => decodeChunk(c.data));

describe('window-event history chunks', () => {
  it('give back every event, per-VM and cross-tenant (with VM counts, or none from before they were counted), single-metric or not, with the JSON a live subscriber got', () => {
    const events = [
      streamed(ID0, { key: 'win_cpu.percent', windowStart: 1_700_000_040, count: 1, sum: 7.25, min: 7.25, max: 7.25, revision: 1, tenant: "t/1'#?", vm: 'vm+=ü' }),
      streamed(ID0 + 1, { key: 'win_cpu.percent', windowStart: 1_700_000_040, count: 2000, sum: -1.5e300, min: -1e300, max: 5, revision: 1, vms: 1990, expectedVms: 2 ** 32 - 1 }),
      streamed(ID0 + 2, { key: 'win_cpu.percent', windowStart: 1_700_000_100, count: 1, sum: 3, min: 3, max: 3, revision: 1, vms: 1, expectedVms: 0 }),
      streamed(ID0 + 9_000, { key: 'win_mem.used', windowStart: 1_699_990_000, count: 3, sum: 0.3, min: 0.1, max: 0.1, revision: 4, tenant: "t/1'#?", vm: 'vm+=ü' }),
      streamed(ID0 + 9_001, { key: 'win_mem.used', windowStart: 1_700_000_040, count: 1, sum: 2, min: 2, max: 2, revision: 2, tenant: 't2', vm: 'v' }),
      streamed(ID0 + 9_002, { key: 'odd', windowStart: 1_700_000_040, count: 2 ** 33, sum: 1, min: 0, max: 1, revision: 1.5 }),
      // Final notices, in each form.
      streamed(ID0 + 9_003, { key: 'win_cpu.percent', windowStart: 1_700_000_040, count: 1, sum: 7.25, min: 7.25, max: 7.25, revision: 1, tenant: 't', vm: 'v', final: true }),
      streamed(ID0 + 9_004, { key: 'win_cpu.percent', windowStart: 1_700_000_040, count: 3, sum: 9, min: 1, max: 5, revision: 2, final: true }),
      streamed(ID0 + 9_005, { key: 'odd', windowStart: 1_700_000_040, count: 2 ** 33, sum: 1, min: 0, max: 1, revision: 1.5, final: true }),
    ];
    const chunks = encodeChunks(entriesOf(events));

    const back = chunks.flatMap((c) => decodeChunk(c.data));

    assert.equal(chunks.length, 1);
    assert.deepEqual([chunks[0].firstId, chunks[0].lastId, chunks[0].count, countOf(chunks[0].data)], [ID0, ID0 + 9_005, 9, 9]);
    assert.deepEqual(back.map((e) => e.window), events);
    assert.deepEqual(back.map((e) => JSON.parse(e.json)), events.map((e) => JSON.parse(JSON.stringify(e))));
    assert.ok(chunks[0].data.length < events.map((e) => JSON.stringify(e)).join('\n').length / 2, 'under half the JSON lines');
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
      fleet: fc.option(fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => [a, b] as const), { nil: undefined }),
      single: fc.boolean(),
      final: fc.boolean(),
    });
    fc.assert(fc.property(fc.array(event, { minLength: 1, maxLength: 60 }), (drawn) => {
      let id = ID0;
      const events = drawn.map((d) => {
        id += d.gap;
        const [sum, min, max] = d.single ? [d.values[0], d.values[0], d.values[0]] : d.values;
        return streamed(id, {
          key: d.key, windowStart: d.windowStart, count: d.single ? 1 : d.count, sum, min, max, revision: d.single ? 1 : d.revision,
          ...(d.place ? { tenant: d.place[0], vm: d.place[1] } : d.fleet ? { vms: d.fleet[0], expectedVms: d.fleet[1] } : {}), final: d.final,
        });
      });
      // As subscribers see them: JSON (a window start too far from the chunk's first starts a new chunk).
      assert.deepEqual(roundTrip(events).map((e) => JSON.parse(e.json) as unknown), events.map((e) => JSON.parse(JSON.stringify(e)) as unknown));
    }), { numRuns: 300 });
  });

  it('a table of the earlier form (one JSON event a line) is still read', async () => {
    const events = [streamed(ID0, { key: 'k', windowStart: 60, count: 1, sum: 1, min: 1, max: 1, revision: 1 }), streamed(ID0 + 1, { key: 'k', windowStart: 120, count: 2, sum: 3, min: 1, max: 2, revision: 1, tenant: 't', vm: 'v' })];
    const tables = new MemoryTableStore();
    const hour = Math.floor(ID0 / 3.6e9);
    await (await tables.blockTable(`tWindowEventsV1H${hour}`)).write([
      { partition: HISTORY_PARTITION, row: ID0 - hour * 3.6e9, data: events.map((e) => JSON.stringify(e)).join('\n'), appliedThrough: ID0 + 1 },
    ]);

    const back = [];
    for await (const chunk of new TableWindowHistory(tables, 't', 1).read(hour, 0)) back.push(...decodeChunk(chunk.data));

    assert.deepEqual(back.map((e) => e.window), events);
  });

  it('in tables are read a few blocks at a time, every chunk after the id and none before, however they are spread', async () => {
    const memory = new MemoryTableStore();
    const pages: number[] = [];
    const tables = {
      listTables: (prefix: string) => memory.listTables(prefix),
      dropTable: (name: string) => memory.dropTable(name),
      blockTable: async (name: string) => {
        const table = await memory.blockTable(name);
        return {
          write: (blocks: Parameters<typeof table.write>[0]) => table.write(blocks),
          read: (partition: readonly string[], row: number) => table.read(partition, row),
          readRange: async (partition: readonly string[], from: number, to: number) => {
            const blocks = await table.readRange(partition, from, to);
            pages.push(blocks.length);
            return blocks;
          },
        };
      },
    };
    const hour = Math.ceil(ID0 / 3.6e9);
    const start = hour * 3.6e9;
    // A chunk a second for 5 minutes, a burst of 40 chunks 1 ms apart, a chunk a minute to the end of the hour.
    const ids = [
      ...Array.from({ length: 300 }, (_, i) => start + 5 + i * 1e6),
      ...Array.from({ length: 40 }, (_, i) => start + 400e6 + i * 1000),
      ...Array.from({ length: 50 }, (_, i) => start + 600e6 + i * 60e6),
    ];
    const store = new TableWindowHistory(tables, 't', 1);
    const chunks = ids.map((id, i) => encodeChunks(entriesOf([streamed(id, { key: 'k', windowStart: 60 * i, count: 1, sum: i, min: i, max: i, revision: 1 })]))[0]);
    await store.append(hour, chunks);

    for (const after of [0, ids[0], ids[150] - 1, ids[320], ids.at(-2)!, ids.at(-1)!]) {
      pages.length = 0;
      const back: number[] = [];
      for await (const chunk of store.read(hour, after)) back.push(...decodeChunk(chunk.data).map((e) => e.id).filter((id) => id > after));
      assert.deepEqual(back, ids.filter((id) => id > after), `after ${after}`);
      assert.ok(Math.max(...pages) <= 45, `at most a burst's blocks a read, got ${Math.max(...pages)} (${pages.length} reads)`);
    }
  });

  it('name each event\'s tenant and VM in its own chunk when one VM\'s windows run across a cut, and after a cross-tenant window', () => {
    // A VM's windows come one after another: the packer remembers their tenant and VM, which a new chunk must name again.
    const ids = Array.from({ length: CHUNK_MAX_EVENTS + 3 }, (_, i) => ID0 + i);
    const events = ids.map((id, i) => (i === 1
      ? streamed(id, { key: `k${i % 7}`, windowStart: 60, count: 2, sum: 3, min: 1, max: 2, revision: 1, vms: 2, expectedVms: 2 })
      : streamed(id, { key: `k${i % 7}`, windowStart: 60, count: 1, sum: i, min: i, max: i, revision: 1, tenant: 'tenant/1', vm: i < 3 ? 'vm=a' : 'vm#b' })));

    const chunks = encodeChunks(entriesOf(events));

    const back = chunks.flatMap((c) => decodeChunk(c.data)).map((e) => e.window);
    assert.equal(chunks.length, 2);
    // Compared event by event (assert's diff of two thousand events takes minutes).
    assert.equal(back.length, events.length);
    const wrong = back.findIndex((e, i) => e.id !== events[i].id || e.tenant !== events[i].tenant || e.vm !== events[i].vm || e.key !== events[i].key);
    assert.equal(wrong, -1, `event ${wrong} came back as ${JSON.stringify(back[wrong])}`);
    assert.deepEqual([...back.slice(0, 4), ...back.slice(CHUNK_MAX_EVENTS - 1)], [...events.slice(0, 4), ...events.slice(CHUNK_MAX_EVENTS - 1)]);
  });

  it('are cut at the hour, after the most events, and past 10 s of ids', () => {
    const hourStart = Math.ceil(ID0 / 3.6e9) * 3.6e9;
    const ids = [hourStart - 2, hourStart - 1, hourStart, hourStart + 5, hourStart + 10_000_006, ...Array.from({ length: CHUNK_MAX_EVENTS + 1 }, (_, i) => hourStart + 10_000_007 + i)];
    const events = ids.map((id, i) => streamed(id, { key: 'k', windowStart: 60 * i, count: 1, sum: i, min: i, max: i, revision: 1 }));

    const chunks = encodeChunks(entriesOf(events));

    assert.deepEqual(chunks.map((c) => [c.firstId, c.lastId, c.count]), [
      [hourStart - 2, hourStart - 1, 2],
      [hourStart, hourStart + 5, 2],
      [hourStart + 10_000_006, hourStart + 10_000_006 + CHUNK_MAX_EVENTS - 1, CHUNK_MAX_EVENTS],
      [ids.at(-2), ids.at(-1), 2],
    ]);
    assert.deepEqual(chunks.flatMap((c) => decodeChunk(c.data)).map((e) => e.id), ids);
  });
});
