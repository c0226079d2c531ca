import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpocMessage, validateSpocMessage } from '../../src/core/validateSpoc';
import { InvalidInputError } from '../../src/core/errors';
import { spocMetric, TENANT_A, VM_1 } from '../support/metricBuilders';

/** Every metric here arrives on 2026-01-01, after all their timestamps. */
const LIMITS = { arrivalMs: Date.UTC(2026, 0, 1), maxFutureSeconds: 300 };

/** Validates a message whose only metric is `item` and returns its single rejection. */
function rejectOne(item: unknown): { index: number; reason: string; raw: string } {
  const { metrics, rejected } = validateSpocMessage({ metrics: [item] }, LIMITS);
  assert.equal(metrics.length, 0, 'the metric should have been rejected');
  assert.equal(rejected.length, 1);
  return rejected[0];
}

describe('validateSpocMessage', () => {
  describe('given a valid SPOC metric', () => {
    it('accepts it and maps the fields, with key = PerfType + "." + PerfName', () => {
      const { metrics, rejected } = validateSpocMessage({ metrics: [spocMetric()] }, LIMITS);

      assert.deepEqual(rejected, []);
      assert.deepEqual(metrics, [{
        t: 1648637647,
        tenant: 'wYAVC3oWQU+ozhgAAg5f/w==637841132085596403',
        vm: 'Sharedfk6hZ4v5Xkmu0clBsg+aYw==63784',
        key: 'win_service.WinDefend',
        value: 1,
        siteName: null,
        resourcePoolName: 'Shared-ngXXH',
        region: 'centralindia',
        machineSize: 'Standard_D4s_v4',
      }]);
    });

    it('leaves absent optional fields absent, and keeps null and string values as sent', () => {
      const item = spocMetric({ SiteName: 'site-1', ResourcePoolName: null, Region: undefined, MachineSize: undefined });

      const [m] = validateSpocMessage({ metrics: [item] }, LIMITS).metrics;

      assert.equal(m.siteName, 'site-1');
      assert.equal(m.resourcePoolName, null);
      assert.equal('region' in m, false);
      assert.equal('machineSize' in m, false);
    });

    it('keeps fractional timestamps, negative and zero values, and ids of exactly 256 characters where the table keys hold them', () => {
      const id256 = 'a/+='.repeat(64); // 384 characters once escaped ('/' is '%2F')
      const items = [
        spocMetric({ timestamp: 1648637647.25, PerfValue: -3.5 }),
        spocMetric({ PerfValue: 0, MaskedTenantId: id256, MaskedVMName: 'vm', PerfType: 'x'.repeat(256), PerfName: 'y'.repeat(238) }),
      ];

      const { metrics, rejected } = validateSpocMessage({ metrics: items }, LIMITS);

      assert.deepEqual(rejected, []);
      assert.equal(metrics[0].t, 1648637647.25);
      assert.equal(metrics[0].value, -3.5);
      assert.equal(metrics[1].value, 0);
      assert.equal(metrics[1].tenant.length, 256);
      assert.equal(metrics[1].key, `${'x'.repeat(256)}.${'y'.repeat(238)}`);
    });

    it('accepts an empty metrics array as nothing accepted and nothing rejected', () => {
      assert.deepEqual(validateSpocMessage({ metrics: [] }, LIMITS), { metrics: [], rejected: [], gate: 1 });
    });
  });

  describe('given invalid metrics among valid ones', () => {
    it('rejects each with its index in the message and keeps the valid ones in order', () => {
      const items = [
        spocMetric({ PerfValue: 10 }),
        spocMetric({ timestamp: undefined }),
        spocMetric({ PerfValue: 20 }),
        spocMetric({ MaskedVMName: '' }),
      ];

      const { metrics, rejected } = validateSpocMessage({ metrics: items }, LIMITS);

      assert.deepEqual(metrics.map((m) => m.value), [10, 20]);
      assert.deepEqual(rejected.map((r) => r.index), [1, 3]);
      assert.match(rejected[0].reason, /timestamp.*missing/);
      assert.match(rejected[1].reason, /MaskedVMName.*empty/);
    });

    it('keeps the rejected metric as it arrived, as JSON text', () => {
      const item = spocMetric({ PerfValue: 'high' });

      const rejection = rejectOne(item);

      assert.equal(rejection.raw, JSON.stringify(item));
    });

    it('truncates the raw text of a huge rejected metric to a few KB', () => {
      const item = spocMetric({ PerfValue: 'x'.repeat(100_000) });

      const rejection = rejectOne(item);

      assert.ok(rejection.raw.length < 10_000, `raw is ${rejection.raw.length} characters`);
      assert.ok(rejection.raw.startsWith('{'));
    });
  });

  describe('rejection reasons', () => {
    it('a missing timestamp is rejected as missing', () => {
      assert.match(rejectOne(spocMetric({ timestamp: undefined })).reason, /^timestamp is missing$/);
    });

    it('a timestamp sent as the string "1648637647" is rejected as not a number', () => {
      const { reason } = rejectOne(spocMetric({ timestamp: '1648637647' }));
      assert.match(reason, /timestamp must be a number/);
      assert.match(reason, /string/);
    });

    it('a timestamp of 1e999 (Infinity after JSON.parse) is rejected as not finite', () => {
      const body = JSON.parse(`{"metrics":[${JSON.stringify(spocMetric()).replace('1648637647', '1e999')}]}`) as { metrics: { timestamp: number }[] };
      assert.equal(body.metrics[0].timestamp, Infinity, 'precondition: JSON.parse turns 1e999 into Infinity');

      const { rejected } = validateSpocMessage(body, LIMITS);

      assert.equal(rejected.length, 1);
      assert.match(rejected[0].reason, /timestamp must be a finite number/);
    });

    it('a PerfValue of -1e999 in message text is rejected as not finite', () => {
      const text = `{"metrics":[${JSON.stringify(spocMetric()).replace('"PerfValue":1', '"PerfValue":-1e999')}]}`;

      const { metrics, rejected } = parseSpocMessage(text, LIMITS);

      assert.equal(metrics.length, 0);
      assert.equal(rejected[0].index, 0);
      assert.match(rejected[0].reason, /PerfValue must be a finite number/);
    });

    for (const [label, value] of [['a string', '1'], ['null', null], ['a boolean', true], ['an object', { v: 1 }], ['an array', [1]]] as const) {
      it(`a PerfValue that is ${label} is rejected as not a number`, () => {
        assert.match(rejectOne(spocMetric({ PerfValue: value })).reason, /^PerfValue must be a number/);
      });
    }

    it('a missing PerfValue is rejected as missing', () => {
      assert.match(rejectOne(spocMetric({ PerfValue: undefined })).reason, /^PerfValue is missing$/);
    });

    for (const field of ['MaskedTenantId', 'MaskedVMName', 'PerfType', 'PerfName']) {
      it(`an empty ${field} is rejected as empty`, () => {
        assert.match(rejectOne(spocMetric({ [field]: '' })).reason, new RegExp(`^${field} must not be empty$`));
      });

      it(`a missing or null ${field} is rejected as missing`, () => {
        assert.match(rejectOne(spocMetric({ [field]: undefined })).reason, new RegExp(`^${field} is missing$`));
        assert.match(rejectOne(spocMetric({ [field]: null })).reason, new RegExp(`^${field} is missing$`));
      });

      it(`a ${field} that is not a string is rejected`, () => {
        assert.match(rejectOne(spocMetric({ [field]: 42 })).reason, new RegExp(`^${field} must be a string, got number$`));
      });

      it(`a ${field} of 257 characters is rejected as too long`, () => {
        assert.match(rejectOne(spocMetric({ [field]: 'x'.repeat(257) })).reason, new RegExp(`^${field} is longer than 256 characters$`));
      });
    }

    for (const field of ['SiteName', 'ResourcePoolName', 'Region', 'MachineSize']) {
      it(`an optional ${field} that is a number is rejected`, () => {
        assert.match(rejectOne(spocMetric({ [field]: 7 })).reason, new RegExp(`^${field} must be a string or null, got number$`));
      });
    }

    for (const [label, item] of [['null', null], ['a number', 5], ['a string', 'metric'], ['an array', [spocMetric()]]] as const) {
      it(`a metric that is ${label} is rejected as not an object`, () => {
        assert.match(rejectOne(item).reason, /^a metric must be a JSON object$/);
      });
    }
  });

  describe('given a message that is not a SPOC message', () => {
    for (const [label, body] of [['null', null], ['an array', [spocMetric()]], ['a string', 'metrics'], ['a number', 1]] as const) {
      it(`throws InvalidInputError invalid_message when the body is ${label}`, () => {
        assert.throws(() => validateSpocMessage(body, LIMITS), (e: unknown) => e instanceof InvalidInputError && e.code === 'invalid_message');
      });
    }

    it('throws InvalidInputError invalid_message, naming "metrics", when there is no metrics array', () => {
      for (const body of [{}, { metrics: null }, { metrics: { 0: spocMetric() } }, { Metrics: [spocMetric()] }]) {
        assert.throws(
          () => validateSpocMessage(body, LIMITS),
          (e: unknown) => e instanceof InvalidInputError && e.code === 'invalid_message' && e.parameter === 'metrics',
        );
      }
    });
  });
});

describe('parseSpocMessage', () => {
  it('parses and validates message text', () => {
    const text = JSON.stringify({ metrics: [spocMetric(), spocMetric({ PerfType: undefined })] });

    const { metrics, rejected } = parseSpocMessage(text, LIMITS);

    assert.equal(metrics.length, 1);
    assert.equal(metrics[0].tenant, TENANT_A);
    assert.equal(metrics[0].vm, VM_1);
    assert.deepEqual(rejected.map((r) => [r.index, r.reason]), [[1, 'PerfType is missing']]);
  });

  for (const text of ['', '{"metrics": [', 'not json', "{'metrics': []}"]) {
    it(`throws InvalidInputError invalid_json, with the parse error as cause, for ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseSpocMessage(text, LIMITS),
        (e: unknown) => e instanceof InvalidInputError && e.code === 'invalid_json' && e.cause instanceof SyntaxError,
      );
    });
  }

  it('throws invalid_message (not invalid_json) for valid JSON without a metrics array', () => {
    assert.throws(() => parseSpocMessage('{"values": []}', LIMITS), (e: unknown) => e instanceof InvalidInputError && e.code === 'invalid_message');
  });
});
