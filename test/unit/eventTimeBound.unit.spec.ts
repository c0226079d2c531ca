import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEvent } from '../../src/core/logCodec';
import type { Metric } from '../../src/core/metric';
import type { QuarantineEntry } from '../../src/core/quarantine';
import { decodeBlock, MinuteBlocks } from '../../projections/minuteBlocks';
import { metaTable } from '../../projections/projectionCatalog';
import { openTable } from '../../projections/projectionTables';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { WindowFolder, type WindowOptions } from '../../projections/WindowFolder';
import { Projector } from '../../streams/Projector';
import { windowsProjection } from '../../projections/windowsProjection';
import { feed, metric } from '../support/metricBuilders';
import { MemoryEventLog } from '../support/memoryEventLog';
import { MemoryTableStore } from '../support/memoryTableStore';

/** A 15-minute slot start; the records arrive 10 minutes after it. */
const T0 = 1_700_001_000 - (1_700_001_000 % 900);
const ARRIVAL_MS = (T0 + 600) * 1000;
const OPTIONS: WindowOptions = { outOfOrderSeconds: 60, idleCloseSeconds: 3600, allowedLatenessSeconds: 1800, maxFutureSeconds: 300 };

describe('event time cannot run ahead of arrival', () => {
  describe('WindowFolder', () => {
    it('a metric an hour ahead of its record\'s arrival moves the watermark only to the arrival plus maxFutureSeconds', () => {
      const folder = new WindowFolder(OPTIONS, new MinuteBlocks('minute', true), new MinuteBlocks('vmMinute', true));

      feed(folder, [{ position: 0, next: 10, appendedAtMs: ARRIVAL_MS, metrics: [metric({ t: T0 + 600 + 3600, tenant: 'bad-clock' })] }]);

      assert.equal(folder.watermark, T0 + 600 + 300 - 60);
    });

    it('so another tenant\'s metric from ten minutes before is folded, not late, and its window closes with its value', () => {
      const folder = new WindowFolder(OPTIONS, new MinuteBlocks('minute', true), new MinuteBlocks('vmMinute', true));
      const folded = feed(folder, [
        { position: 0, next: 10, appendedAtMs: ARRIVAL_MS, metrics: [metric({ t: T0 + 600 + 3600, tenant: 'bad-clock', value: 1 })] },
        { position: 10, next: 20, appendedAtMs: ARRIVAL_MS + 1000, metrics: [metric({ t: T0 + 5, tenant: 'other', value: 42 })] },
      ]);

      assert.deepEqual(folded.late, []);
      const other = folded.windows.filter((w) => w.tenant === 'other');
      assert.deepEqual(other.map((w) => [w.windowStart, w.count, w.sum, w.revision]), [[T0, 1, 42, 1]]);
    });
  });

  describe('the windows projection, rebuilding and following the log', () => {
    /**
     * Record 0: tenant A, two minutes. Record 1: tenant A, a metric in the year 3000 (refused by
     * the gate), one an hour ahead of the record's append but not of its reception (an ingesting
     * clock ahead of the log's: accepted, its watermark bounded), and a good one. Record 2: tenant B.
     */
    async function foldScenario(follow: boolean) {
      const log = new MemoryEventLog(() => ARRIVAL_MS);
      const append = (metrics: Metric[], receivedAtMs = ARRIVAL_MS) =>
        log.append([encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs, metrics, rejected: [] })]);
      await append([metric({ t: T0 + 1, tenant: 'A', value: 1 }), metric({ t: T0 + 61, tenant: 'A', value: 2 })]);
      await append([
        metric({ t: 32503680000, tenant: 'A', value: 99 }),
        metric({ t: T0 + 600 + 3600, tenant: 'A', value: 5 }),
        metric({ t: T0 + 2, tenant: 'A', value: 3 }),
      ], ARRIVAL_MS + 3600 * 1000);
      await append([metric({ t: T0 + 3, tenant: 'B', value: 10 }), metric({ t: T0 + 62, tenant: 'B', value: 20 })]);
      const tables = new MemoryTableStore();
      const quarantined: QuarantineEntry[] = [];
      const projector = new Projector({
        projection: windowsProjection, config: { windows: OPTIONS },
        log, tables, versions: new ProjectionVersions(await tables.rowTable(metaTable('eb'))), tablePrefix: 'eb', version: 1,
        flushIntervalMs: 60_000, follow, quarantine: (entry) => quarantined.push(entry),
      });
      const stats = await projector.run();
      const [block] = await (await openTable(tables, windowsProjection.tables.minute, { prefix: 'eb', version: 1 })).readRange(['win_cpu.percent'], T0, T0);
      const cross = decodeBlock(block).get('')!.map((w) => [w.windowStart - T0, w.count, w.sum]);
      return { stats, quarantined, cross, ledger: projector.quarantined };
    }

    it('resuming from a checkpoint whose event time an older version let run to the year 3000, the watermark is bounded by the checkpoint\'s time', async () => {
      const log = new MemoryEventLog(() => ARRIVAL_MS + 60_000);
      await log.append([encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: ARRIVAL_MS, gate: 1, metrics: [metric({ t: T0 + 5, tenant: 'B', value: 10 })], rejected: [] })]);
      const tables = new MemoryTableStore();
      const versions = new ProjectionVersions(await tables.rowTable(metaTable('eb')));
      await versions.saveCheckpoint('windows', 1, { position: 0, resumeFrom: 0, maxEventTime: 32503680000, atMs: ARRIVAL_MS });

      const stats = await new Projector({ projection: windowsProjection, config: { windows: OPTIONS }, log, tables, versions, tablePrefix: 'eb', version: 1, flushIntervalMs: 60_000, follow: false }).run();

      assert.equal(stats.late, 0);
      assert.equal(stats.watermark, T0 + 600 + 300 - 60);
      const [block] = await (await openTable(tables, windowsProjection.tables.vmMinute, { prefix: 'eb', version: 1 })).readRange(['B', metric({ t: 0 }).vm], T0, T0);
      assert.deepEqual(decodeBlock(block).get('win_cpu.percent')!.map((w) => [w.windowStart, w.count, w.sum]), [[T0, 1, 10]]);
    });

    for (const follow of [false, true]) {
      it(`${follow ? 'following (the live path)' : 'rebuilding'}: the year-3000 metric is quarantined, the watermark stays within arrival + 300 s, and no one's data is late`, async () => {
        const { stats, quarantined, cross, ledger } = await foldScenario(follow);

        // Its arrival is the record's reception (T0 + 600 s + an hour), later than the append: the clock the ingest gate used.
        assert.deepEqual(quarantined, [{
          projection: 'windows', position: 1, index: 0,
          reason: 'timestamp 32503680000 (3000-01-01T00:00:00Z) is more than 300 seconds after its arrival (2023-11-14T23:40:00Z), the most a sender\'s clock may be ahead (WINDOW_MAX_FUTURE_SECONDS)',
          raw: '{"t":32503680000,"value":99,"tenant":"A","vm":"Sharedfk6hZ4v5Xkmu0clBsg+aYw==63784","key":"win_cpu.percent"}',
        }]);
        assert.equal(ledger, 1, 'the projector\'s own quarantine ledger holds it too');
        assert.equal(stats.metrics, 6);
        assert.equal(stats.late, 0);
        assert.equal(stats.watermark, T0 + 600 + 300 - 60);
        // Minute 0: A's 1 and 3, B's 10; minute 1: A's 2, B's 20; an hour on: A's 5 (its own window, open or closed).
        assert.deepEqual(cross.filter(([start]) => start < 120), [[0, 3, 14], [60, 2, 22]]);
      });
    }
  });
});
