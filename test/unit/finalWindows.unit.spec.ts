import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WindowFolder, type WindowOptions } from '../../projections/WindowFolder';
import { MinuteBlocks } from '../../projections/minuteBlocks';
import { withFinal } from '../../projections/finalBuckets';
import type { Metric } from '../../src/core/metric';
import type { FinalMinute, WindowEvent } from '../../src/core/windowMath';
import { TENANT_A, TENANT_B, VM_1, VM_2, metric, records, windowId, type TestRecord } from '../support/metricBuilders';
import { encodeEvent } from '../../src/core/logCodec';
import type { LogRecord, TableStore } from '../../src/core/ports';
import { finalEventId } from '../../src/core/windowStream';
import { decodeChunk } from '../../projections/windowEventHistory';
import { windowsProjection } from '../../projections/windowsProjection';
import { metaTable } from '../../projections/projectionCatalog';
import { TableWindowHistory } from '../../src/adapters/windowHistory/TableWindowHistory';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { Projector } from '../../streams/Projector';
import { WindowEventFeed } from '../../streams/WindowEventFeed';
import { failingBlockWrites } from '../support/failingBlockWrites';
import { MemoryEventLog } from '../support/memoryEventLog';
import { MemoryTableStore } from '../support/memoryTableStore';

/** 2022-03-30T11:00:00Z: a UTC minute start (and a 15-minute slot start). */
const T0 = 1648638000;
const DEFAULTS: WindowOptions = { outOfOrderSeconds: 60, idleCloseSeconds: 5, allowedLatenessSeconds: 300, maxFutureSeconds: Infinity };

function newFolder(options: Partial<WindowOptions> = {}): WindowFolder {
  return new WindowFolder({ ...DEFAULTS, ...options }, new MinuteBlocks('minute', true), new MinuteBlocks('vmMinute', true));
}

/** What one record made: revisions and the final minutes told while it was folded. */
interface Step {
  revisions: WindowEvent[];
  finals: FinalMinute[];
}

/** Feeds records as the projector does (an idle tick at the record's time, then the record), noting what each made. */
function fold(folder: WindowFolder, recs: readonly TestRecord[]): Step[] {
  let finals: FinalMinute[] = [];
  folder.onFinal = (minute) => finals.push(minute);
  return recs.map((r) => {
    finals = [];
    const revisions = [...folder.tick(r.appendedAtMs), ...folder.add(r.metrics, r.position, r.next, r.appendedAtMs).windows];
    return { revisions, finals };
  });
}

/** A final window as compared: the record that made it final, its id and its values. */
type FinalRow = [record: number, id: string, count: number, sum: number, min: number, max: number];

/**
 * The final windows by the rule of DESIGN.md §2 and §8, computed without the folder: a record is
 * judged against the watermark before it (a metric whose window ended by watermark − lateness is
 * late); after it, each window with data that ends by the new watermark − lateness is final, with
 * the aggregate of its metrics that were not late. Ordered as they must be told: by record, by
 * window start, cross-tenant windows by key, then per-VM windows by tenant, VM and key.
 */
function referenceFinals(recs: readonly TestRecord[], outOfOrderSeconds: number, allowedLatenessSeconds: number): FinalRow[] {
  const windows = new Map<string, { ws: number; order: string[]; count: number; sum: number; min: number; max: number; final: boolean }>();
  const add = (id: string, ws: number, order: string[], v: number) => {
    const w = windows.get(id) ?? { ws, order, count: 0, sum: 0, min: Infinity, max: -Infinity, final: false };
    windows.set(id, w);
    assert.equal(w.final, false, `the reference merged a metric into ${id} after it was final`);
    w.count++;
    w.sum += v;
    w.min = Math.min(w.min, v);
    w.max = Math.max(w.max, v);
  };
  const out: FinalRow[] = [];
  let maxT = -Infinity;
  recs.forEach((r, i) => {
    const before = maxT - outOfOrderSeconds - allowedLatenessSeconds;
    for (const m of r.metrics) {
      const ws = Math.floor(m.t / 60) * 60;
      if (ws + 60 <= before) continue; // late
      add(windowId({ key: m.key, windowStart: ws }), ws, ['0', m.key], m.value);
      add(windowId({ key: m.key, tenant: m.tenant, vm: m.vm, windowStart: ws }), ws, ['1', m.tenant, m.vm, m.key], m.value);
    }
    for (const m of r.metrics) maxT = Math.max(maxT, m.t);
    const bound = maxT - outOfOrderSeconds - allowedLatenessSeconds;
    const now = [...windows].filter(([, w]) => !w.final && w.ws + 60 <= bound);
    now.sort(([, a], [, b]) => a.ws - b.ws || compareLists(a.order, b.order));
    for (const [id, w] of now) {
      w.final = true;
      out.push([i, id, w.count, w.sum, w.min, w.max]);
    }
  });
  return out;
}

