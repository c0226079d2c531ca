import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WindowFolder, type WindowOptions } from '../../projections/WindowFolder';
import { MinuteBlocks } from '../../projections/minuteBlocks';
import { contents, crashAndResume, lateIds, uninterrupted } from '../support/foldRestart';
import type { Metric } from '../../src/core/metric';
import type { WindowEvent } from '../../src/core/windowMath';
import {
  batchWindows, feed, latestAggregates, metric, records, revisionsById, sorted, windowId,
  TENANT_A, TENANT_B, VM_1, VM_2, type Folded, type TestRecord,
} from '../support/metricBuilders';

/** 2022-03-30T11:00:00Z: a UTC minute start (and a 15-minute slot start). */
const T0 = 1648638000;
// Processing times here count from 1_000_000 ms, not from the epoch: no arrival bound (tested on its own, with real arrival times).
const DEFAULTS: WindowOptions = { outOfOrderSeconds: 60, idleCloseSeconds: 5, allowedLatenessSeconds: 1800, maxFutureSeconds: Infinity };

function newFolder(options: Partial<WindowOptions> = {}): WindowFolder {
  return new WindowFolder({ ...DEFAULTS, ...options }, new MinuteBlocks('minute', true), new MinuteBlocks('vmMinute', true));
}

/** Windows of one grouping as compact tuples, sorted, for readable equality. */
function crossOf(windows: readonly WindowEvent[]): [string, number, number, number, number, number, number][] {
  return windows.filter((w) => w.tenant === undefined)
    .map((w) => [w.key, w.windowStart, w.count, w.sum, w.min, w.max, w.revision] as [string, number, number, number, number, number, number])
    .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
}

