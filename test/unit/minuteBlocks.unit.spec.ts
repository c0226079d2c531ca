import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MinuteBlocks, decodeBlock, slotStartOf } from '../../projections/minuteBlocks';
import { blockText, encodeBlock, Field, parseBlockData } from '../../projections/blockCodec';
import { newSketch, sketchBytes } from '../../projections/sketchCodec';
import type { StoredBlock } from '../../src/core/ports';
import { eventCollector, type WindowEvent } from '../../src/core/windowMath';
import { TENANT_A, TENANT_B, VM_1, VM_2 } from '../support/metricBuilders';

/** 2022-03-30T11:00:00Z, the start of a 15-minute slot. */
const SLOT = 1648638000;

function vmWindow(fields: Partial<WindowEvent> & { windowStart: number; key: string }): WindowEvent {
  const w = { tenant: TENANT_A, vm: VM_1, count: 2, sum: 10, min: 4, max: 6, revision: 1, ...fields };
  return { ...w, avg: w.sum / w.count };
}

function crossWindow(fields: Partial<WindowEvent> & { windowStart: number; key: string }): WindowEvent {
  const w = { count: 1, sum: 3, min: 3, max: 3, revision: 1, ...fields };
  return { ...w, avg: w.sum / w.count };
}

describe('MinuteBlocks', () => {
  it('slotStartOf floors a window start to its 15-minute slot', () => {
    assert.equal(slotStartOf(SLOT), SLOT);
    assert.equal(slotStartOf(SLOT + 840), SLOT);
    assert.equal(slotStartOf(SLOT + 900), SLOT + 900);
    assert.equal(slotStartOf(SLOT - 60), SLOT - 900);
  });

  describe('apply, then takeDirty, then decodeBlock', () => {
    it('gives back the applied per-VM windows, one block per (tenant, vm) and slot, keyed by counter key', () => {
      const blocks = new MinuteBlocks('vmMinute', true);
      blocks.apply(vmWindow({ key: 'win_cpu.percent', windowStart: SLOT + 60, count: 3, sum: 4.5, min: -1.25, max: 5, revision: 2 }));
      blocks.apply(vmWindow({ key: 'win_cpu.percent', windowStart: SLOT }));
      blocks.apply(vmWindow({ key: 'win_disk.percent_idle_time', windowStart: SLOT + 840, count: 1, sum: 7, min: 7, max: 7 }));
      blocks.apply(vmWindow({ key: 'win_cpu.percent', windowStart: SLOT + 900 }));
      blocks.apply(vmWindow({ key: 'win_cpu.percent', windowStart: SLOT, tenant: TENANT_B, vm: VM_2, count: 5, sum: 50, min: 1, max: 20 }));

      const stored = blocks.takeDirty(420);

      const summary = stored.map((b) => [b.partition, b.row, b.appliedThrough, [...decodeBlock(b)]]);
      assert.deepStrictEqual(summary.sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1), [
        [[TENANT_A, VM_1], SLOT, 420, [
          ['win_cpu.percent', [
            { windowStart: SLOT, count: 2, sum: 10, min: 4, max: 6, revision: 1 },
            { windowStart: SLOT + 60, count: 3, sum: 4.5, min: -1.25, max: 5, revision: 2 },
          ]],
          ['win_disk.percent_idle_time', [{ windowStart: SLOT + 840, count: 1, sum: 7, min: 7, max: 7, revision: 1 }]],
        ]],
        [[TENANT_A, VM_1], SLOT + 900, 420, [['win_cpu.percent', [{ windowStart: SLOT + 900, count: 2, sum: 10, min: 4, max: 6, revision: 1 }]]]],
        [[TENANT_B, VM_2], SLOT, 420, [['win_cpu.percent', [{ windowStart: SLOT, count: 5, sum: 50, min: 1, max: 20, revision: 1 }]]]],
      ].sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    });

    it('gives back cross-tenant windows under the sub-key "", partitioned by counter key', () => {
      const blocks = new MinuteBlocks('minute', true);
      blocks.apply(crossWindow({ key: 'win_cpu.percent', windowStart: SLOT + 120, count: 4, sum: 2, min: 0, max: 1 }));

      const [stored, ...rest] = blocks.takeDirty(7);

      assert.deepEqual(rest, []);
      assert.deepStrictEqual(stored.partition, ['win_cpu.percent']);
      assert.equal(stored.row, SLOT);
      assert.deepStrictEqual([...decodeBlock(stored)], [['', [{ windowStart: SLOT + 120, count: 4, sum: 2, min: 0, max: 1, revision: 1 }]]]);
    });

    it('keeps only the latest revision of a window applied twice', () => {
      const blocks = new MinuteBlocks('minute', true);
      blocks.apply(crossWindow({ key: 'k', windowStart: SLOT, count: 1, sum: 1, min: 1, max: 1, revision: 1 }));
      blocks.apply(crossWindow({ key: 'k', windowStart: SLOT, count: 2, sum: 3, min: 1, max: 2, revision: 2 }));

      const [stored] = blocks.takeDirty(1);

      assert.deepStrictEqual(decodeBlock(stored).get(''), [{ windowStart: SLOT, count: 2, sum: 3, min: 1, max: 2, revision: 2 }]);
    });
  });

  describe('takeDirty', () => {
    it('gives the same blocks as bytes (takeDirtyBytes) as it gives as text, once made text', () => {
      const fill = (blocks: MinuteBlocks) => {
        for (const key of ['a', 'b']) blocks.apply(vmWindow({ key, windowStart: SLOT + 60 }));
        blocks.apply(vmWindow({ key: 'a', windowStart: SLOT + 960, count: 1, sum: 3, min: 3, max: 3 }));
        return blocks;
      };
      const sketch = newSketch();
      for (const v of [1, 2, 3]) sketch.accept(v);
      const fillCross = (blocks: MinuteBlocks) => {
        blocks.apply(crossWindow({ key: 'cpu', windowStart: SLOT, count: 3, sum: 6, min: 1, max: 3, vms: 2, expectedVms: 3, sketch: sketchBytes(sketch) }));
        return blocks;
      };

      const asText = [...fill(new MinuteBlocks('vmMinute', true)).takeDirty(7), ...fillCross(new MinuteBlocks('minute', true)).takeDirty(7)];
      const asBytes = [...fill(new MinuteBlocks('vmMinute', true)).takeDirtyBytes(7), ...fillCross(new MinuteBlocks('minute', true)).takeDirtyBytes(7)];

      assert.equal(asText.length, 3);
      assert.deepEqual(asBytes.map((b) => ({ ...b, data: blockText(b.data) })), asText);
      assert.match(asText[2].data, /^b2:/, 'the cross-tenant block is the extended form');
    });

    it('clears the dirty marks, so a second call returns only blocks changed since', () => {
      const blocks = new MinuteBlocks('minute', true);
      blocks.apply(crossWindow({ key: 'a', windowStart: SLOT }));
      blocks.apply(crossWindow({ key: 'b', windowStart: SLOT }));
      const first = blocks.takeDirty(10);

      const second = blocks.takeDirty(20);
      blocks.apply(crossWindow({ key: 'b', windowStart: SLOT + 60 }));
      const third = blocks.takeDirty(30);

      assert.equal(first.length, 2);
      assert.deepEqual(second, []);
      assert.deepStrictEqual(third.map((b) => [b.partition, b.appliedThrough]), [[['b'], 30]]);
      assert.deepStrictEqual(decodeBlock(third[0]).get('')?.map((w) => w.windowStart), [SLOT, SLOT + 60], 'the whole block is written, not only the change');
    });

    it('marks the block as reflecting the log through the given position, as get then reports', () => {
      const blocks = new MinuteBlocks('vmMinute', true);
      blocks.apply(vmWindow({ key: 'k', windowStart: SLOT }));

      blocks.takeDirty(99);

      assert.equal(blocks.get([TENANT_A, VM_1], 'k', SLOT)?.appliedThrough, 99);
    });
  });

  describe('load and get', () => {
    const stored: StoredBlock = {
      partition: [TENANT_A, VM_1],
      row: SLOT,
      data: JSON.stringify({ 'win_cpu.percent': [[2, 3, 12, 1, 8, 4]], 'k.other': [[14, 1, 5, 5, 5, 1]] }),
      appliedThrough: 1234,
    };

    it('after loading a stored block, get returns its window and the position it reflects', () => {
      const blocks = new MinuteBlocks('vmMinute', false);
      const id = [TENANT_A, VM_1];
      const loadedBefore = blocks.isLoaded(id, SLOT);

      blocks.load([TENANT_A, VM_1], SLOT, stored);

      assert.equal(loadedBefore, false);
      assert.equal(blocks.isLoaded(id, SLOT), true);
      assert.deepStrictEqual(blocks.get([TENANT_A, VM_1], 'win_cpu.percent', SLOT + 120), {
        window: { count: 3, sum: 12, min: 1, max: 8, revision: 4 }, appliedThrough: 1234,
      });
      assert.deepStrictEqual(blocks.get([TENANT_A, VM_1], 'k.other', SLOT + 840)?.window, { count: 1, sum: 5, min: 5, max: 5, revision: 1 });
      assert.equal(blocks.get([TENANT_A, VM_1], 'win_cpu.percent', SLOT + 60), undefined, 'a minute without a window');
      assert.equal(blocks.get([TENANT_A, VM_1], 'k.unknown', SLOT + 120), undefined);
      assert.equal(blocks.get([TENANT_A, VM_2], 'win_cpu.percent', SLOT + 120), undefined);
    });

    it('loading an absent block marks it loaded and empty', () => {
      const blocks = new MinuteBlocks('vmMinute', false);

      blocks.load([TENANT_A, VM_1], SLOT, undefined);

      assert.equal(blocks.isLoaded([TENANT_A, VM_1], SLOT), true);
      assert.equal(blocks.get([TENANT_A, VM_1], 'win_cpu.percent', SLOT + 120), undefined);
    });

    it('does not replace a block already in memory, which may be newer than the table', () => {
      const blocks = new MinuteBlocks('vmMinute', false);
      blocks.load([TENANT_A, VM_1], SLOT, undefined);
      blocks.apply(vmWindow({ key: 'win_cpu.percent', windowStart: SLOT + 120, count: 9, sum: 9, min: 1, max: 1, revision: 5 }));

      blocks.load([TENANT_A, VM_1], SLOT, stored);

      assert.equal(blocks.get([TENANT_A, VM_1], 'win_cpu.percent', SLOT + 120)?.window.count, 9);
      assert.equal(blocks.get([TENANT_A, VM_1], 'k.other', SLOT + 840), undefined);
    });

    it('a complete (fresh rebuild) state counts every block as loaded', () => {
      assert.equal(new MinuteBlocks("minute", true).isLoaded(["k"], SLOT), true);
    });
  });

  describe('evict', () => {
    it('drops clean blocks whose slot ended at or before the bound, and keeps dirty and later ones', () => {
      const blocks = new MinuteBlocks('minute', false);
      blocks.apply(crossWindow({ key: 'clean.old', windowStart: SLOT }));
      blocks.apply(crossWindow({ key: 'clean.current', windowStart: SLOT + 900 }));
      blocks.takeDirty(1);
      blocks.apply(crossWindow({ key: 'dirty.old', windowStart: SLOT + 60 }));
      const loaded = (key: string, slot: number) => blocks.isLoaded([key], slot);

      blocks.evict(SLOT + 900);

      assert.equal(blocks.size, 2);
      assert.equal(loaded('clean.old', SLOT), false);
      assert.equal(loaded('dirty.old', SLOT), true);
      assert.equal(loaded('clean.current', SLOT + 900), true);
      assert.equal(blocks.get(['dirty.old'], '', SLOT + 60)?.window.count, 1);
    });

    it('keeps a clean block whose slot has not ended by the bound', () => {
      const blocks = new MinuteBlocks('minute', false);
      blocks.apply(crossWindow({ key: 'k', windowStart: SLOT }));
      blocks.takeDirty(1);

      blocks.evict(SLOT + 899);

      assert.equal(blocks.size, 1);
    });

    it('reuses the rows of dropped blocks with nothing of their windows left in them', () => {
      const blocks = new MinuteBlocks('vmMinute', true);
      for (const key of ['a', 'b', 'c']) blocks.apply(vmWindow({ key, windowStart: SLOT + 60, count: 3, sum: 9, min: 1, max: 5, revision: 2 }));
      blocks.takeDirty(1);
      blocks.evict(SLOT + 900);

      for (const key of ['c', 'd']) blocks.apply(vmWindow({ key, windowStart: SLOT + 900 + 120 }));
      const [stored, ...rest] = blocks.takeDirty(2);

      assert.deepEqual(rest, []);
      assert.deepEqual([...decodeBlock(stored)], ['c', 'd'].map((key) => [key, [{ windowStart: SLOT + 1020, count: 2, sum: 10, min: 4, max: 6, revision: 1 }]]));
    });

    it('never drops a block that holds an open window', () => {
      const blocks = new MinuteBlocks('vmMinute', false);
      const p = blocks.partitionOf(TENANT_A, VM_1);
      blocks.addOpen(p, 'k', SLOT + 60, 5, 1000, 0, -Infinity, true);

      blocks.evict(SLOT + 900);

      assert.equal(blocks.isLoaded([TENANT_A, VM_1], SLOT), true);
      assert.equal(blocks.openCount, 1);
    });
  });

  describe('open windows in the block rows', () => {
    const open = (blocks: MinuteBlocks, sub: string, windowStart: number, value: number, nowMs = 1000, position = 0) =>
      blocks.addOpen(blocks.partitionOf(TENANT_A, VM_1), sub, windowStart, value, nowMs, position, -Infinity, true);

    it('aggregates an open window in place, hides it from get and takeDirty, and closes it as revision 1', () => {
      const blocks = new MinuteBlocks('vmMinute', true);
      assert.equal(open(blocks, 'k', SLOT + 120, 4), true);
      assert.equal(open(blocks, 'k', SLOT + 120, -2), true);
      assert.equal(open(blocks, 'k', SLOT + 120, 7), true);

      assert.equal(blocks.get([TENANT_A, VM_1], 'k', SLOT + 120), undefined, 'an open window is not a stored one');
      assert.deepEqual(blocks.takeDirty(9), [], 'nothing to write while it is open');
      const closed: WindowEvent[] = [];
      assert.equal(blocks.closeMinute(SLOT + 120, Infinity, eventCollector(closed)), 1);

      assert.deepEqual(closed, [{ key: 'k', tenant: TENANT_A, vm: VM_1, windowStart: SLOT + 120, count: 3, sum: 9, min: -2, max: 7, avg: 3, revision: 1 }]);
      const { sketch, ...stored } = blocks.get([TENANT_A, VM_1], 'k', SLOT + 120)!.window;
      assert.deepEqual(stored, { count: 3, sum: 9, min: -2, max: 7, revision: 1 });
      assert.equal(sketch?.count, 3, 'from its third value a window keeps a sketch of its values');
      assert.equal(open(blocks, 'k', SLOT + 120, 1), false, 'a closed window is revised by the caller, not reopened');
      assert.equal(blocks.openCount, 0);
    });

    it('writes only the closed windows of a block that also holds open ones', () => {
      const blocks = new MinuteBlocks('vmMinute', true);
      open(blocks, 'k', SLOT, 1);
      open(blocks, 'k', SLOT + 60, 2);
      open(blocks, 'other', SLOT + 60, 3);
      blocks.closeMinute(SLOT, Infinity);

      const [stored, ...rest] = blocks.takeDirty(5);

      assert.deepEqual(rest, []);
      assert.deepEqual([...decodeBlock(stored)], [['k', [{ windowStart: SLOT, count: 1, sum: 1, min: 1, max: 1, revision: 1 }]]]);
      assert.equal(blocks.openCount, 2);
    });

    it('closes only windows idle since the bound, and keeps the earliest position and event time an open window needs', () => {
      const blocks = new MinuteBlocks('vmMinute', true);
      const p = blocks.partitionOf(TENANT_A, VM_1);
      blocks.addOpen(p, 'old', SLOT, 1, 1000, 40, 100, true);
      blocks.addOpen(p, 'new', SLOT, 2, 5000, 70, 150, true);
      blocks.addOpen(p, 'later', SLOT + 60, 3, 6000, 90, 160, true);
      assert.deepEqual(blocks.openSince(), { position: 40, maxEventTimeBefore: 100 });

      assert.equal(blocks.closeMinute(SLOT, 4999), 1);

      assert.equal(blocks.get([TENANT_A, VM_1], 'old', SLOT)?.window.revision, 1);
      assert.equal(blocks.get([TENANT_A, VM_1], 'new', SLOT), undefined);
      assert.equal(blocks.closeMinute(SLOT, 4999), 0, 'the remaining window is not idle yet');
      assert.equal(blocks.closeMinute(SLOT, 5000), 1);
      assert.deepEqual(blocks.openSince(), { position: 90, maxEventTimeBefore: 160 });
    });

    it('does not open a window that has no data when told it may not (the watermark passed it)', () => {
      const blocks = new MinuteBlocks('vmMinute', true);

      assert.equal(blocks.addOpen(blocks.partitionOf(TENANT_A, VM_1), 'k', SLOT, 1, 1000, 0, -Infinity, false), false);
      assert.equal(blocks.openCount, 0);
    });

    it('keeps every window of a VM whose keys come one by one, in changing order, past its first block\'s width and past the keys a partition finds by a scan', () => {
      // A block starts with room for a few keys and widens as they come: 40 keys, a new one each minute, the
      // known ones in reverse order every other minute; each window's value says its key and minute. A partition
      // finds its first 32 keys by a scan of its columns and keeps a Map of them past that.
      const blocks = new MinuteBlocks('vmMinute', true);
      const keys = Array.from({ length: 40 }, (_, i) => `key.${i}`);
      const expected = new Map<string, { windowStart: number; count: number; sum: number; min: number; max: number; revision: number }[]>();
      for (let minute = 0; minute < 40; minute++) {
        const ws = SLOT + minute * 60;
        const known = keys.slice(0, minute + 1);
        for (const key of minute % 2 === 0 ? known : [...known].reverse()) {
          const value = Number(key.slice(4)) * 100 + minute;
          assert.equal(open(blocks, key, ws, value), true);
          const list = expected.get(key) ?? [];
          expected.set(key, [...list, { windowStart: ws, count: 1, sum: value, min: value, max: value, revision: 1 }]);
        }
        assert.equal(blocks.closeMinute(ws, Infinity), known.length);
      }

      const decoded = new Map<string, unknown[]>();
      for (const stored of blocks.takeDirty(1)) for (const [key, windows] of decodeBlock(stored)) decoded.set(key, [...(decoded.get(key) ?? []), ...windows]);

      assert.deepEqual(new Map([...decoded].sort()), new Map([...expected].sort()));
      assert.equal(blocks.get([TENANT_A, VM_1], 'key.29', SLOT + 29 * 60)?.window.sum, 2929);
      assert.equal(blocks.get([TENANT_A, VM_1], 'key.39', SLOT + 39 * 60)?.window.sum, 3939);
      assert.equal(blocks.get([TENANT_A, VM_1], 'key.33', SLOT + 39 * 60)?.window.sum, 3339);
      assert.equal(blocks.get([TENANT_A, VM_1], 'key.0', SLOT + 14 * 60)?.window.sum, 14);
      assert.equal(blocks.get([TENANT_A, VM_1], 'key.3', SLOT + 2 * 60), undefined, 'key.3 came in minute 3');
    });

    it('holds a row only for minutes that have data: windows in minutes 3 and 14 and a VM expected in minutes 2 to 4 are written exactly, the other minutes as none', () => {
      const blocks = new MinuteBlocks('minute', true);
      const p = blocks.partitionOf('cpu');
      assert.deepEqual(blocks.fleetAt(p, SLOT + 5 * 60), [0, 0], 'no row yet: no VM counts');
      // A VM newly expected in the windows after minute 1 through minute 4, none of them closed.
      assert.deepEqual(blocks.bumpRange(p, SLOT + 60, SLOT + 4 * 60, Field.EXPECTED), []);
      assert.equal(blocks.addOpen(p, '', SLOT + 14 * 60, 7, 1000, 0, -Infinity, true, 1), true);
      assert.equal(blocks.addOpen(p, '', SLOT + 3 * 60, 5, 1000, 0, -Infinity, true, 1), true);
      assert.equal(blocks.closeMinute(SLOT + 3 * 60, Infinity) + blocks.closeMinute(SLOT + 14 * 60, Infinity), 2);

      const [stored, ...rest] = blocks.takeDirty(1);

      assert.deepEqual(rest, []);
      const none = { sum: 0, min: 0, max: 0, revision: 0 };
      assert.deepEqual([...parseBlockData(stored.data)], [['', [
        { minute: 2, count: 0, ...none, expected: 1 },
        { minute: 3, count: 1, sum: 5, min: 5, max: 5, revision: 1, vms: 1, expected: 1 },
        { minute: 4, count: 0, ...none, expected: 1 },
        { minute: 14, count: 1, sum: 7, min: 7, max: 7, revision: 1, vms: 1, expected: 0 },
      ]]]);
      assert.deepEqual(blocks.fleetAt(p, SLOT + 2 * 60), [0, 1]);
      assert.deepEqual(blocks.fleetAt(p, SLOT + 5 * 60), [0, 0]);
      assert.equal(blocks.get(['cpu'], '', SLOT + 13 * 60), undefined);
    });

    it('tells each partition\'s newest window per key when its catalog is taken, and never moves it back', () => {
      const blocks = new MinuteBlocks('vmMinute', true);
      const p = blocks.partitionOf(TENANT_A, VM_1);
      blocks.seedCatalog([TENANT_A, VM_1], [['k', SLOT + 600], ['gone', SLOT - 900]]);
      open(blocks, 'k', SLOT + 60, 1);
      open(blocks, 'other', SLOT + 120, 2);
      blocks.closeMinute(SLOT + 60, Infinity);
      blocks.closeMinute(SLOT + 120, Infinity);

      assert.deepEqual(blocks.partitionsWithNewest(), [p]);
      assert.deepEqual(blocks.takeCatalog(), [p]);
      assert.deepEqual(new Map([...p.newest].sort()), new Map([['gone', SLOT - 900], ['k', SLOT + 600], ['other', SLOT + 120]]));
      assert.deepEqual(blocks.takeCatalog(), [], 'nothing moved since');

      open(blocks, 'k', SLOT + 900, 3);
      blocks.closeMinute(SLOT + 900, Infinity);

      assert.deepEqual(blocks.takeCatalog(), [p]);
      assert.equal(p.newest.get('k'), SLOT + 900);
    });
  });
});

