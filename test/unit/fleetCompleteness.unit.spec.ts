import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WindowFolder, type WindowOptions } from '../../projections/WindowFolder';
import { MinuteBlocks, decodeBlock, mergeBlocks, type MinuteWindow } from '../../projections/minuteBlocks';
import type { StoredBlock } from '../../src/core/ports';
import type { WindowEvent } from '../../src/core/windowMath';
import { feed, sorted, type TestRecord } from '../support/metricBuilders';
import { bucketWindows } from '../../projections/minuteQueries';
import { fleetRecordsArb, lateByRule, T0 } from '../support/fleetRecords';
import { contents, crashAndResume, lateIds, uninterrupted } from '../support/foldRestart';

const OPTIONS: WindowOptions = { outOfOrderSeconds: 60, idleCloseSeconds: 5, allowedLatenessSeconds: 10 * 24 * 3600, maxFutureSeconds: Infinity };

/**
 * The reference, straight from DESIGN §8 and computed without the fold: per key and window
 * start, the distinct (tenant, VM) pairs with a metric in the window, and those with one in the
 * hour before it ([W − 3600, W)); only windows that have a metric, or VMs expected.
 */
function reference(recs: readonly TestRecord[], skip: ReadonlySet<string> = new Set()): Map<string, [vms: number, expected: number]> {
  const pairs = new Map<string, Set<string>>(); // key@minute → pairs
  for (const r of recs) {
    r.metrics.forEach((m, i) => {
      if (skip.has(`${r.position}:${i}`)) return;
      const id = `${m.key}@${Math.floor(m.t / 60) * 60}`;
      if (!pairs.has(id)) pairs.set(id, new Set());
      pairs.get(id)!.add(`${m.tenant}\u0000${m.vm}`);
    });
  }
  const windows = new Set<string>();
  for (const id of pairs.keys()) {
    const [key, minute] = [id.slice(0, id.lastIndexOf('@')), Number(id.slice(id.lastIndexOf('@') + 1))];
    for (let w = minute; w <= minute + 3600; w += 60) windows.add(`${key}@${w}`);
  }
  const out = new Map<string, [number, number]>();
  for (const id of windows) {
    const [key, w] = [id.slice(0, id.lastIndexOf('@')), Number(id.slice(id.lastIndexOf('@') + 1))];
    const expected = new Set<string>();
    for (let m = w - 3600; m < w; m += 60) for (const p of pairs.get(`${key}@${m}`) ?? []) expected.add(p);
    const vms = pairs.get(id)?.size ?? 0;
    if (vms > 0 || expected.size > 0) out.set(id, [vms, expected.size]);
  }
  return out;
}

/** The last revision of every cross-tenant window emitted: its VM counts, by `key@windowStart`. */
function lastCounts(windows: readonly WindowEvent[]): Map<string, [number, number]> {
  const latest = new Map<string, WindowEvent>();
  for (const w of windows) {
    if (w.tenant !== undefined) continue;
    const id = `${w.key}@${w.windowStart}`;
    if (!(latest.get(id)!?.revision >= w.revision)) latest.set(id, w);
  }
  return new Map([...latest].map(([id, w]) => [id, [w.vms!, w.expectedVms!]]));
}

/** The cross-tenant minutes of stored blocks (windows, and minutes with VMs expected only), by `key@windowStart`. */
function storedMinutes(blocks: readonly StoredBlock[]): Map<string, MinuteWindow> {
  const out = new Map<string, MinuteWindow>();
  for (const b of blocks) for (const w of decodeBlock(b, { expectedOnly: true }).get('') ?? []) out.set(`${b.partition[0]}@${w.windowStart}`, w);
  return out;
}

function foldAll(recs: readonly TestRecord[], options: WindowOptions): { windows: WindowEvent[]; late: string[]; blocks: StoredBlock[] } {
  const folder = new WindowFolder(options, new MinuteBlocks('minute', true), new MinuteBlocks('vmMinute', true));
  const folded = feed(folder, recs);
  folded.windows.push(...folder.closeAll());
  return { windows: folded.windows, late: folded.late.map((l) => `${l.position}:${l.index}`), blocks: folder.cross.takeDirty(Number.MAX_SAFE_INTEGER) };
}