function compareLists(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return a.length - b.length;
}

/** What the folder told, as FinalRows, checking on the way what each notice must be. */
function toldRows(steps: readonly Step[]): FinalRow[] {
  const rows: FinalRow[] = [];
  steps.forEach(({ finals }, i) => {
    for (const minute of finals) {
      for (const w of minute.windows) {
        assert.equal(w.windowStart, minute.windowStart);
        assert.equal(w.final, true);
        assert.equal(w.avg, w.sum / w.count);
        rows.push([i, windowId(w), w.count, w.sum, w.min, w.max]);
      }
    }
  });
  return rows;
}

describe('final windows', () => {
  describe('when a window becomes final', () => {
    it('a window closed by the watermark is final only once the watermark has passed its end plus the allowed lateness, with its last values', () => {
      const folder = newFolder({ outOfOrderSeconds: 0, allowedLatenessSeconds: 120 });
      const steps = fold(folder, records([
        [metric({ t: T0 + 10, value: 4 })],
        [metric({ t: T0 + 70, value: 1 })], // the watermark passes T0 + 60: the window of T0 closes (revision 1)
        [metric({ t: T0 + 30, value: 8 }), metric({ t: T0 + 170, value: 1 })], // late, within the lateness: revision 2
        [metric({ t: T0 + 179, value: 1 })], // watermark T0 + 179: T0 + 60 + 120 not passed yet
        [metric({ t: T0 + 180, value: 1 })], // passed: final
      ]));

      assert.deepEqual(steps.map((s) => s.finals.length), [0, 0, 0, 0, 1]);
      const [minute] = steps[4].finals;
      assert.equal(minute.windowStart, T0);
      assert.deepEqual(minute.windows.map((w) => [w.tenant ?? 'cross', w.count, w.sum, w.min, w.max, w.revision, w.final]), [
        ['cross', 2, 12, 4, 8, 2, true],
        [TENANT_A, 2, 12, 4, 8, 2, true],
      ]);
      assert.equal(folder.finalThrough, T0 + 60);
    });

    it('with no allowed lateness, a window is final in the same step it closes: revision 1, then its final notice', () => {
      const steps = fold(newFolder({ outOfOrderSeconds: 0, allowedLatenessSeconds: 0 }), records([[metric({ t: T0 + 1, value: 3 })], [metric({ t: T0 + 60, value: 5 })]]));

      assert.deepEqual(steps[1].revisions.map((w) => [w.windowStart, w.revision, w.final]), [[T0, 1, undefined], [T0, 1, undefined]]);
      assert.deepEqual(steps[1].finals.map((m) => m.windows.map((w) => [w.windowStart, w.revision, w.final])), [[[T0, 1, true], [T0, 1, true]]]);
    });

    it('a window closed by idle time long before is told final with the values of its last revision', () => {
      const folder = newFolder({ outOfOrderSeconds: 0, idleCloseSeconds: 5, allowedLatenessSeconds: 60 });
      const steps = fold(folder, [
        { position: 0, next: 10, appendedAtMs: 1_000_000, metrics: [metric({ t: T0 + 5, value: 2 })] },
        // A minute later: the window closed by idle before this record, which revises it.
        { position: 10, next: 20, appendedAtMs: 1_060_000, metrics: [metric({ t: T0 + 20, value: 6, vm: VM_2 })] },
        { position: 20, next: 30, appendedAtMs: 1_061_000, metrics: [metric({ t: T0 + 121, value: 1 })] },
      ]);

      const revisions = steps.flatMap((s) => s.revisions).filter((w) => w.windowStart === T0 && w.tenant === undefined);
      assert.deepEqual(revisions.map((w) => [w.revision, w.count]), [[1, 1], [2, 2]], 'closed by idle, then revised');
      const final = steps.flatMap((s) => s.finals).flatMap((m) => m.windows).filter((w) => w.tenant === undefined);
      assert.deepEqual(final.map((w) => [w.windowStart, w.count, w.sum, w.revision]), [[T0, 2, 8, 2]]);
    });

    it('tells the windows of one start together, cross-tenant by key then per VM by tenant, VM and key; starts oldest first', () => {
      const steps = fold(newFolder({ outOfOrderSeconds: 0, allowedLatenessSeconds: 0 }), records([[
        metric({ t: T0 + 1, key: 'b.k', tenant: TENANT_B, vm: VM_1 }),
        metric({ t: T0 + 2, key: 'a.k', tenant: TENANT_B, vm: VM_1 }),
        metric({ t: T0 + 3, key: 'b.k', tenant: TENANT_A, vm: VM_2 }),
      ], [metric({ t: T0 + 200 }), metric({ t: T0 + 61, key: 'b.k', tenant: TENANT_B, vm: VM_2 })]]));

      assert.deepEqual(steps[1].finals.map((m) => [m.windowStart, m.windows.map((w) => [w.key, w.tenant, w.vm])]), [
        // Strings by UTF-16 code units: TENANT_B ("Zk9…") before TENANT_A ("wYA…").
        [T0, [['a.k', undefined, undefined], ['b.k', undefined, undefined], ['a.k', TENANT_B, VM_1], ['b.k', TENANT_B, VM_1], ['b.k', TENANT_A, VM_2]]],
        [T0 + 60, [['b.k', undefined, undefined], ['b.k', TENANT_B, VM_2]]],
      ]);
    });

    it('a metric for a final window goes to the late ledger; no revision follows its final notice', () => {
      const folder = newFolder({ outOfOrderSeconds: 0, allowedLatenessSeconds: 30 });
      const steps = fold(folder, records([[metric({ t: T0 + 1 })], [metric({ t: T0 + 90 })], [metric({ t: T0 + 2, value: 99 })]]));

      assert.equal(steps[1].finals.length, 1);
      assert.deepEqual(steps[2].revisions.filter((w) => w.windowStart === T0), []);
      assert.equal(folder.add([metric({ t: T0 + 3 })], 40, 50, 1_010_000).late.length, 1);
    });
  });

  describe('properties', () => {
    it('for any arrival order, tolerance and lateness: each window is told final once, when the watermark passes its end plus the lateness, with the values of its metrics that were not late', () => {
      fc.assert(fc.property(recordsArb(), fc.integer({ min: 0, max: 120 }), fc.integer({ min: 0, max: 600 }), fc.integer({ min: 1, max: 10 }), (recs, outOfOrderSeconds, allowedLatenessSeconds, idleCloseSeconds) => {
        const steps = fold(newFolder({ outOfOrderSeconds, allowedLatenessSeconds, idleCloseSeconds }), recs);

        assert.deepEqual(toldRows(steps), referenceFinals(recs, outOfOrderSeconds, allowedLatenessSeconds));
        // Told final: no revision of it later, and it repeats the last revision's number.
        const told = new Map<string, { at: number; revision: number }>();
        steps.forEach(({ revisions, finals }, i) => {
          for (const w of revisions) assert.ok(!told.has(windowId(w)), `${windowId(w)} revised after it was told final`);
          for (const w of finals.flatMap((m) => m.windows)) told.set(windowId(w), { at: i, revision: w.revision });
        });
        const lastRevision = new Map<string, number>();
        for (const w of steps.flatMap((s) => s.revisions)) lastRevision.set(windowId(w), w.revision);
        for (const [id, { revision }] of told) assert.equal(revision, lastRevision.get(id), id);
      }), { numRuns: 400 });
    });

    it('a bucket is final exactly when every minute of it in the range ends by the final bound', () => {
      fc.assert(fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: -3000, max: 30_000 }), (bucket, interval, endMinute, bound) => {
        const timestamp = bucket * interval * 60;
        const end = timestamp + (endMinute % interval) * 60;
        const [{ final }] = withFinal([{ timestamp }], { aggregationInterval: interval, end }, bound);
        const minutes = Array.from({ length: interval }, (_, i) => timestamp + i * 60).filter((m) => m <= end);
        assert.equal(final, minutes.every((m) => m + 60 <= bound));
      }), { numRuns: 500 });
    });
  });
});