describe('WindowFolder', () => {
  describe('window assignment and aggregates', () => {
    it('puts t=119.9 in the window starting at 60 and t=120 in the window starting at 120', () => {
      const folder = newFolder();
      feed(folder, records([[metric({ t: 60, value: 1 }), metric({ t: 119.9, value: 2 }), metric({ t: 120, value: 4 })]]));

      const windows = folder.closeAll();

      assert.deepEqual(crossOf(windows), [
        ['win_cpu.percent', 60, 2, 3, 1, 2, 1],
        ['win_cpu.percent', 120, 1, 4, 4, 4, 1],
      ]);
    });

    it('aligns windows to UTC minutes for real epoch timestamps', () => {
      const folder = newFolder();
      feed(folder, records([[metric({ t: 1648637647 }), metric({ t: 1648637640 }), metric({ t: 1648637699.999 }), metric({ t: 1648637700 })]]));

      const windows = folder.closeAll();

      assert.deepEqual(crossOf(windows).map(([, start, count]) => [start, count]), [[1648637640, 3], [1648637700, 1]]);
    });

    it('aggregates count, sum, min, max and avg per key across tenants and per (tenant, vm, key)', () => {
      const folder = newFolder();
      feed(folder, records([[
        metric({ t: T0 + 1, tenant: TENANT_A, vm: VM_1, key: 'k.one', value: 10 }),
        metric({ t: T0 + 2, tenant: TENANT_A, vm: VM_1, key: 'k.one', value: 20 }),
        metric({ t: T0 + 3, tenant: TENANT_B, vm: VM_2, key: 'k.one', value: 60 }),
        metric({ t: T0 + 4, tenant: TENANT_A, vm: VM_1, key: 'k.two', value: -5 }),
      ]]));

      const windows = folder.closeAll();

      const byId = new Map(windows.map((w) => [windowId(w), w]));
      assert.equal(windows.length, 5);
      assert.deepStrictEqual(byId.get(`cross|k.one|${T0}`), { key: 'k.one', windowStart: T0, count: 3, sum: 90, min: 10, max: 60, avg: 30, revision: 1, vms: 2, expectedVms: 0 });
      assert.deepStrictEqual(byId.get(`cross|k.two|${T0}`), { key: 'k.two', windowStart: T0, count: 1, sum: -5, min: -5, max: -5, avg: -5, revision: 1, vms: 1, expectedVms: 0 });
      assert.deepStrictEqual(byId.get(`vm|${TENANT_A}|${VM_1}|k.one|${T0}`), {
        key: 'k.one', tenant: TENANT_A, vm: VM_1, windowStart: T0, count: 2, sum: 30, min: 10, max: 20, avg: 15, revision: 1,
      });
      assert.deepStrictEqual(byId.get(`vm|${TENANT_B}|${VM_2}|k.one|${T0}`), {
        key: 'k.one', tenant: TENANT_B, vm: VM_2, windowStart: T0, count: 1, sum: 60, min: 60, max: 60, avg: 60, revision: 1,
      });
      assert.deepStrictEqual(byId.get(`vm|${TENANT_A}|${VM_1}|k.two|${T0}`), {
        key: 'k.two', tenant: TENANT_A, vm: VM_1, windowStart: T0, count: 1, sum: -5, min: -5, max: -5, avg: -5, revision: 1,
      });
    });
  });

  describe('closing by watermark', () => {
    it('keeps a window open while the watermark has not reached its end, and closes it once it has', () => {
      const folder = newFolder({ outOfOrderSeconds: 60 });
      const [first, second, third] = records([
        [metric({ t: T0 + 10, value: 3 })],
        [metric({ t: T0 + 119, value: 5 })],
        [metric({ t: T0 + 120, value: 7 })],
      ]);

      const afterFirst = feed(folder, [first]);
      const afterSecond = feed(folder, [second]);
      const whileOpen = folder.watermark;
      const afterThird = feed(folder, [third]);

      assert.deepEqual(afterFirst.windows, []);
      assert.equal(whileOpen, T0 + 59, 'watermark = max event time - outOfOrderSeconds');
      assert.deepEqual(afterSecond.windows, [], 'watermark T0+59 has not passed the end T0+60');
      assert.equal(folder.watermark, T0 + 60);
      assert.deepEqual(crossOf(afterThird.windows), [['win_cpu.percent', T0, 1, 3, 3, 3, 1]]);
      assert.equal(afterThird.windows.length, 2, 'the cross-tenant window and the per-VM window');
      assert.equal(folder.openCount, 4, 'windows T0+60 and T0+120 stay open in both groupings');
    });

    it('does not let an out-of-order metric move the watermark back', () => {
      const folder = newFolder({ outOfOrderSeconds: 30 });

      feed(folder, records([[metric({ t: T0 + 500 })], [metric({ t: T0 + 100 })]]));

      assert.equal(folder.watermark, T0 + 470);
    });
  });

  describe('closing by idleness', () => {
    it('closes a window idleCloseSeconds of processing time after its last arrival, not before', () => {
      const folder = newFolder({ idleCloseSeconds: 5 });
      feed(folder, records([[metric({ t: T0 + 1, value: 2 })], [metric({ t: T0 + 2, value: 4 })]], (i) => 1_000_000 + i * 1000));

      const early = folder.tick(1_005_999);
      const due = folder.tick(1_006_000);

      assert.deepEqual(early, []);
      assert.deepEqual(crossOf(due), [['win_cpu.percent', T0, 2, 6, 2, 4, 1]]);
      assert.equal(due.length, 2);
      assert.equal(folder.openCount, 0);
    });

    it('closes only the idle windows and leaves recently reached ones open', () => {
      const folder = newFolder({ idleCloseSeconds: 5 });
      feed(folder, records([[metric({ t: T0 + 1, key: 'k.quiet' })], [metric({ t: T0 + 2, key: 'k.busy' })]], (i) => 1_000_000 + i * 3000));

      const closed = folder.tick(1_005_000);

      assert.deepEqual(crossOf(closed).map(([key]) => key), ['k.quiet']);
      assert.equal(folder.openCount, 2, 'k.busy in both groupings');
    });

    it('revises an idle-closed window as revision 2 with merged aggregates when a later metric reaches it', () => {
      const folder = newFolder({ idleCloseSeconds: 5 });
      feed(folder, records([[metric({ t: T0 + 1, value: 10 })]], () => 1_000_000));
      const first = folder.tick(1_010_000);

      const later = feed(folder, [{ position: 10, next: 20, appendedAtMs: 1_020_000, metrics: [metric({ t: T0 + 50, value: 4 })] }]);

      assert.deepEqual(crossOf(first), [['win_cpu.percent', T0, 1, 10, 10, 10, 1]]);
      assert.deepEqual(crossOf(later.windows), [['win_cpu.percent', T0, 2, 14, 4, 10, 2]]);
      assert.deepEqual(later.windows.find((w) => w.tenant === TENANT_A)?.revision, 2);
      assert.equal(later.windows.length, 2);
      assert.deepEqual(folder.closeAll(), [], 'the revision is emitted at once, not held open');
    });
  });

  describe('late data within the allowed lateness', () => {
    /** Window T0 closed (revision 1) by a metric at T0+200. */
    function folderWithClosedWindow(): { folder: WindowFolder; closed: Folded } {
      const folder = newFolder({ outOfOrderSeconds: 60, allowedLatenessSeconds: 1800 });
      const closed = feed(folder, records([[metric({ t: T0 + 30, value: 5 })], [metric({ t: T0 + 200, value: 1 })]]));
      return { folder, closed };
    }

    it('emits the closed window again as revision 2, then 3, with merged totals', () => {
      const { folder, closed } = folderWithClosedWindow();

      const second = feed(folder, [{ position: 20, next: 30, appendedAtMs: 1_002_000, metrics: [metric({ t: T0 + 59, value: 9 })] }]);
      const third = feed(folder, [{ position: 30, next: 40, appendedAtMs: 1_003_000, metrics: [metric({ t: T0, value: -1 })] }]);

      assert.deepEqual(crossOf(closed.windows), [['win_cpu.percent', T0, 1, 5, 5, 5, 1]]);
      assert.deepEqual(crossOf(second.windows), [['win_cpu.percent', T0, 2, 14, 5, 9, 2]]);
      assert.deepEqual(crossOf(third.windows), [['win_cpu.percent', T0, 3, 13, -1, 9, 3]]);
      const perVm = third.windows.find((w) => w.tenant !== undefined);
      assert.deepEqual([perVm?.count, perVm?.sum, perVm?.revision, perVm?.avg], [3, 13, 3, 13 / 3]);
      assert.deepEqual(second.late, []);
    });

    it('emits ONE revision for several late metrics of one window in one record', () => {
      const { folder } = folderWithClosedWindow();

      const step = folder.add([
        metric({ t: T0 + 1, value: 2 }),
        metric({ t: T0 + 2, value: 3, tenant: TENANT_B, vm: VM_2 }),
        metric({ t: T0 + 3, value: 4 }),
      ], 20, 30, 1_002_000);

      assert.deepEqual(crossOf(step.windows), [['win_cpu.percent', T0, 4, 14, 2, 5, 2]]);
      const perVm = step.windows.filter((w) => w.tenant !== undefined).map((w) => [w.tenant, w.count, w.sum, w.revision]);
      assert.deepEqual(perVm.sort(), [[TENANT_A, 3, 11, 2], [TENANT_B, 1, 3, 1]].sort());
      assert.equal(step.windows.length, 3);
    });

    it('emits a never-seen window behind the watermark at once as revision 1', () => {
      const { folder } = folderWithClosedWindow();

      const step = folder.add([metric({ t: T0 + 70, value: 8 }), metric({ t: T0 + 80, value: 2 })], 20, 30, 1_002_000);

      assert.deepEqual(crossOf(step.windows), [['win_cpu.percent', T0 + 60, 2, 10, 2, 8, 1]]);
    });
  });

  describe('data later than the allowed lateness', () => {
    it('goes to late with its position, index and the watermark, and changes no window', () => {
      const folder = newFolder({ outOfOrderSeconds: 60, allowedLatenessSeconds: 120 });
      feed(folder, records([[metric({ t: T0 + 30, value: 5 })], [metric({ t: T0 + 1000, value: 1 })]]));
      const stored = folder.cross.get(['win_cpu.percent'], '', T0);

      const step = folder.add([
        metric({ t: T0 + 900, value: 7 }),
        metric({ t: T0 + 40, value: 99, tenant: TENANT_B, vm: VM_2 }),
      ], 20, 30, 1_002_000);

      assert.deepEqual(step.late, [{ position: 20, index: 1, key: 'win_cpu.percent', tenant: TENANT_B, vm: VM_2, t: T0 + 40, value: 99, watermark: T0 + 940 }]);
      assert.equal(step.windows.filter((w) => w.windowStart === T0).length, 0);
      assert.deepEqual(folder.cross.get(['win_cpu.percent'], '', T0), stored);
      assert.equal(folder.perVm.get([TENANT_B, VM_2], 'win_cpu.percent', T0), undefined);
      assert.ok(!folder.closeAll().some((w) => w.windowStart === T0));
    });

    it('judges a record against the watermark before it, so a record cannot make its own metrics late', () => {
      const folder = newFolder({ outOfOrderSeconds: 0, allowedLatenessSeconds: 60 });
      feed(folder, records([[metric({ t: T0 })]]));

      const step = folder.add([metric({ t: T0 + 10_000 }), metric({ t: T0 + 30 })], 10, 20, 1_001_000);

      assert.deepEqual(step.late, []);
      assert.deepEqual(crossOf(step.windows).map(([, start, count]) => [start, count]), [[T0, 2]]);
    });
  });

  describe('blocks to read before folding', () => {
    it('in a rebuild, only those of slots it let go (written), in both groupings, for partitions it never saw too', () => {
      const folder = newFolder();
      const held = metric({ t: T0 + 30, key: 'cpu', tenant: TENANT_A, vm: VM_1 });
      const later = metric({ t: T0 + 930, key: 'mem', tenant: TENANT_B, vm: VM_2 });
      assert.deepEqual(folder.blocksToLoad([held, later]), []);
      // The rebuild wrote the slot T0…T0+900 and let it go: late data for it must read it back from the table.
      folder.cross.evict(T0 + 900);
      folder.perVm.evict(T0 + 900);
      assert.deepEqual(folder.blocksToLoad([held, later]), [
        { grouping: 'minute', partition: ['cpu'], slot: T0, from: true },
        { grouping: 'vmMinute', partition: [TENANT_A, VM_1], slot: T0 },
      ]);
    });
  });

  describe('restart', () => {
    const options: WindowOptions = { ...DEFAULTS, outOfOrderSeconds: 60, idleCloseSeconds: 5, allowedLatenessSeconds: 120 };
    /** Window T0+960 stays open across the checkpoint; a late metric for T0+780 is merged before it. */
    const scenario = records([
      [metric({ t: T0, value: 1 }), metric({ t: T0 + 5, value: 2, tenant: TENANT_B, vm: VM_2 })],
      [metric({ t: T0 + 1000, value: 3 })],
      [metric({ t: T0 + 790, value: 4 }), metric({ t: T0 + 20, value: 100 })],
      [metric({ t: T0 + 1079, value: 5 }), metric({ t: T0 + 1001, value: 6, key: 'k.other' })],
      [metric({ t: T0 + 1010, value: 7 }), metric({ t: T0 + 1130, value: 8 })],
      [metric({ t: T0 + 1085, value: 9 }), metric({ t: T0 + 1300, value: 10 })],
      [metric({ t: T0 + 1301, value: 11 })],
    ]);

    it('given a crash right after a checkpoint, resuming loses and doubles nothing', async () => {
      const expected = uninterrupted(scenario, options);

      const resumed = await crashAndResume(scenario, options, 3, 3);

      assert.deepEqual(contents(resumed.table), contents(expected.table));
      assert.deepEqual(lateIds(resumed.folded), lateIds(expected.folded));
    });

    it('given blocks written after the last checkpoint, resuming from the older checkpoint loses and doubles nothing', async () => {
      const expected = uninterrupted(scenario, options);

      const resumed = await crashAndResume(scenario, options, 3, 5);

      assert.deepEqual(contents(resumed.table), contents(expected.table));
      assert.deepEqual(lateIds(resumed.folded), lateIds(expected.folded));
    });

    it('re-reading a record whose late metric was merged before the crash does not also put it in late', async () => {
      const expected = uninterrupted(scenario, options);
      assert.deepEqual([...lateIds(expected.folded)], ['20:1'], 'precondition: only T0+20 is too late');

      const resumed = await crashAndResume(scenario, options, 3, 3);

      assert.deepEqual([...lateIds(resumed.folded)], ['20:1']);
    });

    it('property: for any crash point and any older checkpoint, the resumed tables (VM counts too) and late ledger equal the uninterrupted run', async () => {
      await fc.assert(fc.asyncProperty(recordsArb(), fc.nat(), fc.nat(), fc.record({
        outOfOrderSeconds: fc.integer({ min: 0, max: 120 }),
        idleCloseSeconds: fc.integer({ min: 1, max: 10 }),
        allowedLatenessSeconds: fc.integer({ min: 0, max: 600 }),
        maxFutureSeconds: fc.constant(Infinity),
      }), async (recs, a, b, opts) => {
        const checkpointAt = a % recs.length;
        const crashAt = checkpointAt + (b % (recs.length - checkpointAt));
        const expected = uninterrupted(recs, opts);

        const resumed = await crashAndResume(recs, opts, checkpointAt, crashAt);

        assert.deepEqual(contents(resumed.table), contents(expected.table));
        assert.deepEqual(lateIds(resumed.folded), lateIds(expected.folded));
      }), { numRuns: 300 });
    });
  });

  describe('properties', () => {
    it('with lateness large enough, the latest revision of every window equals the batch computation', () => {
      fc.assert(fc.property(recordsArb(), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 10 }), (recs, outOfOrderSeconds, idleCloseSeconds) => {
        const folder = newFolder({ outOfOrderSeconds, idleCloseSeconds, allowedLatenessSeconds: 10 * 24 * 3600 });

        const folded = feed(folder, recs);
        folded.windows.push(...folder.closeAll());

        assert.deepEqual(folded.late, []);
        assert.deepEqual(sorted(latestAggregates(folded.windows)), sorted(batchWindows(recs.flatMap((r) => r.metrics))));
        for (const [id, revisions] of revisionsById(folded.windows)) {
          assert.deepEqual(revisions, revisions.map((_, i) => i + 1), `revisions of ${id} are 1, 2, 3… in order`);
        }
        assert.ok(folded.windows.every((w) => w.avg === w.sum / w.count));
      }), { numRuns: 400 });
    });

    it('with small lateness, every metric is counted in exactly one final window per grouping or is late exactly once', () => {
      fc.assert(fc.property(recordsArb(), fc.integer({ min: 0, max: 120 }), fc.integer({ min: 0, max: 300 }), (recs, outOfOrderSeconds, allowedLatenessSeconds) => {
        const folder = newFolder({ outOfOrderSeconds, allowedLatenessSeconds });

        const folded = feed(folder, recs);
        folded.windows.push(...folder.closeAll());

        const lateKeys = folded.late.map((l) => `${l.position}:${l.index}`);
        assert.equal(new Set(lateKeys).size, lateKeys.length, 'no metric is late twice');
        assert.deepEqual(lateKeys.sort(), referenceLate(recs, outOfOrderSeconds, allowedLatenessSeconds).sort());
        const counted = recs.flatMap((r) => r.metrics.filter((_, i) => !lateKeys.includes(`${r.position}:${i}`)));
        assert.deepEqual(sorted(latestAggregates(folded.windows)), sorted(batchWindows(counted)));
        for (const l of folded.late) {
          const m = recs.find((r) => r.position === l.position)?.metrics[l.index];
          assert.deepEqual([l.key, l.tenant, l.vm, l.t, l.value], [m?.key, m?.tenant, m?.vm, m?.t, m?.value]);
        }
      }), { numRuns: 400 });
    });
  });
});