describe('completeness of cross-tenant windows (vms, expectedVms)', () => {
  it('counts the VMs of a window and those that reported in the hour before it, not before', () => {
    const at = (minute: number, tenant: string, vm: string, i: number): TestRecord => ({
      position: i * 10, next: i * 10 + 10, appendedAtMs: 1_000_000 + i, metrics: [{ t: T0 + minute * 60 + 7, tenant, vm, key: 'k', value: 1 }],
    });
    // VM a reports at minutes 0 and 70, b at 10, c at 70: window 70 expects a (minute 10? no: 0 is 70 minutes before) and b.
    const recs = [at(0, 't1', 'a', 0), at(10, 't1', 'b', 1), at(70, 't1', 'a', 2), at(70, 't2', 'c', 3)];

    const { windows } = foldAll(recs, OPTIONS);

    const counts = lastCounts(windows);
    assert.deepEqual(counts.get(`k@${T0}`), [1, 0]);
    assert.deepEqual(counts.get(`k@${T0 + 600}`), [1, 1], 'a reported at minute 0, within the hour before minute 10');
    assert.deepEqual(counts.get(`k@${T0 + 4200}`), [2, 1], 'at minute 70 a and c report; only b reported in [10, 70)');
  });

  it('a record of many VMs counts each VM once in each window it newly expects, whatever ranges its VMs bring and in any order', () => {
    // One record: a, b and c report minute 0; a also minute 1 (one window more), b minute 2 after a gap (two more).
    const m = (minute: number, vm: string): TestRecord['metrics'][number] => ({ t: T0 + minute * 60 + 5, tenant: 't', vm, key: 'k', value: 1 });
    const recs: TestRecord[] = [{ position: 0, next: 10, appendedAtMs: 1_000_000, metrics: [m(0, 'a'), m(0, 'b'), m(1, 'a'), m(0, 'c'), m(2, 'b')] }];

    const { blocks } = foldAll(recs, OPTIONS);

    const expected = (minute: number) => storedMinutes(blocks).get(`k@${T0 + minute * 60}`)?.expectedVms ?? 0;
    assert.deepEqual([1, 2, 3, 30, 60].map(expected), [3, 3, 3, 3, 3], 'a, b and c reported at minute 0, within the hour before each');
    assert.equal(expected(61), 2, 'a (minute 1) and b (minute 2) reported in the hour before minute 61');
    assert.equal(expected(62), 1, 'only b (minute 2)');
    assert.equal(expected(63), 0);
  });

  it('a record that fails part way still counts the VMs it noted, and folded again counts none twice', () => {
    // The VMs' blocks refuse one metric (as a store-refused key would fail a record part way).
    class FailingOnce extends MinuteBlocks {
      failed = false;
      override addOpen(...args: Parameters<MinuteBlocks['addOpen']>): boolean {
        if (args[1] === 'boom' && !this.failed) {
          this.failed = true;
          throw new Error('refused');
        }
        return super.addOpen(...args);
      }
    }
    const folder = new WindowFolder(OPTIONS, new MinuteBlocks('minute', true), new FailingOnce('vmMinute', true));
    const m = (vm: string, key: string) => ({ t: T0 + 5, tenant: 't', vm, key, value: 1 });
    const metrics = [m('a', 'k'), m('b', 'k'), m('c', 'boom'), m('c', 'k')];

    assert.throws(() => folder.add(metrics, 0, 10, 1_000_000), /refused/);
    folder.add(metrics, 0, 10, 1_000_000); // the record folded again (a careful pass)
    folder.closeAll();

    const minutes = storedMinutes(folder.cross.takeDirty(Number.MAX_SAFE_INTEGER));
    assert.equal(minutes.get(`k@${T0 + 60}`)?.expectedVms, 3, 'a, b (noted before the failure) and c');
    assert.equal(minutes.get(`boom@${T0 + 60}`)?.expectedVms, 1);
    assert.equal(minutes.get(`k@${T0}`)?.vms, 3);
  });

  it('a VM whose first metric arrives late raises the expected VMs of the closed windows after it: each is revised', () => {
    const folder = new WindowFolder({ ...OPTIONS, allowedLatenessSeconds: 1800 }, new MinuteBlocks('minute', true), new MinuteBlocks('vmMinute', true));
    const minute = (m: number, vm: string) => ({ t: T0 + m * 60 + 1, tenant: 't', vm, key: 'k', value: m });
    const before = [
      ...folder.add([0, 1, 2, 3, 4, 5].map((m) => minute(m, 'a')), 0, 10, 1_000_000).windows,
      ...folder.add([minute(10, 'a')], 10, 20, 1_000_100).windows,
    ];

    const step = folder.add([minute(2, 'late')], 20, 30, 1_000_200);

    assert.deepEqual(before.filter((w) => w.tenant === undefined).map((w) => [w.windowStart - T0, w.expectedVms]), [[0, 0], [60, 1], [120, 1], [180, 1], [240, 1], [300, 1]]);
    const cross = step.windows.filter((w) => w.tenant === undefined).map((w) => [(w.windowStart - T0) / 60, w.count, w.vms ?? NaN, w.expectedVms ?? NaN, w.revision]);
    assert.deepEqual(cross.sort((x, y) => x[0] - y[0]), [[2, 2, 2, 1, 2], [3, 1, 1, 2, 2], [4, 1, 1, 2, 2], [5, 1, 1, 2, 2]]);
  });

  it('property: for any arrival order within the allowed lateness, each window\'s last revision and stored block count exactly the reference', () => {
    fc.assert(fc.property(fleetRecordsArb(), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 10 }), (recs, outOfOrderSeconds, idleCloseSeconds) => {
      const { windows, late, blocks } = foldAll(recs, { ...OPTIONS, outOfOrderSeconds, idleCloseSeconds });

      assert.deepEqual(late, []);
      const ref = reference(recs);
      const withData = new Map([...ref].filter(([, [vms]]) => vms > 0));
      assert.deepEqual(sorted(lastCounts(windows)), sorted(withData));
      const stored = storedMinutes(blocks);
      assert.deepEqual(sorted(new Map([...stored].map(([id, w]) => [id, [w.count > 0 ? w.vms! : 0, w.expectedVms!] as [number, number]]))), sorted(ref));
    }), { numRuns: 150 });
  });

  it('property: with late data beyond a small lateness, the counts are exact over the metrics that were not too late', () => {
    fc.assert(fc.property(fleetRecordsArb(), fc.integer({ min: 0, max: 120 }), fc.integer({ min: 0, max: 1800 }), (recs, outOfOrderSeconds, allowedLatenessSeconds) => {
      const options = { ...OPTIONS, outOfOrderSeconds, allowedLatenessSeconds };
      const { windows, late } = foldAll(recs, options);

      const tooLate = lateByRule(recs, outOfOrderSeconds, allowedLatenessSeconds);
      assert.deepEqual(new Set(late), tooLate);
      const withData = new Map([...reference(recs, tooLate)].filter(([, [vms]]) => vms > 0));
      assert.deepEqual(sorted(lastCounts(windows)), sorted(withData));
    }), { numRuns: 150 });
  });

  it('property: the shares of tenants folded apart (Event Hubs partitions), merged, equal the fold of all at once', () => {
    fc.assert(fc.property(fleetRecordsArb(), fc.integer({ min: 2, max: 3 }), (recs, scopes) => {
      const tenants = [...new Set(recs.flatMap((r) => r.metrics.map((m) => m.tenant)))].sort();
      const scopeOf = (tenant: string) => tenants.indexOf(tenant) % scopes;
      const shares = Array.from({ length: scopes }, (_, s) => foldAll(recs.map((r) => ({ ...r, metrics: r.metrics.filter((m) => scopeOf(m.tenant) === s) })).filter((r) => r.metrics.length > 0), OPTIONS).blocks);
      const whole = foldAll(recs, OPTIONS).blocks;

      const byBlock = new Map<string, StoredBlock[]>();
      for (const b of shares.flat()) byBlock.set(`${b.partition[0]}@${b.row}`, [...(byBlock.get(`${b.partition[0]}@${b.row}`) ?? []), b]);
      const merged = storedMinutes([...byBlock.values()].map(mergeBlocks));
      const all = storedMinutes(whole);
      const summary = (m: Map<string, MinuteWindow>) => sorted(new Map([...m].map(([id, w]) => [id, [w.count, w.sum, w.min, w.max, w.vms, w.expectedVms, w.sketch && Buffer.from(w.sketch).toString('hex')]])));
      assert.deepEqual(summary(merged), summary(all));
    }), { numRuns: 100 });
  });
});

