import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { collectSettings, loadSettings } from '../../src/config/settings';
import { captureArchiveFrom, namespaceName } from '../../src/adapters/capture/captureArchiveFrom';
import { ConfigError } from '../../src/core/errors';

const ACCOUNT = 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net';

describe('the Capture settings', () => {
  it("are off unless set, with Capture's own default name format", () => {
    const { settings } = loadSettings({}, {});
    assert.equal(settings.captureStorageConnectionString, undefined);
    assert.equal(settings.captureNameFormat, '{Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}');
    assert.equal(captureArchiveFrom(settings), undefined);
  });

  it('refuse a malformed connection string, an http URL, a bad container name and a name format without every field, each named', () => {
    const { problems } = collectSettings({}, {
      CAPTURE_STORAGE_CONNECTION_STRING: 'AccountName=acct', CAPTURE_STORAGE_URL: 'http://acct.blob.core.windows.net',
      CAPTURE_CONTAINER: 'Capture_Files', CAPTURE_NAME_FORMAT: '{Namespace}/{EventHub}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}',
    });
    assert.deepEqual(problems.map((p) => p.env), ['CAPTURE_STORAGE_CONNECTION_STRING', 'CAPTURE_STORAGE_URL', 'CAPTURE_CONTAINER', 'CAPTURE_NAME_FORMAT']);
    assert.match(problems[2].error.message, /Blob container name .*"Capture_Files"/);
    assert.match(problems[3].error.message, /\{PartitionId\} is missing/);
  });

  it('refuse half a configuration and a contradictory one, naming both settings', () => {
    const wrong = (env: Record<string, string>) => collectSettings({}, env).problems.map((p) => [p.env, p.error.message]);
    assert.deepEqual(wrong({ CAPTURE_CONTAINER: 'capture' }).map(([env]) => env), ['CAPTURE_STORAGE_CONNECTION_STRING']);
    assert.deepEqual(wrong({ CAPTURE_STORAGE_CONNECTION_STRING: ACCOUNT }), [['CAPTURE_CONTAINER', 'CAPTURE_CONTAINER is not set: the Blob container that Event Hubs Capture writes to']]);
    const both = wrong({ CAPTURE_STORAGE_CONNECTION_STRING: ACCOUNT, CAPTURE_STORAGE_URL: 'https://acct.blob.core.windows.net', CAPTURE_CONTAINER: 'capture' });
    assert.equal(both.length, 1);
    assert.match(both[0][1], /CAPTURE_STORAGE_CONNECTION_STRING or CAPTURE_STORAGE_URL, not both/);
    assert.throws(() => loadSettings({}, { CAPTURE_CONTAINER: 'capture' }), (e: unknown) => e instanceof ConfigError && e.setting === 'CAPTURE_STORAGE_CONNECTION_STRING');
  });

  it('name the namespace as Capture does: the first label of the Event Hubs host', () => {
    assert.equal(namespaceName({ eventHubsConnectionString: 'Endpoint=sb://my-ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=x', eventHubsNamespace: undefined }), 'my-ns');
    assert.equal(namespaceName({ eventHubsConnectionString: undefined, eventHubsNamespace: 'other.servicebus.windows.net' }), 'other');
    assert.equal(namespaceName({ eventHubsConnectionString: 'Endpoint=sb://127.0.0.1:5671;SharedAccessKeyName=k;SharedAccessKey=x', eventHubsNamespace: undefined }), '127.0.0.1');
  });
});
