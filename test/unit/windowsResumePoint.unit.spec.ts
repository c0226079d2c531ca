import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Checkpoint, FoldContext } from '../../src/core/projection';
import type { LogRecord } from '../../src/core/ports';
import { encodeEvent } from '../../src/core/logCodec';
import { openTables } from '../../projections/projectionTables';
import { windowsProjection } from '../../projections/windowsProjection';
import { MemoryTableStore } from '../support/memoryTableStore';
import { MemoryEventLog } from '../support/memoryEventLog';
import { metaTable } from '../../projections/projectionCatalog';
import { decodeBlock, slotStartOf } from '../../projections/minuteBlocks';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { Projector } from '../../streams/Projector';
import { metric } from '../support/metricBuilders';

const T0 = 1_700_000_040 - (1_700_000_040 % 60);
const WINDOWS = { outOfOrderSeconds: 60, idleCloseSeconds: 5, allowedLatenessSeconds: 1800, maxFutureSeconds: 300 };

describe('the windows fold\'s resume point', () => {
  it('is the state as of the flush\'s position, not as of the end of its write: a window open at the flush and closed while it was written is read again after a crash', async () => {
    let nowMs = 1_700_000_100_000;
    const context: FoldContext = {
      scope: '', follow: true, clock: { now: () => nowMs } as FoldContext['clock'],
      quarantine: () => undefined, readThrough: () => 0, writesEachRecord: () => false,
      startWrite: async (write) => ({ done: write() }),
    };
    const fold = windowsProjection.fold({ windows: WINDOWS }, context);
    await fold.open(await openTables(new MemoryTableStore(), windowsProjection.tables, { prefix: 't', version: 1 }), undefined);
    const record = (position: number, t: number, value: number): LogRecord => ({
      position, next: position + 1, appendedAtMs: nowMs,
      payload: encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: nowMs, metrics: [metric({ t, tenant: 'A', value })], rejected: [] }),
    });
    const fold1 = async (r: LogRecord) => fold.apply(r, (await fold.prepare(r, { careful: false }))!);

    // Record 0 opens the window of T0; the flush at position 1 finds it open, so its metric is not in the blocks written.
    await fold1(record(0, T0 + 1, 10));
    const work = fold.take(1);
    await work.write();
    // While that write is in flight the fold goes on: the window closes (idle), and record 1 comes in.
    nowMs += (WINDOWS.idleCloseSeconds + 1) * 1000;
    fold.tick!(nowMs);
    await fold1(record(1, T0 + 61, 20));

    const resume = work.resume!();
    const checkpoint: Checkpoint = { position: 1, ...resume, atMs: nowMs };
    assert.equal(checkpoint.resumeFrom, 0, 'record 0 is in no block written by this flush: a restart must read it again');
  });
});

describe('a windows projector resumed after its checkpoint failed', () => {
  it('counts a revision once when its block was written before the checkpoint that failed (a later flush holding the same block does not lower the position it reflects)', async () => {
    const M0 = 1_648_638_000;
    const M1 = M0 + 60;
    // X opens M1; Y's value for M0 comes after M0 closed (a revision, within the lateness); X's second value lands in M1.
    const sent = [{ t: M1, vm: 'X', value: 1 }, { t: M0, vm: 'Y', value: 5 }, { t: M1 + 1, vm: 'X', value: 2 }];
    const options = { outOfOrderSeconds: 0, idleCloseSeconds: 5, allowedLatenessSeconds: 1, maxFutureSeconds: 4e9 };
    for (const failAfter of [0, 1, 2, 3]) {
      const log = new MemoryEventLog(() => 1_000_000);
      for (const m of sent) await log.append([encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: 0, metrics: [metric({ t: m.t, tenant: 'T', vm: m.vm, value: m.value })], rejected: [] })]);
      // One record a batch, a flush after each: every record's writes and checkpoint are their own.
      log.read = async function* read(from: number): AsyncIterable<LogRecord[]> { for (const record of log.records.slice(from)) yield [record]; };
      const store = new MemoryTableStore();
      const meta = await store.rowTable(metaTable('t'));
      let saved = 0;
      const failing = new (class extends ProjectionVersions {
        override async saveCheckpoint(...args: Parameters<ProjectionVersions['saveCheckpoint']>): Promise<void> {
          if (++saved > failAfter) throw new Error('the checkpoint write failed');
          return super.saveCheckpoint(...args);
        }
      })(meta);
      const run = (versions: ProjectionVersions) => new Projector({ projection: windowsProjection, config: { windows: options }, log, tables: store, versions, tablePrefix: 't', version: 1, follow: false, flushIntervalMs: 0 }).run();
      await assert.rejects(run(failing), /checkpoint write failed/);
      await run(new ProjectionVersions(meta));

      const { minute } = await openTables(store, windowsProjection.tables, { prefix: 't', version: 1 });
      const windows = decodeBlock((await minute.read(['win_cpu.percent'], slotStartOf(M0)))!).get('')!;
      assert.deepEqual(windows.map((w) => [w.windowStart, w.count, w.sum, w.vms]), [[M0, 1, 5, 1], [M1, 2, 3, 1]], `checkpoints failing after ${failAfter}`);
    }
  });
});
