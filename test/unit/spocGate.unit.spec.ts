import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { blockKeys, lastRowKeyOf, MAX_ROW } from '../../src/adapters/tableStorage/blockEntities';
import { rowKeys } from '../../src/adapters/tableStorage/rowEntities';
import { boundedJson } from '../../src/core/boundedJson';
import { Ingestor } from '../../src/core/Ingestor';
import { decodeEvent, encodeEvent } from '../../src/core/logCodec';
import type { Metric } from '../../src/core/metric';
import { METRIC_GATE_VERSION, metricRejection } from '../../src/core/metricRejection';
import { parseSpocMessage, validateSpocMessage } from '../../src/core/validateSpoc';
import { positionRow } from '../../projections/projectionCatalog';
import { windowsProjection } from '../../projections/windowsProjection';
import { vmCatalogRows } from '../../projections/vmCatalog';
import { MemoryEventLog } from '../support/memoryEventLog';
import { metric, spocMetric } from '../support/metricBuilders';

/** Table Storage's key limit: 1 KiB, counted as 512 UTF-16 code units. Written here, not imported. */
const KEY_LIMIT = 512;
/** Every metric here arrives at 2026-01-01T00:00:00Z. */
const ARRIVAL_MS = Date.UTC(2026, 0, 1);
const LIMITS = { arrivalMs: ARRIVAL_MS, maxFutureSeconds: 300 };
const ARRIVAL_S = ARRIVAL_MS / 1000;

/** The single rejection of a message whose only metric is `item`. */
function reasonFor(item: unknown): string {
  const { metrics, rejected } = validateSpocMessage({ metrics: [item] }, LIMITS);
  assert.equal(metrics.length, 0, `accepted: ${JSON.stringify(metrics)}`);
  assert.equal(rejected.length, 1);
  return rejected[0].reason;
}

function accepts(item: Record<string, unknown>): Metric {
  const { metrics, rejected } = validateSpocMessage({ metrics: [item] }, LIMITS);
  assert.deepEqual(rejected, []);
  return metrics[0];
}

/** Every PartitionKey and RowKey the projections build for `m` (the longest of each kind), through the adapters' own encoding. */
function tableKeysOf(m: Metric): Record<string, string> {
  const { minute, vmMinute, catalog } = windowsProjection.tables;
  const vmBlock = blockKeys([m.tenant, m.vm], { depth: vmMinute.layout?.partitionDepth ?? Infinity, buckets: vmMinute.layout?.partitionBuckets ?? 0 });
  const crossBlock = blockKeys([m.key], { depth: minute.layout?.partitionDepth ?? Infinity, buckets: minute.layout?.partitionBuckets ?? 0 });
  const late = rowKeys([m.key], positionRow(Number.MAX_SAFE_INTEGER, 999_999));
  const keyCatalog = rowKeys(['key'], m.key, catalog.layout?.partitionDepth);
  const [vmCatalogRow] = vmCatalogRows(m.tenant, [[m.vm, new Map([[m.key, 1_700_000_000]])]]);
  const vmCatalog = rowKeys(vmCatalogRow.partition, vmCatalogRow.row, catalog.layout?.partitionDepth);
  return {
    'per-VM block PartitionKey': vmBlock.partitionKey,
    'per-VM block RowKey (last overflow page)': lastRowKeyOf(MAX_ROW, vmBlock.rowPrefix),
    'cross-tenant block PartitionKey': crossBlock.partitionKey,
    'cross-tenant block RowKey (last overflow page)': lastRowKeyOf(MAX_ROW, crossBlock.rowPrefix),
    'late ledger PartitionKey': late.partitionKey,
    'late ledger RowKey': late.rowKey,
    'key catalog RowKey': keyCatalog.rowKey,
    'VM catalog PartitionKey': vmCatalog.partitionKey,
    'VM catalog RowKey': vmCatalog.rowKey,
  };
}

function assertFitsEveryKey(m: Metric): void {
  for (const [what, key] of Object.entries(tableKeysOf(m))) {
    assert.ok(key.length <= KEY_LIMIT, `${what} is ${key.length} characters: ${JSON.stringify(m).slice(0, 200)}`);
  }
}