describe('block data on disk', () => {
  const SLOT0 = 1648638000;
  it('round-trips windows of one metric, of several, revisions and unicode keys through the packed binary form', () => {
    const blocks = new MinuteBlocks('vmMinute', true);
    const w = (key: string, minute: number, values: number[], revision = 1): WindowEvent => {
      const sum = values.reduce((a, b) => a + b, 0);
      return { key, tenant: 't', vm: 'v', windowStart: SLOT0 + minute * 60, count: values.length, sum, min: Math.min(...values), max: Math.max(...values), avg: sum / values.length, revision };
    };
    const windows = [w('cpu', 0, [0.1 + 0.2]), w('cpu', 14, [-3, 5e-324, 1e300], 3), w('mémoire/∞', 7, [-7.25]), w('mémoire/∞', 8, [42], 2)];
    for (const x of windows) blocks.apply(x);
    const [stored] = blocks.takeDirty(9);
    assert.ok(stored.data.startsWith('b1:'));
    const decoded = decodeBlock(stored);
    for (const x of windows) {
      const got = decoded.get(x.key)!.find((d) => d.windowStart === x.windowStart)!;
      assert.deepEqual([got.count, got.sum, got.min, got.max, got.revision], [x.count, x.sum, x.min, x.max, x.revision]);
    }
    const fresh = new MinuteBlocks('vmMinute', false);
    fresh.load(['t', 'v'], SLOT0, stored);
    assert.deepEqual(fresh.get(['t', 'v'], 'cpu', SLOT0 + 14 * 60)?.window, { count: 3, sum: -3 + 5e-324 + 1e300, min: -3, max: 1e300, revision: 3 });
  });

  it('writes the packed forms byte for byte as blockCodec documents them, a block after a larger one included', () => {
    // A row of a VM block: 6 numbers a minute (count, sum, min, max, revision, last arrival); a cross-tenant row 8 (… vms, expected).
    const vmRow = (minutes: Record<number, number[]>, fields = 6): Float64Array => {
      const row = new Float64Array(15 * fields);
      for (const [m, numbers] of Object.entries(minutes)) row.set(numbers, Number(m) * fields);
      return row;
    };
    const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
    const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
    const f64 = (n: number) => { const b = Buffer.alloc(8); b.writeDoubleLE(n); return b; };
    const text = (s: string) => Buffer.concat([u16(Buffer.byteLength(s)), Buffer.from(s)]);

    // Many keys first (a larger block), then a small one: nothing of the first may show in the second.
    const large = new Map(Array.from({ length: 40 }, (_, i) => [`key-${i}-${'x'.repeat(60)}`, vmRow({ 0: [2, 3, 1, 2, 1, 0] })] as const));
    assert.equal(parseBlockData(encodeBlock(large, 6)).size, 40);
    const small = new Map([
      ['cpu', vmRow({ 0: [1, 0.5, 0.5, 0.5, 1, 0], 2: [3, 9, 1, 5, 2, 0], 4: [1, 7, 7, 7, 0, 99] })],
      ['dïsk', vmRow({ 14: [1, -2, -2, -2, 1, 0] })],
    ]);
    const expectedSmall = Buffer.concat([
      u16(2),
      text('cpu'), u16(0b101), u16(0b001), f64(0.5), u32(3), f64(9), f64(1), f64(5), u32(2),
      text('dïsk'), u16(1 << 14), u16(1 << 14), f64(-2),
    ]);
    assert.equal(encodeBlock(small, 6), `b1:${expectedSmall.toString('base64')}`);

    const sketch = newSketch();
    for (const v of [1, 2, 4, 8]) sketch.accept(v);
    const cross = new Map([['', vmRow({ 1: [4, 15, 1, 8, 1, 0, 3, 5], 2: [0, 0, 0, 0, 0, 0, 0, 7], 3: [1, 6, 6, 6, 2, 0, 1, 1] }, 8)]]);
    const expectedCross = Buffer.concat([
      u16(1), text(''), u16(0b1010), u16(0), u16(0b0010), u16(0b1010), u16(0b0100),
      u32(4), f64(15), f64(1), f64(8), u32(1), u32(3), u32(5), u32(sketchBytes(sketch).length), sketchBytes(sketch),
      u32(1), f64(6), f64(6), f64(6), u32(2), u32(1), u32(1),
      u32(7),
    ]);
    assert.equal(encodeBlock(cross, 8, new Map([['', [undefined, sketch]]])), `b2:${expectedCross.toString('base64')}`);
  });

  it('refuses a count that does not fit its 32 bits, as it always did', () => {
    const row = new Float64Array(15 * 6);
    row.set([2 ** 32, 1, 0, 1, 1, 0]);
    assert.throws(() => encodeBlock(new Map([['cpu', row]]), 6), RangeError);
  });

  it('still reads blocks written in the earlier JSON form', () => {
    const stored = { partition: ['k'], row: SLOT0, appliedThrough: 5, data: JSON.stringify({ '': [[0, 2.5], [3, 2, 10, 4, 6, 2]] }) };
    assert.deepEqual(decodeBlock(stored).get(''), [
      { windowStart: SLOT0, count: 1, sum: 2.5, min: 2.5, max: 2.5, revision: 1 },
      { windowStart: SLOT0 + 180, count: 2, sum: 10, min: 4, max: 6, revision: 2 },
    ]);
  });
});
