import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serviceBusClientFrom } from '../../src/adapters/serviceBus/serviceBusClientFrom';
import { spocMessageFromBody } from '../../src/adapters/serviceBus/spocMessageFromBody';
import { loadSettings } from '../../src/config/settings';
import { ConfigError, InvalidInputError } from '../../src/core/errors';
import { MAX_SPOC_MESSAGE_BYTES } from '../../src/core/validateSpoc';
import { arrivingNow, spocMetric } from '../support/metricBuilders';

const CONNECTION_STRING = 'Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=s3cret';

function rejectsWithSetting(action: () => unknown, setting: string, message: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `a ConfigError, got ${String(error)}`);
    assert.equal(error.setting, setting);
    assert.match(error.message, message);
    assert.ok(!error.message.includes('s3cret'), 'the key is never echoed');
    return true;
  });
}

describe('Service Bus settings', () => {
  it('reads SERVICEBUS_* from the environment, with the queue spoc-metrics and 4 at once by default', () => {
    const { settings } = loadSettings({}, { SERVICEBUS_NAMESPACE: 'myns.servicebus.windows.net' });
    assert.equal(settings.serviceBusNamespace, 'myns.servicebus.windows.net');
    assert.equal(settings.serviceBusConnectionString, undefined);
    assert.equal(settings.serviceBusQueue, 'spoc-metrics');
    assert.equal(settings.serviceBusConcurrency, 4);
  });

  it('refuses a concurrency that is not a positive whole number, naming SERVICEBUS_CONCURRENCY', () => {
    rejectsWithSetting(() => loadSettings({}, { SERVICEBUS_CONCURRENCY: '0' }), 'SERVICEBUS_CONCURRENCY', /between 1 and 256/);
    rejectsWithSetting(() => loadSettings({}, { SERVICEBUS_CONCURRENCY: 'four' }), 'SERVICEBUS_CONCURRENCY', /whole number/);
  });

  const base = { serviceBusQueue: 'spoc-metrics' };

  it('builds a client from a connection string, or from a namespace host with DefaultAzureCredential', async () => {
    const fromString = serviceBusClientFrom({ ...base, serviceBusConnectionString: CONNECTION_STRING });
    const fromNamespace = serviceBusClientFrom({ ...base, serviceBusNamespace: 'sb://other.servicebus.windows.net/' });
    try {
      assert.equal(fromString.fullyQualifiedNamespace, 'myns.servicebus.windows.net');
      assert.equal(fromNamespace.fullyQualifiedNamespace, 'other.servicebus.windows.net');
    } finally {
      await fromString.close();
      await fromNamespace.close();
    }
  });

  it('needs one of the two settings, and refuses both at once', () => {
    rejectsWithSetting(() => serviceBusClientFrom(base), 'SERVICEBUS_CONNECTION_STRING', /set SERVICEBUS_CONNECTION_STRING or SERVICEBUS_NAMESPACE/);
    rejectsWithSetting(
      () => serviceBusClientFrom({ ...base, serviceBusConnectionString: CONNECTION_STRING, serviceBusNamespace: 'myns.servicebus.windows.net' }),
      'SERVICEBUS_NAMESPACE',
      /not both/,
    );
  });

  it('names SERVICEBUS_NAMESPACE when it is not a host name, and suggests the full name for a bare one', () => {
    rejectsWithSetting(() => serviceBusClientFrom({ ...base, serviceBusNamespace: 'myns' }), 'SERVICEBUS_NAMESPACE', /did you mean myns\.servicebus\.windows\.net\?/);
    rejectsWithSetting(() => serviceBusClientFrom({ ...base, serviceBusNamespace: 'https://myns.servicebus.windows.net/x' }), 'SERVICEBUS_NAMESPACE', /host name/);
    rejectsWithSetting(() => serviceBusClientFrom({ ...base, serviceBusNamespace: 'my ns.servicebus.windows.net' }), 'SERVICEBUS_NAMESPACE', /host name/);
  });

  it('names SERVICEBUS_CONNECTION_STRING when it is malformed, without echoing the key', () => {
    rejectsWithSetting(() => serviceBusClientFrom({ ...base, serviceBusConnectionString: 's3cret' }), 'SERVICEBUS_CONNECTION_STRING', /not a Service Bus connection string/);
    rejectsWithSetting(
      () => serviceBusClientFrom({ ...base, serviceBusConnectionString: 'Endpoint=https://myns.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=s3cret' }),
      'SERVICEBUS_CONNECTION_STRING',
      /must start with sb:\/\//,
    );
    rejectsWithSetting(() => serviceBusClientFrom({ ...base, serviceBusConnectionString: 'Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKey=s3cret' }), 'SERVICEBUS_CONNECTION_STRING', /SharedAccessKeyName/);
  });

  it('names SERVICEBUS_QUEUE when the connection string is scoped to another queue', () => {
    rejectsWithSetting(() => serviceBusClientFrom({ ...base, serviceBusConnectionString: `${CONNECTION_STRING};EntityPath=other` }), 'SERVICEBUS_QUEUE', /EntityPath/);
  });
});

