import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEvent } from '../../src/core/logCodec';
import type { Metric } from '../../src/core/metric';
import type { QuarantineEntry } from '../../src/core/quarantine';
import { decodeBlock } from '../../projections/minuteBlocks';
import { metaTable } from '../../projections/projectionCatalog';
import { openTables } from '../../projections/projectionTables';
import { readVmCatalog } from '../../projections/vmCatalog';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { Projector } from '../../streams/Projector';
import { windowsProjection } from '../../projections/windowsProjection';
import { eventually } from '../support/eventually';
import { gatedRig } from '../support/gatedRig';

/** A 15-minute slot start (2023-11-14T22:30:00Z). */
const T0 = 1_700_001_000;
const KEY = 'win_cpu.percent';
const TA = 't/1+=';
const TB = "t#2'?";
const VM = 'vm/1';
const OPTIONS = { outOfOrderSeconds: 60, idleCloseSeconds: 1, allowedLatenessSeconds: 1800, maxFutureSeconds: 300 };
const id256 = (c: string) => c.repeat(256);

const good = (tenant: string, t: number, value: number): Metric => ({ t, tenant, vm: VM, key: KEY, value });
const bad = (fields: Partial<Metric>): Metric => ({ t: T0 + 30, tenant: TA, vm: VM, key: KEY, value: 1, ...fields });

/**
 * A log as today's version wrote it (its validation let all of these through): three records,
 * each with good metrics of tenants A and B and, beside them, every kind of metric the gate now
 * refuses. `reason` is what the quarantine must say (a pattern where it names the arrival, which is
 * the append's time).
 */
const RECORDS: { metric: Metric; reason?: string | RegExp }[][] = [
  [
    { metric: good(TA, T0 + 5, 10) },
    { metric: bad({ t: 1790000100000 }), reason: 'timestamp 1790000100000 looks like epoch milliseconds (2026-09-21T14:15:00Z): send epoch seconds' },
    { metric: good(TB, T0 + 10, 20) },
    { metric: bad({ t: -3600 }), reason: 'timestamp -3600 is before 2000-01-01T00:00:00Z (946684800): send epoch seconds' },
  ],
  [
    // Two values of 1e308 in one window: their sum would be Infinity, read back as null.
    { metric: bad({ value: 1e308 }), reason: 'PerfValue 1e+308 is beyond ±1e300, the largest magnitude whose window sums stay finite' },
    { metric: bad({ value: 1e308, t: T0 + 40 }), reason: 'PerfValue 1e+308 is beyond ±1e300, the largest magnitude whose window sums stay finite' },
    { metric: good(TA, T0 + 65, 30) },
    { metric: bad({ tenant: 'v\ud800' }), reason: 'MaskedTenantId is not well-formed Unicode: a lone UTF-16 surrogate (\\ud800) at index 1' },
    { metric: good(TB, T0 + 70, 50) },
  ],
  [
    { metric: bad({ t: 1e20 }), reason: /^timestamp 100000000000000000000 is more than 300 seconds after its arrival \(\d{4}-\d\d-\d\dT[\d:]+Z\)/ },
    { metric: bad({ t: 32503680000 }), reason: /^timestamp 32503680000 \(3000-01-01T00:00:00Z\) is more than 300 seconds after its arrival/ },
    { metric: bad({ vm: 'vm\udc00' }), reason: 'MaskedVMName is not well-formed Unicode: a lone UTF-16 surrogate (\\udc00) at index 2' },
    {
      metric: bad({ tenant: id256('t'), vm: id256('v'), key: `${id256('p')}.${id256('n')}` }),
      reason: "MaskedTenantId and MaskedVMName take 512 characters of a table key once escaped; together they may take at most 494 (each / \\ # ? % | ' or control character takes 3 characters for each of its UTF-8 bytes)",
    },
    { metric: bad({ key: `${id256('p')}.${id256('n')}` }), reason: /^PerfType and PerfName take 513 characters of a table key once escaped/ },
    { metric: good(TA, T0 + 125, 7) },
  ],
];

