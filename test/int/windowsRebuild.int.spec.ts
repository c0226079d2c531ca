import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { encodeEvent } from '../../src/core/logCodec';
import type { Metric } from '../../src/core/metric';
import type { EventLog } from '../../src/core/ports';
import { decodeBlock } from '../../projections/minuteBlocks';
import { mergeSketchBytes, newSketch } from '../../projections/sketchCodec';
import { metaTable } from '../../projections/projectionCatalog';
import { openTable, tableName } from '../../projections/projectionTables';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { Projector } from '../../streams/Projector';
import { windowsProjection } from '../../projections/windowsProjection';
import { gatedRig } from '../support/gatedRig';

/** A 15-minute slot start. */
const T0 = 1_700_004_000 - (1_700_004_000 % 900);
const TENANT = 'tenant/A+==';
const VMS = ['vm/1', "vm'2"];

const metric = (minute: number, vm: string, value: number): Metric => ({ t: T0 + minute * 60 + 7, tenant: TENANT, vm, key: 'win_cpu.percent', value });

describe('a rebuild (the windows projection over the whole log) into Table Storage', () => {
  it('revises a window of a slot whose blocks are still being written when its late data comes, and loses none of that slot', async (t) => {
    const { log, tables } = await gatedRig(t, 'rebuild');
    // Given slot 0 (minutes 0–14) for two VMs, a record that moves the watermark out of it, then late data for minute 10.
    const records: Metric[][] = [
      Array.from({ length: 15 }, (_, m) => VMS.map((vm, i) => metric(m, vm, 100 * i + m))).flat(),
      [metric(16, VMS[0], 16)],
      [metric(10, VMS[0], 1000), metric(10, VMS[1], 2000)],
    ];
    const ends: number[] = [];
    for (const metrics of records) {
      await log.append([encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: 0, metrics, rejected: [] })]);
      ends.push(await log.end());
    }
    const sealedAfter = ends[1]; // the fold has read the record that moved the watermark out of slot 0
    // One record a batch, so the slot is sealed (and its write starts) before the late record is read.
    const oneByOne: EventLog = { append: (p) => log.append(p), read: (from, o) => log.read(from, { ...o, maxBatchBytes: 1 }), end: () => log.end(), close: async () => undefined };
    const v1 = { prefix: 'rb', version: 1 };
    const projector = new Projector({
      projection: windowsProjection, config: { windows: { outOfOrderSeconds: 60, idleCloseSeconds: 3600, allowedLatenessSeconds: 1800, maxFutureSeconds: 300 } },
      log: oneByOne, tables, versions: new ProjectionVersions(await tables.rowTable(metaTable('rb'))), tablePrefix: 'rb', version: 1,
      flushIntervalMs: 60_000, follow: false,
      onProgress: (position) => {
        // When slot 0's blocks are slow to write (held from the moment it is sealed until the fold has had time to reach the late record).
        if (position !== sealedAfter) return;
        tables.hold((name) => name === tableName(windowsProjection.tables.minute, v1) || name === tableName(windowsProjection.tables.vmMinute, v1), { reads: false });
        void delay(300).then(() => tables.release());
      },
    });
    const stats = await projector.run();

    // Then every window of slot 0 is there, and minute 10 of each VM and across tenants is revision 2 with both values.
    const stored = new Map<string, number[]>();
    const vmTable = await openTable(tables, windowsProjection.tables.vmMinute, v1);
    for (const vm of VMS) {
      for (const block of await vmTable.readRange([TENANT, vm], T0, T0 + 900)) {
        for (const [key, windows] of decodeBlock(block)) for (const w of windows) stored.set(`${vm} ${key} ${(w.windowStart - T0) / 60}`, [w.count, w.sum, w.revision]);
      }
    }
    const expected = new Map<string, number[]>();
    for (const [i, vm] of VMS.entries()) for (let m = 0; m < 15; m++) expected.set(`${vm} win_cpu.percent ${m}`, [1, 100 * i + m, 1]);
    expected.set(`${VMS[0]} win_cpu.percent 10`, [2, 10 + 1000, 2]);
    expected.set(`${VMS[1]} win_cpu.percent 10`, [2, 110 + 2000, 2]);
    expected.set(`${VMS[0]} win_cpu.percent 16`, [1, 16, 1]);
    assert.deepEqual(new Map([...stored].sort()), new Map([...expected].sort()));
    const [cross] = await (await openTable(tables, windowsProjection.tables.minute, v1)).readRange(['win_cpu.percent'], T0, T0);
    const { sketch, ...minute10 } = decodeBlock(cross).get('')!.find((w) => w.windowStart === T0 + 600)!;
    // Both VMs, both expected (they reported minutes 0–9); of four values, a sketch of them all.
    assert.deepEqual(minute10, { windowStart: T0 + 600, count: 4, sum: 10 + 110 + 1000 + 2000, min: 10, max: 2000, revision: 2, vms: 2, expectedVms: 2 });
    assert.equal(mergeSketchBytes(newSketch(), sketch!).count, 4);
    assert.equal(stats.revisions, 3);
  });
});
