import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeEvent, decodeMetricColumns, encodeEvent } from '../../src/core/logCodec';
import { CorruptLogError } from '../../src/core/errors';
import type { MetricsReceived } from '../../src/core/events';
import type { Metric } from '../../src/core/metric';
import { metric, TENANT_A, TENANT_B, VM_1, VM_2 } from '../support/metricBuilders';

function received(fields: Partial<MetricsReceived> = {}): MetricsReceived {
  return { type: 'MetricsReceived', source: 'http', receivedAtMs: 1_648_637_700_123, metrics: [], rejected: [], ...fields };
}

function roundTrip(event: MetricsReceived): MetricsReceived {
  return decodeEvent(encodeEvent(event)) as MetricsReceived;
}

describe('logCodec', () => {
  describe('round trip of MetricsReceived', () => {
    it('keeps unicode ids and ids with / + = # ? \' characters', () => {
      const metrics = [
        metric({ t: 1, tenant: 'tenant/ü+ß==#?\'', vm: 'vm 🚀 ✓ \u0000 \u2028', key: 'win_disk.percent_idle_time' }),
        metric({ t: 2, tenant: TENANT_A, vm: VM_1, key: '日本語.キー' }),
        metric({ t: 3, tenant: TENANT_B, vm: VM_2, key: "a'b\"c\\d.e?f#g" }),
      ];
      const event = received({ metrics });

      assert.deepStrictEqual(roundTrip(event), event);
    });

    it('keeps null optional fields null and absent ones absent', () => {
      const metrics: Metric[] = [
        metric({ t: 10, siteName: null, resourcePoolName: 'pool', region: null, machineSize: 'Standard_D4s_v4' }),
        metric({ t: 11 }),
        metric({ t: 12, region: '' }),
      ];

      const decoded = roundTrip(received({ metrics })).metrics;

      assert.deepStrictEqual(decoded, metrics);
      assert.equal(decoded[0].siteName, null);
      assert.equal('siteName' in decoded[1], false);
      assert.equal(decoded[2].region, '');
    });

    it('keeps fractional timestamps, negative values, -0 and extreme doubles exactly', () => {
      const metrics = [
        metric({ t: 1648637647.123456, value: -0.000001 }),
        metric({ t: 0.1 + 0.2, value: -1e300 }),
        metric({ t: -60.5, value: -0 }),
        metric({ t: Number.MAX_SAFE_INTEGER, value: Number.MIN_VALUE }),
      ];

      const decoded = roundTrip(received({ metrics })).metrics;

      assert.deepStrictEqual(decoded.map((m) => [m.t, m.value]), [
        [1648637647.123456, -0.000001],
        [0.30000000000000004, -1e300],
        [-60.5, -0],
        [9007199254740991, 5e-324],
      ]);
      assert.ok(Object.is(decoded[2].value, -0));
    });

    it('keeps the rejected list, the source and the reception time', () => {
      const rejected = [
        { index: 0, reason: 'timestamp is missing', raw: '{"PerfValue":1}' },
        { index: 7, reason: 'MaskedVMName must not be empty', raw: '{"MaskedVMName":"","x":"ü🚀"}' },
      ];
      const event = received({ source: 'servicebus', receivedAtMs: 42, rejected, metrics: [metric({ t: 5 })] });

      const decoded = roundTrip(event);

      assert.deepStrictEqual(decoded, event);
      assert.equal(decoded.source, 'servicebus');
      assert.equal(decoded.receivedAtMs, 42);
    });

    it('keeps an idempotency key when present and leaves it absent when not', () => {
      const withKey = roundTrip(received({ idempotencyKey: 'abc/+=#?-1' }));
      const withoutKey = roundTrip(received());

      assert.equal(withKey.idempotencyKey, 'abc/+=#?-1');
      assert.equal('idempotencyKey' in withoutKey, false);
    });

    it('round-trips a message whose metrics were all rejected (no rows)', () => {
      const event = received({ source: 'cli', rejected: [{ index: 0, reason: 'a metric must be a JSON object', raw: '1' }] });

      assert.deepStrictEqual(roundTrip(event), event);
    });

    it('property: any MetricsReceived decodes to itself', () => {
      const id = fc.string({ unit: 'binary', minLength: 1, maxLength: 20 });
      const optional = fc.oneof(fc.constant(null), fc.string({ unit: 'binary', maxLength: 12 }));
      const metricArb: fc.Arbitrary<Metric> = fc.record(
        {
          t: fc.double(),
          tenant: fc.oneof(id, fc.constantFrom(TENANT_A, TENANT_B)),
          vm: fc.oneof(id, fc.constantFrom(VM_1, VM_2)),
          key: id,
          value: fc.double(),
          siteName: optional,
          resourcePoolName: optional,
          region: optional,
          machineSize: optional,
        },
        { requiredKeys: ['t', 'tenant', 'vm', 'key', 'value'], noNullPrototype: true },
      );
      const eventArb: fc.Arbitrary<MetricsReceived> = fc.record(
        {
          type: fc.constant('MetricsReceived' as const),
          source: fc.constantFrom('http' as const, 'cli' as const, 'servicebus' as const, 'simulator' as const),
          receivedAtMs: fc.nat(),
          idempotencyKey: fc.string({ unit: 'binary', maxLength: 40 }),
          metrics: fc.array(metricArb, { maxLength: 30 }),
          rejected: fc.array(fc.record({ index: fc.nat(), reason: fc.string(), raw: fc.string({ unit: 'binary' }) }, { noNullPrototype: true }), { maxLength: 5 }),
        },
        { requiredKeys: ['type', 'source', 'receivedAtMs', 'metrics', 'rejected'], noNullPrototype: true },
      );

      fc.assert(fc.property(eventArb, (event) => {
        assert.deepStrictEqual(decodeEvent(encodeEvent(event)), event);
      }), { numRuns: 300 });
    });
  });

  describe('metrics as columns (what the windows fold reads)', () => {
    it('gives each metric\'s time, value, tenant, VM and key by index, the gate and the reception time, as the event holds them', () => {
      const metrics = [
        metric({ t: 1648637647.5, value: -0, tenant: 'tenant/ü+ß==#?\'', vm: 'vm 🚀', key: 'win_cpu.percent', region: 'westeurope' }),
        metric({ t: 60, value: 1e300, tenant: TENANT_B, vm: VM_2, key: '日本語.キー', siteName: null }),
        metric({ t: 61, value: 7, tenant: 'tenant/ü+ß==#?\'', vm: 'vm 🚀', key: 'win_cpu.percent' }),
      ];

      const decoded = decodeMetricColumns(encodeEvent(received({ metrics, gate: 2, receivedAtMs: 1_700_000_000_123 })));

      assert.deepStrictEqual(decoded, {
        columns: {
          length: 3,
          t: [1648637647.5, 60, 61],
          value: [-0, 1e300, 7],
          tenant: ['tenant/ü+ß==#?\'', TENANT_B, 'tenant/ü+ß==#?\''],
          vm: ['vm 🚀', VM_2, 'vm 🚀'],
          key: ['win_cpu.percent', '日本語.キー', 'win_cpu.percent'],
        },
        gate: 2,
        receivedAtMs: 1_700_000_000_123,
      });
      assert.ok(Object.is(decoded!.columns.value[0], -0));
    });

    it('says gate 0 for a record written before the gate, and nothing for a record of another type', () => {
      assert.equal(decodeMetricColumns(encodeEvent(received({ metrics: [metric({ t: 1 })] })))!.gate, 0);
      const backlog = encodeEvent({ type: 'BacklogSampled', source: 'servicenow', recordedAtMs: 0, samples: [{ team: 'EUC', sampledAtMs: 1_700_000_000_000, count: 40 }] });
      assert.equal(decodeMetricColumns(backlog), undefined);
      assert.equal(decodeMetricColumns(Buffer.alloc(0)), undefined);
    });

    it('throws CorruptLogError for every truncation of a valid metrics payload, and for trailing bytes, as decodeEvent does', () => {
      const payload = encodeEvent(received({ metrics: [metric({ t: 1 }), metric({ t: 2, tenant: TENANT_B })], rejected: [{ index: 2, reason: 'x', raw: '{}' }] }));
      for (let length = 1; length < payload.length; length++) {
        assert.throws(() => decodeMetricColumns(payload.subarray(0, length)), (e: unknown) => e instanceof CorruptLogError && e.retriable === false, `truncated to ${length}`);
      }
      assert.throws(() => decodeMetricColumns(Buffer.concat([payload, Buffer.from([0])])), /length does not match its row count/);
      const future = Buffer.from(payload);
      future[1] = 99;
      assert.throws(() => decodeMetricColumns(future), /unsupported metrics record version 99/);
    });
  });

  describe('corrupt payloads', () => {
    const payload = encodeEvent(received({
      idempotencyKey: 'k',
      metrics: [metric({ t: 1 }), metric({ t: 2, tenant: TENANT_B, siteName: null })],
      rejected: [{ index: 2, reason: 'PerfValue is missing', raw: '{}' }],
    }));

    it('throws CorruptLogError for every truncation of a valid payload', () => {
      for (let length = 0; length < payload.length; length++) {
        assert.throws(
          () => decodeEvent(payload.subarray(0, length)),
          (e: unknown) => e instanceof CorruptLogError && e.code === 'corrupt_log',
          `truncated to ${length} of ${payload.length} bytes`,
        );
      }
    });

    it('throws CorruptLogError for a payload with trailing bytes', () => {
      assert.throws(() => decodeEvent(Buffer.concat([payload, Buffer.from([0])])), CorruptLogError);
    });

    it('throws CorruptLogError for an unknown event type', () => {
      const unknown = Buffer.from(payload);
      unknown[0] = 0x7f;

      assert.throws(() => decodeEvent(unknown), (e: unknown) => e instanceof CorruptLogError && /unknown event type/.test(e.message));
    });

    it('throws CorruptLogError for an unknown record version', () => {
      const future = Buffer.from(payload);
      future[1] = 99;

      assert.throws(() => decodeEvent(future), CorruptLogError);
    });

    it('reports a corrupt payload as not retriable', () => {
      assert.throws(() => decodeEvent(Buffer.alloc(0)), (e: unknown) => e instanceof CorruptLogError && e.retriable === false);
    });
  });
});
