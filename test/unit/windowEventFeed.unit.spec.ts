import { after, describe, it } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Subject, take, toArray, firstValueFrom } from 'rxjs';
import type { WindowEvent } from '../../src/core/windowMath';
import type { EventLog, LogRecord, WindowHistoryStore } from '../../src/core/ports';
import { FileWindowHistory } from '../../src/adapters/windowHistory/FileWindowHistory';
import { TableWindowHistory } from '../../src/adapters/windowHistory/TableWindowHistory';
import type { FeedEntry, WindowFilter } from '../../src/core/windowStream';
import { WindowEventFeed } from '../../streams/WindowEventFeed';
import { windowEvents } from '../../streams/windowEvents';
import { withRecordClock } from '../../streams/withRecordClock';
import { decodeChunk } from '../../projections/windowEventHistory';
import { MemoryTableStore } from '../support/memoryTableStore';
import { TENANT_A, TENANT_B, VM_1, VM_2 } from '../support/metricBuilders';

const HOUR_MS = 3_600_000;
const START_MS = 1_700_002_800_000; // an hour boundary

function window(i: number, fields: Partial<WindowEvent> = {}): WindowEvent {
  return { key: 'win_cpu.percent', windowStart: 1_700_000_000 + i * 60, count: 1, sum: i, min: i, max: i, avg: i, revision: 1, ...fields };
}

interface Rig {
  feed: WindowEventFeed;
  windows$: Subject<WindowEvent>;
  place: HistoryPlace;
  clock: { ms: number };
}

/** Where a feed keeps its history: files in a directory, or tables of a store. A feed closes the store it was given, so each open is a new one on the same place. */
interface HistoryPlace {
  open(): Promise<WindowHistoryStore>;
}

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function newPlace(kind: 'file' | 'table'): HistoryPlace {
  if (kind === 'table') {
    const tables = new MemoryTableStore();
    return { open: async () => new TableWindowHistory(tables, 'test', 1) };
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opsfold-history-'));
  dirs.push(dir);
  return { open: () => FileWindowHistory.open(dir) };
}

async function rig(kind: 'file' | 'table', options: { place?: HistoryPlace; clockMs?: number; retentionHours?: number; maxUnwritten?: number } = {}): Promise<Rig> {
  const windows$ = new Subject<WindowEvent>();
  const place = options.place ?? newPlace(kind);
  const clock = { ms: options.clockMs ?? START_MS };
  const feed = await WindowEventFeed.open({
    windows$, store: await place.open(), retentionHours: options.retentionHours ?? 24,
    flushIntervalMs: 1_000_000_000, clock: () => clock.ms, now: () => clock.ms, maxUnwritten: options.maxUnwritten,
  });
  return { feed, windows$, place, clock };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** Waits (reads of a file history go through the thread pool) until `done`, for 5 s at most. */
async function until(done: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 5000; !done() && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 2));
}

/** The events history(after) gives: its chunks decoded, less the ids up to `after` the first may hold. */
async function collect(feed: WindowEventFeed, after: number): Promise<FeedEntry[]> {
  const out: FeedEntry[] = [];
  for await (const chunk of feed.history(after)) out.push(...decodeChunk(chunk.data).filter((e) => e.id > after));
  return out;
}