describe('the gate: what a sender sends is accepted only if every projection can store and fold it', () => {
  describe('timestamp: from 2000-01-01 to the arrival plus WINDOW_MAX_FUTURE_SECONDS, in epoch seconds', () => {
    it('a timestamp in epoch milliseconds is rejected, saying it looks like epoch milliseconds', () => {
      assert.equal(reasonFor(spocMetric({ timestamp: 1790000100000 })), 'timestamp 1790000100000 looks like epoch milliseconds (2026-09-21T14:15:00Z): send epoch seconds');
    });

    it('a timestamp in epoch microseconds or nanoseconds is named so too', () => {
      assert.equal(reasonFor(spocMetric({ timestamp: 1700000000000000 })), 'timestamp 1700000000000000 looks like epoch microseconds (2023-11-14T22:13:20Z): send epoch seconds');
      assert.equal(reasonFor(spocMetric({ timestamp: 1700000000000000000 })), 'timestamp 1700000000000000000 looks like epoch nanoseconds (2023-11-14T22:13:20Z): send epoch seconds');
    });

    it('a negative timestamp, and one before 2000, are rejected as before 2000-01-01', () => {
      assert.equal(reasonFor(spocMetric({ timestamp: -3600 })), 'timestamp -3600 is before 2000-01-01T00:00:00Z (946684800): send epoch seconds');
      assert.equal(reasonFor(spocMetric({ timestamp: 946684799.5 })), 'timestamp 946684799.5 is before 2000-01-01T00:00:00Z (946684800): send epoch seconds');
    });

    it('a timestamp of 1e20, or in the year 3000, is rejected as too far ahead of its arrival', () => {
      assert.equal(reasonFor(spocMetric({ timestamp: 1e20 })),
        'timestamp 100000000000000000000 is more than 300 seconds after its arrival (2026-01-01T00:00:00Z), the most a sender\'s clock may be ahead (WINDOW_MAX_FUTURE_SECONDS)');
      assert.equal(reasonFor(spocMetric({ timestamp: 32503680000 })),
        'timestamp 32503680000 (3000-01-01T00:00:00Z) is more than 300 seconds after its arrival (2026-01-01T00:00:00Z), the most a sender\'s clock may be ahead (WINDOW_MAX_FUTURE_SECONDS)');
    });

    it('accepts 2000-01-01T00:00:00Z and exactly 300 seconds ahead, rejects 300.5 seconds ahead', () => {
      assert.equal(accepts(spocMetric({ timestamp: 946684800 })).t, 946684800);
      assert.equal(accepts(spocMetric({ timestamp: ARRIVAL_S + 300 })).t, ARRIVAL_S + 300);
      assert.match(reasonFor(spocMetric({ timestamp: ARRIVAL_S + 300.5 })), /^timestamp 1767225900\.5 \(2026-01-01T00:05:00Z\) is more than 300 seconds after its arrival/);
    });

    it('takes the bound as given: with 0 seconds, a metric a second ahead is rejected', () => {
      const { rejected } = validateSpocMessage({ metrics: [spocMetric({ timestamp: ARRIVAL_S + 1 })] }, { arrivalMs: ARRIVAL_MS, maxFutureSeconds: 0 });
      assert.match(rejected[0].reason, /is more than 0 seconds after its arrival/);
    });
  });

  describe('PerfValue: at most 1e300 in magnitude, so window sums stay finite', () => {
    it('accepts ±1e300 and rejects 1e301 and -1e308 naming the bound', () => {
      assert.equal(accepts(spocMetric({ PerfValue: 1e300 })).value, 1e300);
      assert.equal(accepts(spocMetric({ PerfValue: -1e300 })).value, -1e300);
      assert.equal(reasonFor(spocMetric({ PerfValue: 1e301 })), 'PerfValue 1e+301 is beyond ±1e300, the largest magnitude whose window sums stay finite');
      assert.equal(reasonFor(spocMetric({ PerfValue: -1e308 })), 'PerfValue -1e+308 is beyond ±1e300, the largest magnitude whose window sums stay finite');
    });
  });

  describe('ids: well-formed Unicode, within what every table key holds once encoded', () => {
    it('an id with a lone UTF-16 surrogate is rejected, naming the field, the surrogate and where it is', () => {
      assert.equal(reasonFor(spocMetric({ MaskedVMName: 'v\ud800' })), 'MaskedVMName is not well-formed Unicode: a lone UTF-16 surrogate (\\ud800) at index 1');
      // PerfType and PerfName are judged as the key they make: 'win_service.' is 12 characters.
      assert.equal(reasonFor(spocMetric({ PerfName: '\udc00x' })), 'PerfType.PerfName is not well-formed Unicode: a lone UTF-16 surrogate (\\udc00) at index 12');
      assert.equal(reasonFor(spocMetric({ MaskedTenantId: 'a\ud800\ud800\udc00' })), 'MaskedTenantId is not well-formed Unicode: a lone UTF-16 surrogate (\\ud800) at index 1');
      assert.equal(reasonFor(spocMetric({ Region: 'india\udfff' })), 'Region is not well-formed Unicode: a lone UTF-16 surrogate (\\udfff) at index 5');
    });

    it('accepts characters outside the BMP (surrogate pairs) and control characters, which the key encoding escapes', () => {
      const m = accepts(spocMetric({ MaskedTenantId: 'tenant-😀', MaskedVMName: 'vm\u0000\u0085/#' }));
      assert.equal(m.tenant, 'tenant-😀');
      assertFitsEveryKey(m);
    });

    it('four ids of 256 characters are rejected: tenant and VM would take 512 characters of a 512-character key', () => {
      const id = 'x'.repeat(256);
      assert.equal(reasonFor(spocMetric({ MaskedTenantId: id, MaskedVMName: id, PerfType: id, PerfName: id })),
        'MaskedTenantId and MaskedVMName take 512 characters of a table key once escaped; together they may take at most 494 ' +
        "(each / \\ # ? % | ' or control character takes 3 characters for each of its UTF-8 bytes)");
    });

    it('PerfType and PerfName of 256 characters each are rejected: the key would be 513 characters', () => {
      const id = 'x'.repeat(256);
      assert.equal(reasonFor(spocMetric({ PerfType: id, PerfName: id })),
        'PerfType and PerfName take 513 characters of a table key once escaped (as PerfType.PerfName); together they may take at most 495 ' +
        "(each / \\ # ? % | ' or control character takes 3 characters for each of its UTF-8 bytes)");
    });

    it('counts escapes: 100 slashes (300 characters once escaped) and a VM of 194 fit, a VM of 195 does not', () => {
      assertFitsEveryKey(accepts(spocMetric({ MaskedTenantId: '/'.repeat(100), MaskedVMName: 'v'.repeat(194) })));
      assert.match(reasonFor(spocMetric({ MaskedTenantId: '/'.repeat(100), MaskedVMName: 'v'.repeat(195) })), /^MaskedTenantId and MaskedVMName take 495 characters/);
      // U+0085 is two UTF-8 bytes: %C2%85, 6 characters.
      assert.match(reasonFor(spocMetric({ MaskedTenantId: '\u0085'.repeat(83), MaskedVMName: 'v' })), /^MaskedTenantId and MaskedVMName take 499 characters/);
    });

    it('an optional field of 256 characters that escapes to more than 494 is rejected; one of 257 characters is too long', () => {
      assert.match(reasonFor(spocMetric({ SiteName: '#'.repeat(165) })), /^SiteName takes 495 characters of a table key once escaped; at most 494/);
      assert.equal(reasonFor(spocMetric({ MachineSize: 'm'.repeat(257) })), 'MachineSize is longer than 256 characters');
    });

    it('the longest metrics it accepts fit every table key the projections build (512 characters)', () => {
      const longest = [
        { MaskedTenantId: 't'.repeat(238), MaskedVMName: 'v'.repeat(256), PerfType: 'p'.repeat(239), PerfName: 'n'.repeat(255) },
        { MaskedTenantId: '/'.repeat(82) + 'x'.repeat(174), MaskedVMName: 'v'.repeat(74), PerfType: '?'.repeat(81), PerfName: 'n'.repeat(251) },
        { MaskedTenantId: 'a', MaskedVMName: '\u0085'.repeat(82) + 'v', PerfType: '%'.repeat(164), PerfName: 'nn' },
        { MaskedTenantId: "'".repeat(163) + 'ab', MaskedVMName: "'", PerfType: '|', PerfName: '\u0001'.repeat(163) + 'nn' },
      ];
      for (const ids of longest) {
        const m = accepts(spocMetric({ ...ids, SiteName: '#'.repeat(164) + 'ab', Region: 'r'.repeat(256) }));
        assertFitsEveryKey(m);
      }
      // They are the longest: one more character anywhere is rejected.
      for (const ids of longest) {
        assert.match(reasonFor(spocMetric({ ...ids, MaskedVMName: `${ids.MaskedVMName}v` })), /MaskedVMName is longer than 256|together they may take at most 494/);
      }
    });
  });

  describe('any nesting: a rejected metric is kept as bounded text, never a throw', () => {
    it('a metric that is a 10,000-deep array is rejected with its text cut at 2048 characters', () => {
      const body = JSON.parse(`{"metrics":[${'['.repeat(10_000)}${']'.repeat(10_000)}]}`) as unknown;
      const { metrics, rejected } = validateSpocMessage(body, LIMITS);
      assert.equal(metrics.length, 0);
      assert.deepEqual(rejected, [{ index: 0, reason: 'a metric must be a JSON object', raw: `${'['.repeat(2048)}…` }]);
    });

    it('a metric holding a 5,000-deep object is rejected naming the field, the valid metric beside it accepted', () => {
      const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
      const text = `{"metrics":[${JSON.stringify(spocMetric()).replace('"SiteName":null', `"SiteName":${deep}`)},${JSON.stringify(spocMetric({ PerfValue: 7 }))}]}`;
      const { metrics, rejected } = parseSpocMessage(text, LIMITS);
      assert.deepEqual(metrics.map((m) => m.value), [7]);
      assert.equal(rejected[0].reason, 'SiteName must be a string or null, got object');
      assert.ok(rejected[0].raw.startsWith('{"timestamp":1648637647,"MaskedTenantId":"wYAVC3oWQU+ozhgAAg5f/w==637841132085596403","SiteName":{"a":{"a":'));
      assert.equal(rejected[0].raw.length, 2049);
    });
  });

  describe('the log says which gate admitted a record\'s metrics', () => {
    it('a record appended through the gate carries its version; one written before it carries none, and the fold judges its metrics', async () => {
      const log = new MemoryEventLog(() => ARRIVAL_MS);
      await new Ingestor(log, () => ARRIVAL_MS).ingest(validateSpocMessage({ metrics: [spocMetric()] }, LIMITS), 'http');
      await log.append([encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: 0, metrics: [metric({ t: 1_700_000_000 })], rejected: [] })]);

      const [admitted, older] = log.records.map((r) => decodeEvent(r.payload));

      assert.equal(METRIC_GATE_VERSION, 1);
      assert.deepEqual([admitted.type === 'MetricsReceived' && admitted.gate, older.type === 'MetricsReceived' && older.gate], [1, undefined]);
    });
  });

  describe('properties', () => {
    /** Characters that stress the gate: escaped ones, two-byte controls, surrogates alone and paired. */
    const hardChar = fc.constantFrom('/', '\\', '#', '?', '%', '|', "'", '\u0000', '\u007f', '\u0085', '\ud800', '\udc00', '😀', 'é', 'x');
    const id = fc.oneof(
      fc.string({ unit: hardChar, maxLength: 300 }),
      fc.tuple(hardChar, fc.integer({ min: 1, max: 260 })).map(([c, n]) => c.repeat(n)),
      fc.string({ unit: 'binary', maxLength: 40 }),
    );
    const metricLike = fc.record({
      timestamp: fc.oneof(fc.double(), fc.integer({ min: 900_000_000, max: 1_800_000_000 }), fc.constantFrom(1790000100000, -3600, 1e20)),
      MaskedTenantId: id, MaskedVMName: id, PerfType: id, PerfName: id,
      PerfValue: fc.oneof(fc.double(), fc.constantFrom(1e300, 1e308, -1e301)),
      SiteName: fc.option(id), Region: fc.option(id),
    }, { requiredKeys: [] });

    it('any JSON value or metric-like object as a metric is either accepted and fits every table key, or rejected with a reason', () => {
      fc.assert(fc.property(fc.array(fc.oneof(metricLike, fc.jsonValue(), fc.anything())), (items) => {
        const { metrics, rejected } = validateSpocMessage({ metrics: items }, LIMITS);
        assert.equal(metrics.length + rejected.length, items.length);
        for (const m of metrics) assertFitsEveryKey(m);
        for (const r of rejected) {
          assert.ok(typeof r.reason === 'string' && r.reason.length > 0);
          assert.ok(r.raw.length <= 2049);
        }
      }), { numRuns: 500 });
    });

    it('what the gate accepted at ingest, it accepts again at fold time with any later arrival', () => {
      fc.assert(fc.property(fc.array(metricLike), fc.nat(10 ** 9), (items, laterMs) => {
        for (const m of validateSpocMessage({ metrics: items }, LIMITS).metrics) {
          assert.equal(metricRejection(m, { ...LIMITS, arrivalMs: ARRIVAL_MS + laterMs }), undefined);
        }
      }), { numRuns: 300 });
    });

    it('boundedJson is JSON.stringify for what fits, and a prefix of it cut with … for what does not', () => {
      fc.assert(fc.property(fc.jsonValue(), fc.integer({ min: 1, max: 400 }), (value, max) => {
        const full = JSON.stringify(value);
        const cut = /[\ud800-\udbff]/.test(full[max - 1] ?? '') ? max - 1 : max;
        assert.equal(boundedJson(value, max), full.length <= max ? full : `${full.slice(0, cut)}…`);
      }), { numRuns: 500 });
    });
  });
});