describe('final windows across a crash and a restart from the checkpoint', () => {
  /** A log of the records (append times as the records say), read one record a batch: the projector flushes after each. */
  async function logOf(recs: readonly TestRecord[]): Promise<MemoryEventLog> {
    let at = 0;
    const log = new MemoryEventLog(() => at);
    for (const r of recs) {
      at = r.appendedAtMs;
      await log.append([encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: 0, metrics: r.metrics, rejected: [] })]);
    }
    log.read = async function* read(from: number): AsyncIterable<LogRecord[]> {
      for (const record of log.records.slice(from)) yield [record];
    };
    return log;
  }

  /** The final-notice feed of version 1 over `store`, as the service opens it after a start. */
  const openFeed = (store: TableStore) => WindowEventFeed.open({
    store: new TableWindowHistory(store, 'final', 1), retentionHours: 24, flushIntervalMs: 3_600_000, now: () => (T0 + 3600) * 1000,
  });

  async function run(log: MemoryEventLog, tables: TableStore, versions: ProjectionVersions, feed: WindowEventFeed, options: WindowOptions): Promise<void> {
    await new Projector({
      projection: windowsProjection, config: { windows: options, finals: feed },
      log, tables, versions, tablePrefix: 't', version: 1, follow: false, flushIntervalMs: 0,
    }).run();
  }

  /** Every final notice the history holds, in id order. */
  async function held(feed: WindowEventFeed): Promise<{ id: number; w: WindowEvent }[]> {
    const out: { id: number; w: WindowEvent }[] = [];
    for await (const chunk of feed.history(0)) for (const e of decodeChunk(chunk.data)) out.push({ id: e.id, w: e.event });
    return out;
  }

  /**
   * Folds the records until the `crashAfter`-th write of a minute block fails (a crash: what the
   * feed had not written yet is lost with it), then starts again from the checkpoint with a new
   * feed over the same history, to the end. The history must then hold each final window once.
   */
  async function crashAndRestart(recs: readonly TestRecord[], options: WindowOptions, crashAfter: number, at: 'blocks' | 'checkpoint' = 'blocks') {
    const store = new MemoryTableStore();
    const meta = await store.rowTable(metaTable('t'));
    const versions = new ProjectionVersions(meta);
    const log = await logOf(recs);
    let writes = 0;
    const failing = failingBlockWrites(store, (table) => (at === 'blocks' && table.includes('Minute') && ++writes > crashAfter ? new Error('crash') : undefined));
    // Or the crash comes as the checkpoint is saved: the blocks and the final windows told are written, the checkpoint not.
    const crashing = at === 'blocks' ? versions : new (class extends ProjectionVersions {
      override async saveCheckpoint(...args: Parameters<ProjectionVersions['saveCheckpoint']>): Promise<void> {
        if (++writes > crashAfter) throw new Error('crash');
        return super.saveCheckpoint(...args);
      }
    })(meta);
    const crashed = await run(log, failing, crashing, await openFeed(store), options).then(() => false, () => true);
    const feed = await openFeed(store);
    const heldAtStart = feed.stats.lastId;
    const delivered: number[] = [];
    feed.listen((entries) => delivered.push(...entries.map((e) => e.id)));
    await run(log, store, versions, feed, options);
    await feed.durable();
    await new Promise((resolve) => setImmediate(resolve)); // live deliveries go out a turn later
    const notices = await held(feed);
    // A live subscriber of the restarted service gets what the history did not hold yet, each once.
    assert.deepEqual(delivered, notices.map(({ id }) => id).filter((id) => id > heldAtStart));
    return { crashed, held: notices };
  }

  function expected(recs: readonly TestRecord[], options: WindowOptions): [id: string, count: number, sum: number, min: number, max: number][] {
    return referenceFinals(recs, options.outOfOrderSeconds, options.allowedLatenessSeconds).map(([, ...rest]) => rest);
  }

  it('a window stored closed before the checkpoint and final after the crash is told once, from the block read back', async () => {
    const options = { ...DEFAULTS, outOfOrderSeconds: 0, allowedLatenessSeconds: 120 };
    const recs = records([[metric({ t: T0 + 1, value: 2 })], [metric({ t: T0 + 70, value: 3, key: 'other.k' })], [metric({ t: T0 + 150, key: 'other.k' })], [metric({ t: T0 + 200, key: 'other.k' })]]);

    // Three records flushed, both blocks of each (the window of T0 closed and stored), then the fourth record's flush fails.
    const { crashed, held: notices } = await crashAndRestart(recs, options, 6);

    assert.equal(crashed, true);
    assert.deepEqual(notices.map(({ id, w }) => [id, windowId(w), w.count, w.sum]), [
      [finalEventId(T0, 0), windowId({ key: 'win_cpu.percent', windowStart: T0 }), 1, 2],
      [finalEventId(T0, 1), windowId({ key: 'win_cpu.percent', tenant: TENANT_A, vm: VM_1, windowStart: T0 }), 1, 2],
    ]);
  });

  it('final windows told and kept, but the checkpoint not saved: told again after the restart, kept once', async () => {
    const options = { ...DEFAULTS, outOfOrderSeconds: 0, allowedLatenessSeconds: 0 };
    const recs = records([[metric({ t: T0 + 1, value: 2 })], [metric({ t: T0 + 70, value: 3 })], [metric({ t: T0 + 200, value: 4 })]]);

    // The first checkpoint is saved; the second (after the window of T0 was told final and kept) is not.
    const { crashed, held: notices } = await crashAndRestart(recs, options, 1, 'checkpoint');

    assert.equal(crashed, true);
    assert.deepEqual(notices.map(({ id, w }) => [id, w.windowStart, w.tenant ?? 'cross']), [
      [finalEventId(T0, 0), T0, 'cross'], [finalEventId(T0, 1), T0, TENANT_A], [finalEventId(T0 + 60, 0), T0 + 60, 'cross'], [finalEventId(T0 + 60, 1), T0 + 60, TENANT_A],
    ]);
  });

  it('property: for any records and crash point, the history holds every final window once, with its last values, ids in order', async () => {
    await fc.assert(fc.asyncProperty(recordsArb(), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 300 }), fc.nat(), fc.constantFrom('blocks', 'checkpoint' as const), async (recs, outOfOrderSeconds, allowedLatenessSeconds, crash, at) => {
      const options = { ...DEFAULTS, outOfOrderSeconds, allowedLatenessSeconds };
      const { held: notices } = await crashAndRestart(recs, options, crash % (2 * recs.length + 2), at);

      assert.deepEqual(notices.map(({ w }) => [windowId(w), w.count, w.sum, w.min, w.max]), expected(recs, options));
      notices.forEach(({ id, w }, i) => {
        assert.equal(w.final, true);
        if (i > 0) assert.ok(id > notices[i - 1].id, 'ids increase');
        assert.ok(id >= finalEventId(w.windowStart, 0) && id < finalEventId(w.windowStart + 60, 0), 'the id is of its window start');
      });
    }), { numRuns: 60 });
  });
});

/**
 * Records of metrics from a few keys, tenants and VMs over about twenty minutes, arriving in time
 * order with delays of up to five minutes (as SPOC batches do) or in any order, in records of
 * random sizes appended a random 0-8 s apart (so idle closes happen too).
 */
function recordsArb(): fc.Arbitrary<TestRecord[]> {
  const metricArb = fc.record({
    tenths: fc.integer({ min: 0, max: 12_000 }),
    key: fc.constantFrom('win_cpu.percent', 'win_disk.percent_idle_time'),
    tenant: fc.constantFrom(TENANT_A, TENANT_B),
    vm: fc.constantFrom(VM_1, VM_2),
    value: fc.integer({ min: -1000, max: 1000 }),
    delaySeconds: fc.integer({ min: 0, max: 300 }),
    startsRecord: fc.boolean(),
    gapMs: fc.integer({ min: 0, max: 8000 }),
  });
  return fc.tuple(fc.array(metricArb, { minLength: 1, maxLength: 80 }), fc.boolean()).map(([items, shuffled]) => {
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