/**
 * Late metrics by the rule of DESIGN.md §2, computed without the folder: a record is judged against
 * the watermark before it (largest earlier event time minus the tolerance), and a metric is too late
 * when its window's end is at or behind watermark - allowed lateness.
 */
function referenceLate(recs: readonly TestRecord[], outOfOrderSeconds: number, allowedLatenessSeconds: number): string[] {
  const out: string[] = [];
  let maxT = -Infinity;
  for (const r of recs) {
    const watermark = maxT - outOfOrderSeconds;
    r.metrics.forEach((m, i) => {
      const end = Math.floor(m.t / 60) * 60 + 60;
      if (end <= watermark - allowedLatenessSeconds) out.push(`${r.position}:${i}`);
    });
    for (const m of r.metrics) maxT = Math.max(maxT, m.t);
  }
  return out;
}

/**
 * Records of metrics from a few keys, tenants and VMs over about an hour, in a realistic
 * out-of-order arrival (each metric delayed by up to 10 minutes) or a fully random one, split
 * into records of random sizes appended a random 0-8 s apart (so idle closes happen too).
 */
function recordsArb(): fc.Arbitrary<TestRecord[]> {
  const metricArb = fc.record({
    tenths: fc.integer({ min: 0, max: 36_000 }),
    key: fc.constantFrom('win_cpu.percent', 'win_disk.percent_idle_time', 'win_service.WinDefend'),
    tenant: fc.constantFrom(TENANT_A, TENANT_B),
    vm: fc.constantFrom(VM_1, VM_2),
    value: fc.integer({ min: -1000, max: 1000 }),
    delaySeconds: fc.integer({ min: 0, max: 600 }),
    startsRecord: fc.boolean(),
    gapMs: fc.integer({ min: 0, max: 8000 }),
  });
  return fc.tuple(fc.array(metricArb, { minLength: 1, maxLength: 60 }), fc.boolean()).map(([items, shuffled]) => {
    const arrival = shuffled ? items : [...items].sort((x, y) => x.tenths / 10 + x.delaySeconds - (y.tenths / 10 + y.delaySeconds));
    const batches: { metrics: Metric[]; gapMs: number }[] = [];
    for (const it of arrival) {
      const m: Metric = { t: T0 + it.tenths / 10, tenant: it.tenant, vm: it.vm, key: it.key, value: it.value };
      if (batches.length === 0 || it.startsRecord) batches.push({ metrics: [m], gapMs: it.gapMs });
      else batches[batches.length - 1].metrics.push(m);
    }
    let at = 1_000_000;
    return batches.map((b, i) => {
      at += b.gapMs;
      return { position: i * 10, next: i * 10 + 10, appendedAtMs: at, metrics: b.metrics };
    });
  });
}
