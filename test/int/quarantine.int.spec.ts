import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadSettings, type Settings } from '../../src/config/settings';
import { encodeEvent } from '../../src/core/logCodec';
import type { Metric } from '../../src/core/metric';
import { METRIC_GATE_VERSION } from '../../src/core/metricRejection';
import type { TableStore } from '../../src/core/ports';
import { LocalProjections } from '../../src/localProjections';
import { rebuildProjection } from '../../src/rebuildProjection';
import { decodeBlock } from '../../projections/minuteBlocks';
import { metaTable, type ProjectionName } from '../../projections/projectionCatalog';
import { BUILT_IN_PROJECTIONS } from '../../projections/builtInProjections';
import { openTable, openTables } from '../../projections/projectionTables';
import { windowsProjection } from '../../projections/windowsProjection';
import { listedEntry, QUARANTINE_PARTITION } from '../../projections/quarantineRows';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { eventually } from '../support/eventually';
import { gatedRig } from '../support/gatedRig';

const M0 = 1_700_000_040; // a minute start, long past: every window closes (by the watermark, the last by idle time)
const K = 'win_cpu.percent';
const LONG = 'x'.repeat(300); // a tenant and a VM of 300 characters: their per-VM block key is over 512 characters
const metric = (tenant: string, vm: string, t: number, value: number): Metric => ({ t, tenant, vm, key: K, value });
// Marked as admitted by the gate (a damaged disk, say), so that the fold trusts them and the store's own refusal is what
// sets the bad ones aside; the gate's second look at records written before it is tested in oldLogReplay.int.spec.
const metrics = (...list: Metric[]) => encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: 0, gate: METRIC_GATE_VERSION, metrics: list, rejected: [] });

/** Records the API would refuse, written with the codec as an older opsfold (or a bad disk) may have left them. */
const RECORDS: Buffer[] = [
  metrics(metric('tA', 'v1', M0 + 5, 1), metric('tA', 'v2', M0 + 10, 3)),
  metrics(metric('tA', 'v1', M0 + 20, 5), metric(LONG, LONG, M0 + 25, 1000), metric('tB', 'v1', M0 + 30, 7)),
  Buffer.from([9, 1, 2, 3, 4, 5]), // no record type opsfold writes
  metrics(metric('tA', 'v\ud800', M0 + 35, 2000)), // a lone surrogate, as encodeURIComponent of half a character
  metrics(metric('tA', 'v1', M0 + 65, 11)),
  Buffer.from([1, 1, 255, 255, 255, 255, 0]), // a metrics record that does not decode
  metrics(metric('tA', 'v1', M0 + 185, 13)),
];

/** The windows of the good metrics, worked out here from DESIGN §2: [count, sum, min, max] by grouping and window start. */
const EXPECTED = new Map<string, number[]>([
  [`cross ${M0}`, [4, 16, 1, 7]], [`cross ${M0 + 60}`, [1, 11, 11, 11]], [`cross ${M0 + 180}`, [1, 13, 13, 13]],
  [`tA/v1 ${M0}`, [2, 6, 1, 5]], [`tA/v1 ${M0 + 60}`, [1, 11, 11, 11]], [`tA/v1 ${M0 + 180}`, [1, 13, 13, 13]],
  [`tA/v2 ${M0}`, [1, 3, 3, 3]], [`tB/v1 ${M0}`, [1, 7, 7, 7]],
]);

async function storedWindows(tables: TableStore, prefix: string, version: number): Promise<Map<string, number[]>> {
  const stored = await openTables(tables, windowsProjection.tables, { prefix, version });
  const out = new Map<string, number[]>();
  const slot = M0 - (M0 % 900);
  const add = (label: string, windows: { windowStart: number; count: number; sum: number; min: number; max: number }[] = []) => {
    for (const w of windows) out.set(`${label} ${w.windowStart}`, [w.count, w.sum, w.min, w.max]);
  };
  for (const block of await stored.minute.readRange([K], slot, slot + 900)) add('cross', decodeBlock(block).get(''));
  const vms = stored.vmMinute;
  for (const [tenant, vm] of [['tA', 'v1'], ['tA', 'v2'], ['tB', 'v1']]) {
    for (const block of await vms.readRange([tenant, vm], slot, slot + 900)) add(`${tenant}/${vm}`, decodeBlock(block).get(K));
  }
  return new Map([...out].sort());
}

async function ledger(tables: TableStore, prefix: string, projection: ProjectionName, version: number) {
  const rows = await (await openTable(tables, BUILT_IN_PROJECTIONS[projection].tables.quarantine, { prefix, version })).list({ partition: QUARANTINE_PARTITION });
  return rows.map(listedEntry);
}

function settingsFor(dir: string, prefix: string): Settings {
  return loadSettings({ dataDir: join(dir, 'data'), tablePrefix: prefix, flushIntervalMs: 50, idleCloseSeconds: 1 }, {}).settings;
}

