import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/core/errors';
import { describeSettings, loadSettings } from '../../src/config/settings';

const AZURITE = 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;';

/** The ConfigError loadSettings throws for this environment. */
function refusal(env: Record<string, string>): ConfigError {
  try {
    loadSettings({}, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('the settings were accepted');
}

describe('settings never echo a secret', () => {
  it('when SERVICENOW_INSTANCE_URL carries user:password@, it is refused naming the setting and the password is not in the message', () => {
    for (const url of ['http://admin:hunter2@example.com', 'https://admin:hunter2@acme.service-now.com']) {
      const error = refusal({ SERVICENOW_INSTANCE_URL: url });
      assert.equal(error.setting, 'SERVICENOW_INSTANCE_URL');
      assert.match(error.message, /must not carry credentials/);
      assert.doesNotMatch(error.message, /hunter2|admin/);
    }
  });

  it('when a connection string is malformed, the message names its setting and what is missing, never the value', () => {
    const cases: [string, string, RegExp][] = [
      ['TABLES_CONNECTION_STRING', 'garbage-s3cret', /no Key=Value; pairs/],
      ['TABLES_CONNECTION_STRING', 'AccountName=x;AccountKey=s3cret', /needs DefaultEndpointsProtocol=https or a TableEndpoint/],
      ['TABLES_CONNECTION_STRING', 'DefaultEndpointsProtocol=https;AccountKey=s3cret', /no AccountName/],
      ['TABLES_CONNECTION_STRING', 'AccountName=x;AccountKey=s3cret;TableEndpoint=s3cret-host', /TableEndpoint is not an http\(s\) URL/],
      ['CHECKPOINT_STORAGE_CONNECTION_STRING', 'SharedAccessSignature=sv=s3cret', /SharedAccessSignature needs a BlobEndpoint/],
      ['EVENTHUBS_CONNECTION_STRING', 'AccountName=x;AccountKey=s3cret', /no Endpoint=sb:\/\//],
      ['SERVICEBUS_CONNECTION_STRING', 'Endpoint=https://s3cret.example;SharedAccessKeyName=k;SharedAccessKey=s3cret', /Endpoint must start with sb:\/\//],
      ['SERVICEBUS_CONNECTION_STRING', 'Endpoint=sb://ns.example;SharedAccessKeyName=k', /no SharedAccessKey$|no SharedAccessKey /],
    ];
    for (const [setting, value, why] of cases) {
      const error = refusal({ [setting]: value });
      assert.equal(error.setting, setting, value);
      assert.match(error.message, new RegExp(`^${setting} is not a`));
      assert.match(error.message, why, value);
      assert.doesNotMatch(error.message, /s3cret/);
    }
  });

  it('when connection strings are well formed (Azurite, the AMQP emulator, development storage), they are accepted and shown masked', () => {
    const env = {
      TABLES_CONNECTION_STRING: AZURITE,
      CHECKPOINT_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
      EVENTHUBS_CONNECTION_STRING: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=x;UseDevelopmentEmulator=true',
      SERVICEBUS_CONNECTION_STRING: 'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessSignature=SharedAccessSignature sr=a&sig=b',
    };
    const { settings, sources } = loadSettings({}, env);
    assert.equal(settings.tablesConnectionString, AZURITE);
    const shown = Object.fromEntries(describeSettings(settings, sources).map((s) => [s.env, s.value]));
    for (const name of Object.keys(env)) assert.equal(shown[name], '****', name);
  });
});