describe('spocMessageFromBody', () => {
  const message = { metrics: [spocMetric({ PerfValue: 5 })] };
  const values = (body: unknown) => spocMessageFromBody(body, arrivingNow()).metrics.map((m) => m.value);

  it('reads UTF-8 JSON bytes, JSON text, an already parsed object, and a JSON string holding the message', () => {
    assert.deepEqual(values(Buffer.from(JSON.stringify(message))), [5]);
    assert.deepEqual(values(new Uint8Array(Buffer.from(JSON.stringify(message)))), [5]);
    assert.deepEqual(values(JSON.stringify(message)), [5]);
    assert.deepEqual(values(message), [5]);
    assert.deepEqual(values(Buffer.from(JSON.stringify(JSON.stringify(message)))), [5]);
  });

  function code(body: unknown): string {
    try {
      spocMessageFromBody(body, arrivingNow());
    } catch (error) {
      assert.ok(error instanceof InvalidInputError);
      return error.code;
    }
    return 'accepted';
  }

  it('classifies what is not a SPOC message by the code the dead-letter reason comes from', () => {
    assert.equal(code(Buffer.from('{"metrics": [')), 'invalid_json');
    assert.equal(code(Buffer.from('{"values": []}')), 'invalid_message');
    assert.equal(code(Buffer.from(JSON.stringify('hello'))), 'invalid_message');
    assert.equal(code(undefined), 'invalid_message');
    assert.equal(code(42), 'invalid_message');
  });

  it('a body nested 10,000 deep is a message with one rejected metric, or (as an AMQP value) not a SPOC message: never a throw of anything else', () => {
    const deep = (depth: number): unknown => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    const text = `{"metrics":[${'['.repeat(10_000)}${']'.repeat(10_000)},${JSON.stringify(spocMetric({ PerfValue: 5 }))}]}`;
    const validated = spocMessageFromBody(Buffer.from(text), arrivingNow());
    assert.deepEqual(validated.metrics.map((m) => m.value), [5]);
    assert.deepEqual(validated.rejected.map((r) => [r.index, r.reason]), [[0, 'a metric must be a JSON object']]);
    // An AMQP map whose value is nested too deeply for JSON.stringify: dead-lettered as not a SPOC message.
    assert.equal(code({ metrics: [deep(100_000)] }), 'invalid_message');
  });

  it('measures the bytes as sent: exactly the limit passes, one byte more is too large', () => {
    const padded = (bytes: number) => {
      const text = JSON.stringify({ metrics: [], pad: '' });
      return Buffer.from(JSON.stringify({ metrics: [], pad: 'x'.repeat(bytes - Buffer.byteLength(text)) }));
    };
    assert.equal(padded(MAX_SPOC_MESSAGE_BYTES).length, MAX_SPOC_MESSAGE_BYTES);
    assert.equal(code(padded(MAX_SPOC_MESSAGE_BYTES)), 'accepted');
    assert.equal(code(padded(MAX_SPOC_MESSAGE_BYTES + 1)), 'message_too_large');
  });
});