for (const kind of ['file', 'table'] as const) describe(`WindowEventFeed (history in ${kind}s)`, () => {
  it('gives each event an id from its processing time in µs, counting on within a millisecond', async () => {
    const { feed, windows$, clock } = await rig(kind);
    windows$.next(window(1));
    windows$.next(window(2));
    clock.ms += 5;
    windows$.next(window(3));
    const ids = (await collect(feed, 0)).map((e) => e.window.id);
    assert.deepEqual(ids, [START_MS * 1000, START_MS * 1000 + 1, (START_MS + 5) * 1000]);
    await feed.close();
  });

  it('after a reopen, ids go on above the last written one even when the clock stepped back', async () => {
    const first = await rig(kind);
    for (let i = 0; i < 3; i++) first.windows$.next(window(i));
    await first.feed.close();
    const lastBefore = first.feed.stats.lastId;

    const second = await rig(kind, { place: first.place, clockMs: START_MS - 60_000 });
    second.windows$.next(window(9));
    const ids = (await collect(second.feed, 0)).map((e) => e.window.id);
    assert.equal(ids.length, 4);
    assert.equal(ids[3], lastBefore + 1);
    await second.feed.close();
  });

  it('told windows as fields (a rebuild\'s recorder), keeps and delivers what windows$ would have', async () => {
    const events = [window(1), window(2, { tenant: TENANT_A, vm: VM_1 }), window(3, { count: 3, sum: 9, min: 1, max: 5, avg: 3, revision: 2 })];
    const viaSubject = await rig(kind);
    const viaRecorder = await rig(kind);
    const live: FeedEntry[] = [];
    const stop = viaRecorder.feed.listen((batch) => live.push(...batch));
    for (const w of events) {
      viaSubject.windows$.next(w);
      viaRecorder.feed.record(w.key, w.tenant, w.vm, w.windowStart, w.count, w.sum, w.min, w.max, w.revision);
    }
    await viaRecorder.feed.flush();
    await until(() => live.length === events.length);
    stop();

    const expected = (await collect(viaSubject.feed, 0)).map((e) => e.json);
    assert.deepEqual((await collect(viaRecorder.feed, 0)).map((e) => e.json), expected);
    assert.deepEqual(live.map((e) => e.json), expected);
    assert.deepEqual(live.map((e) => e.event), events);
    await viaSubject.feed.close();
    await viaRecorder.feed.close();
  });

  it('a producer that awaits keepUp (a rebuild) loses no event however many it emits', async () => {
    const { feed, windows$, place } = await rig(kind, { maxUnwritten: 10 });
    for (let i = 0; i < 200; i++) {
      windows$.next(window(i));
      if (i % 4 === 3) await feed.keepUp(4);
    }
    await feed.close();

    assert.equal(feed.stats.undurable, 0);
    const reopened = await rig(kind, { place }); // read back from the store alone
    assert.deepEqual((await collect(reopened.feed, 0)).map((e) => e.window.sum), Array.from({ length: 200 }, (_, i) => i));
    await reopened.feed.close();
  });

  it('without anyone writing, keeps the newest maxUnwritten events and counts the older ones as not durable', async () => {
    const { feed, windows$ } = await rig(kind, { maxUnwritten: 16 });
    for (let i = 0; i < 100; i++) windows$.next(window(i));

    const kept = (await collect(feed, 0)).map((e) => e.window.sum);

    assert.ok(kept.length >= 16 && kept.length <= 18, `kept ${kept.length}`);
    assert.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => 100 - kept.length + i), 'the newest, in order');
    assert.equal(feed.stats.undurable, 100 - kept.length);
    await feed.close();
  });

  it('history(after) is exactly the events after the id, in order, from durable chunks and memory alike', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 40 * 60_000 }), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 0, max: 4500 }),
      fc.nat(),
      fc.boolean(),
      async (gapsMs, burst, pick, flushHalf) => {
        const { feed, windows$, clock } = await rig(kind);
        const emitted: number[] = [];
        const emit = (n: number) => {
          for (let i = 0; i < n; i++) {
            windows$.next(window(emitted.length));
            emitted.push(feed.stats.lastId);
          }
        };
        emit(burst); // more than one chunk's worth in one millisecond
        for (const [i, gap] of gapsMs.entries()) {
          clock.ms += gap; // spans chunks and hours
          emit(1);
          if (flushHalf && i === Math.floor(gapsMs.length / 2)) await feed.flush();
        }
        if (!flushHalf) await feed.flush();
        const after = pick % 2 === 0 ? emitted[pick % emitted.length] : emitted[pick % emitted.length] - 1;
        const got = (await collect(feed, after)).map((e) => e.window.id);
        assert.deepEqual(got, emitted.filter((id) => id > after));
        for (let i = 1; i < emitted.length; i++) assert.ok(emitted[i] > emitted[i - 1]);
        await feed.close();
      },
    ), { numRuns: 40 });
  });

  it('drops whole hours older than the retention, and says where the history now starts', async () => {
    const { feed, windows$, clock, place } = await rig(kind, { retentionHours: 2 });
    for (let h = 0; h < 5; h++) {
      clock.ms = START_MS + h * HOUR_MS + 10_000;
      windows$.next(window(h));
      await feed.flush();
    }
    const hour0 = START_MS / HOUR_MS;
    // now = hour 4 + 10 s; the cutoff is hour 2 + 10 s, so hour 2 still holds retained ids.
    const store = await place.open();
    assert.deepEqual(await store.hours(), [hour0 + 2, hour0 + 3, hour0 + 4]);
    await store.close();
    assert.equal(feed.retainedFrom(), (START_MS + 2 * HOUR_MS) * 1000);
    const truncatedAt: number[] = [];
    const received: FeedEntry[] = [];
    feed.subscribe({}, { next: (e) => received.push(...e), truncated: (from) => truncatedAt.push(from), error: assert.fail }, { after: START_MS * 1000 });
    await until(() => received.length >= 3);
    assert.deepEqual(truncatedAt, [(START_MS + 2 * HOUR_MS) * 1000]);
    assert.deepEqual(received.map((e) => e.window.avg), [2, 3, 4]);
    await feed.close();
  });

  it('a resume while events keep coming delivers every matching event once, in order, with no gap between history and live', async () => {
    const { feed, windows$, clock } = await rig(kind);
    const emitted: { id: number; w: WindowEvent }[] = [];
    const emit = (i: number) => {
      const w = window(i, i % 3 === 0 ? { tenant: TENANT_A, vm: VM_1 } : i % 3 === 1 ? { tenant: TENANT_B, vm: VM_2 } : {});
      windows$.next(w);
      emitted.push({ id: feed.stats.lastId, w });
    };
    for (let i = 0; i < 300; i++) {
      clock.ms += 7;
      emit(i);
      if (i % 50 === 0) await feed.flush();
    }
    const after = emitted[120].id;
    const filter: WindowFilter = { tenant: TENANT_B, vm: VM_2 };
    const received: number[] = [];
    let readyCalls = 0;
    feed.subscribe(filter, {
      next: (entries) => received.push(...entries.map((e) => e.window.id)),
      ready: async () => {
        readyCalls++;
        for (let j = 0; j < 5; j++) emit(300 + readyCalls * 5 + j); // live events arrive mid-history
        await nextTurn();
      },
      error: assert.fail,
    }, { after });
    void feed.flush(); // a write completing during the read
    await until(() => readyCalls > 0);
    for (let i = 0; i < 10; i++) emit(1000 + i);
    // What matches of everything emitted so far (the history's ready calls may emit more meanwhile).
    const expected = () => emitted.filter((e) => e.id > after && e.w.tenant === TENANT_B && e.w.vm === VM_2).map((e) => e.id);
    await until(() => received.length >= expected().length);
    assert.ok(readyCalls > 0);
    assert.deepEqual(received, expected());
    await feed.close();
  });

  it('a resume whose live events pass its queue\'s bound is not cut: it reads them from the history, each once and in order', async () => {
    const { feed, windows$, clock } = await rig(kind);
    const emitted: number[] = [];
    const emit = (i: number) => {
      clock.ms += 1;
      windows$.next(window(i));
      emitted.push(feed.stats.lastId);
    };
    for (let i = 0; i < 10; i++) emit(i);
    await feed.flush();
    const received: number[] = [];
    const errors: Error[] = [];
    let readyCalls = 0;
    feed.subscribe({}, {
      next: (entries) => received.push(...entries.map((e) => e.id)),
      ready: async () => {
        // 50 events (~10 KB of JSON) against a queue of 1,000 bytes, while the history is read.
        if (++readyCalls <= 3) for (let i = 0; i < 50; i++) emit(100 * readyCalls + i);
        await nextTurn();
      },
      error: (e) => errors.push(e),
    }, { after: 0, maxQueuedBytes: 1000 });
    await until(() => received.length >= emitted.length);
    for (let i = 0; i < 5; i++) emit(1000 + i); // live again
    await until(() => received.length >= emitted.length);
    assert.deepEqual(errors, []);
    assert.ok(readyCalls > 3);
    assert.deepEqual(received, emitted);
    assert.equal(feed.stats.subscribers, 1);
    await feed.close();
  });

  it('windowEvents(): an Observable of the events, history first, filtered', async () => {
    const { feed, windows$, clock } = await rig(kind);
    windows$.next(window(1, { key: 'a' }));
    const firstId = feed.stats.lastId;
    windows$.next(window(2, { key: 'b' }));
    windows$.next(window(3, { key: 'a', revision: 2 }));
    const got = firstValueFrom(windowEvents(feed, { key: 'a' }, { after: firstId - 1 }).pipe(take(3), toArray()));
    await nextTurn();
    clock.ms += 1;
    windows$.next(window(4, { key: 'a' }));
    windows$.next(window(5, { key: 'b' }));
    const events = await got;
    assert.deepEqual(events.map((w) => [w.key, w.avg, w.revision]), [['a', 1, 1], ['a', 3, 2], ['a', 4, 1]]);
    assert.ok(events[0].id < events[1].id && events[1].id < events[2].id);
    await feed.close();
  });
});

describe('withRecordClock', () => {
  it('hands records out one at a time, the clock reading the append time of the one being folded', async () => {
    const records = (n: number, base: number): LogRecord[] =>
      Array.from({ length: n }, (_, i) => ({ position: base + i, next: base + i + 1, appendedAtMs: 1000 * (base + i), payload: Buffer.alloc(0) }));
    const log: EventLog = {
      append: async () => ({ first: 0, end: 0 }),
      end: async () => 5,
      close: async () => undefined,
      read: () => (async function* () {
        yield records(3, 0);
        yield records(2, 3);
      })(),
    };
    const { log: timed, clock } = withRecordClock(log, () => -1);
    assert.equal(clock(), -1);
    const seen: [number, number][] = [];
    for await (const batch of timed.read(0)) {
      assert.equal(batch.length, 1);
      seen.push([batch[0].position, clock()]);
    }
    assert.deepEqual(seen, [[0, 0], [1, 1000], [2, 2000], [3, 3000], [4, 4000]]);
  });
});
