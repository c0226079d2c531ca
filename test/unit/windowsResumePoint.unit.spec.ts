import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Checkpoint, FoldContext } from '../../src/core/projection';
import type { LogRecord } from '../../src/core/ports';
import { encodeEvent } from '../../src/core/logCodec';
import { openTables } from '../../projections/projectionTables';
import { windowsProjection } from '../../projections/windowsProjection';
import { MemoryTableStore } from '../support/memoryTableStore';
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