describe('completeness after a crash', () => {
  it('property: for any crash point and any older checkpoint, the resumed tables count the VMs as the uninterrupted run', async () => {
    await fc.assert(fc.asyncProperty(fleetRecordsArb(), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 2400 }), async (recs, a, b, allowedLatenessSeconds) => {
      const options = { ...OPTIONS, allowedLatenessSeconds };
      const checkpointAt = a % recs.length;
      const crashAt = checkpointAt + (b % (recs.length - checkpointAt));
      const expected = uninterrupted(recs, options);

      const resumed = await crashAndResume(recs, options, checkpointAt, crashAt);

      assert.deepEqual(contents(resumed.table), contents(expected.table));
      assert.deepEqual(lateIds(resumed.folded), lateIds(expected.folded));
    }), { numRuns: 100 });
  });
});

describe('get-data buckets of cross-tenant windows', () => {
  const w = (minute: number, vms?: number, expectedVms?: number): MinuteWindow => ({
    windowStart: T0 + minute * 60, count: 1, sum: 1, min: 1, max: 1, revision: 1, ...(vms === undefined ? {} : { vms, expectedVms }),
  });

  it('carry the largest vms and expectedVms of their windows (0 included), null when none of them has counts', () => {
    const buckets = bucketWindows([w(0, 3, 0), w(1, 5, 0), w(2, 1, 4), w(5), w(6, 0, 0)], 5, 'avg', { fleet: true });

    assert.deepEqual(buckets.map((b) => [b.timestamp - T0, b.vms, b.expectedVms]), [[0, 5, 4], [300, 0, 0]]);
    assert.deepEqual(bucketWindows([w(5)], 5, 'avg', { fleet: true }).map((b) => [b.vms, b.expectedVms]), [[null, null]]);
    assert.equal('vms' in bucketWindows([w(0, 3, 0)], 5, 'avg')[0], false, 'only with fleet (get-tenant-data\'s have none)');
  });
});