/** The good metrics' windows, by hand: [minute, count, sum, min, max]. */
const CROSS = [[0, 2, 30, 10, 20], [1, 2, 80, 30, 50], [2, 1, 7, 7, 7]];
const PER_VM: Record<string, number[][]> = { [TA]: [[0, 1, 10, 10, 10], [1, 1, 30, 30, 30], [2, 1, 7, 7, 7]], [TB]: [[0, 1, 20, 20, 20], [1, 1, 50, 50, 50]] };

describe('a log written before the gate, holding every kind of metric it refuses, into Table Storage', () => {
  for (const follow of [false, true]) {
    it(`${follow ? 'followed live' : 'replayed (a rebuild)'} to its end: the good windows exact, each refused metric handed to the quarantine with its position, index and reason`, async (t) => {
      const { log, tables } = await gatedRig(t, follow ? 'oldlog-live' : 'oldlog-replay');
      const positions: number[] = [];
      for (const record of RECORDS) {
        const { first } = await log.append([encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: 0, metrics: record.map((r) => r.metric), rejected: [] })]);
        positions.push(first);
      }
      const end = await log.end();
      const quarantined: QuarantineEntry[] = [];
      const prefix = follow ? 'oldlive' : 'oldreplay';
      const projector = new Projector({
        projection: windowsProjection, config: { windows: OPTIONS },
        log, tables, versions: new ProjectionVersions(await tables.rowTable(metaTable(prefix))), tablePrefix: prefix, version: 1,
        flushIntervalMs: 100, follow, quarantine: (entry) => quarantined.push(entry),
      });

      if (follow) {
        const stop = new AbortController();
        const running = projector.run(stop.signal);
        // Live, the last minute closes when idle (1 s of processing time): wait until its window is written.
        await eventually('the live fold to write minute 2', () => projector.stats.position === end && projector.stats.windowsEmitted >= 8);
        await eventually('a flush after minute 2 closed', () => projector.stats.flushes > 1 && projector.stats.position === end);
        stop.abort();
        await running;
      } else {
        const stats = await projector.run();
        assert.equal(stats.position, end);
      }

      const expected = RECORDS.flatMap((record, r) => record.flatMap((m, index) => (m.reason === undefined ? [] : [{ position: positions[r], index, reason: m.reason, metric: m.metric }])));
      assert.equal(quarantined.length, expected.length);
      for (const [i, entry] of quarantined.entries()) {
        const want = expected[i];
        assert.deepEqual([entry.projection, entry.position, entry.index], ['windows', want.position, want.index]);
        if (typeof want.reason === 'string') assert.equal(entry.reason, want.reason);
        else assert.match(entry.reason, want.reason);
        assert.deepEqual(JSON.parse(entry.raw!), JSON.parse(JSON.stringify(want.metric)));
      }
      assert.equal(projector.quarantined, expected.length);
      assert.equal(projector.stats.late, 0);

      const stored = await openTables(tables, windowsProjection.tables, { prefix, version: 1 });
      const [cross] = await stored.minute.readRange([KEY], T0, T0);
      assert.deepEqual(decodeBlock(cross).get('')!.map((w) => [(w.windowStart - T0) / 60, w.count, w.sum, w.min, w.max]), CROSS);
      const vmTable = stored.vmMinute;
      for (const [tenant, windows] of Object.entries(PER_VM)) {
        const [block] = await vmTable.readRange([tenant, VM], T0, T0);
        assert.deepEqual(decodeBlock(block).get(KEY)!.map((w) => [(w.windowStart - T0) / 60, w.count, w.sum, w.min, w.max]), windows);
      }
      // Nothing of the refused metrics reached the tables: the catalog knows the good tenants and key only.
      const catalog = await stored.catalog.list();
      assert.deepEqual([...readVmCatalog(catalog).keys()].sort(), [TA, TB].sort());
      assert.deepEqual(catalog.filter((row) => row.partition[0] === 'key').map((row) => row.row), [KEY]);
    });
  }
});