describe('the quarantine: what a projection cannot apply is set aside, and the fold goes on', () => {
  it('a metric whose table keys the store refuses, and records that do not decode, are quarantined with their position and reason; the other windows are exact; a restart after a crash quarantines nothing twice', async (t) => {
    const { dir, log, tables, later } = await gatedRig(t, 'quarantine');
    const prefix = 'qr';
    const positions: number[] = [];
    for (const record of RECORDS) positions.push((await log.append([record])).first);
    const end = await log.end();
    const settings = settingsFor(dir, prefix);
    const versions = new ProjectionVersions(await tables.rowTable(metaTable(prefix)));

    // When the service's projections fold the log.
    const first = new LocalProjections({ settings, log, tables, versions });
    await first.start();
    later({ close: () => first.stop() });

    // Then the windows projection sets aside the over-long ids (metric 1 of record 1), the lone surrogate (metric 0 of
    // record 3) and both records that do not decode, and folds the good metrics to exact windows; its checkpoint passes them all.
    const checkpoint = await eventually('the windows checkpoint at the end, every window closed', async () => {
      const c = await versions.checkpoint('windows', 1);
      return c !== undefined && c.resumeFrom === end && c;
    }, 30_000);
    assert.deepEqual(await storedWindows(tables, prefix, 1), new Map([...EXPECTED].sort()));
    const windowsLedger = await ledger(tables, prefix, 'windows', 1);
    assert.deepEqual(windowsLedger.map((e) => [e.projection, e.position, e.index]), [
      ['windows', positions[1], 1], ['windows', positions[2], null], ['windows', positions[3], 0], ['windows', positions[5], null],
    ]);
    assert.match(windowsLedger[0].reason, /characters once encoded; Table Storage allows at most 512/);
    assert.match(windowsLedger[0].raw ?? '', /"value":1000/);
    assert.match(windowsLedger[1].reason, /does not decode: unknown .*type 9/);
    assert.match(windowsLedger[2].reason, /not well-formed Unicode \(it holds a lone surrogate\)/);
    assert.match(windowsLedger[3].reason, /does not decode/);
    assert.match(windowsLedger[3].raw ?? '', /^base64:/);
    assert.equal(checkpoint.quarantined, 4);
    // Every projection that reads a record that does not decode sets it aside; the backlog projection reads no metrics records.
    await eventually('the rejects and backlog checkpoints at the end', async () =>
      (await versions.checkpoint('rejects', 1))?.position === end && (await versions.checkpoint('backlog', 1))?.position === end, 30_000);
    assert.deepEqual((await ledger(tables, prefix, 'rejects', 1)).map((e) => [e.position, e.index]), [[positions[2], null], [positions[5], null]]);
    assert.deepEqual((await ledger(tables, prefix, 'backlog', 1)).map((e) => [e.position, e.index]), [[positions[2], null]]);
    assert.deepEqual(first.quarantined, { windows: 4, rejects: 2, backlog: 1 });
    assert.deepEqual(first.failing, []);

    // When the service had died after writing the entries but before the checkpoints that pass them, and starts again.
    await first.stop();
    for (const name of ['windows', 'rejects', 'backlog'] as const) await versions.forget(name, 1);
    const second = new LocalProjections({ settings, log, tables, versions });
    await second.start();
    later({ close: () => second.stop() });

    // Then it folds the log again from the start, past what the ledger holds: the same windows, each entry counted once and
    // none written again (each keeps the time it was first set aside).
    await eventually('the checkpoint at the end again, every window closed', async () => (await versions.checkpoint('windows', 1))?.resumeFrom === end, 30_000);
    assert.deepEqual(await storedWindows(tables, prefix, 1), new Map([...EXPECTED].sort()));
    assert.equal((await versions.checkpoint('windows', 1))?.quarantined, 4);
    await eventually('every projection past the records set aside', async () => {
      const lag = await second.consumerLag();
      return 'bytes' in lag && lag.bytes.rejects === 0 && lag.bytes.backlog === 0;
    }, 30_000);
    assert.deepEqual(second.quarantined, { windows: 4, rejects: 2, backlog: 1 });
    assert.deepEqual(await ledger(tables, prefix, 'windows', 1), windowsLedger);
  });

  it('a replay of that log rebuilds the windows and their quarantine ledger into the new version, to the end', async (t) => {
    const { dir, log, tables } = await gatedRig(t, 'quarantine-replay');
    const prefix = 'qp';
    const positions: number[] = [];
    for (const record of RECORDS) positions.push((await log.append([record])).first);
    const settings = settingsFor(dir, prefix);
    const versions = new ProjectionVersions(await tables.rowTable(metaTable(prefix)));

    // When each projection is rebuilt from the log (as `opsfold replay` does) into version 1.
    const totals: Record<string, Record<string, number>> = {};
    for (const name of ['windows', 'rejects', 'backlog'] as const) {
      totals[name] = await rebuildProjection({ name, log, scope: '', tables, versions, settings, version: 1 });
    }

    // Then the rebuild went to the end: exact windows, and the same entries as the live fold would set aside.
    assert.deepEqual(await storedWindows(tables, prefix, 1), new Map([...EXPECTED].sort()));
    assert.equal(totals.windows.metrics, 6, 'the good metrics, and none of the refused ones');
    assert.deepEqual([totals.windows.quarantined, totals.rejects.quarantined, totals.backlog.quarantined], [4, 2, 1]);
    assert.deepEqual((await ledger(tables, prefix, 'windows', 1)).map((e) => [e.position, e.index]), [
      [positions[1], 1], [positions[2], null], [positions[3], 0], [positions[5], null],
    ]);
    assert.equal((await versions.checkpoint('windows', 1))?.position, await log.end());
  });
});
