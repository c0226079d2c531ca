import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { collectSettings, loadSettings } from '../../src/config/settings';
import { ConfigError } from '../../src/core/errors';

describe('every wrong setting is found, not only the first', () => {
  const env = { PORT: 'abc', BACKLOG_POLL_AT: '25:00', HOST: '0.0.0.0', TABLES_CONNECTION_STRING: 'AccountKey=s3cret' };

  it('collectSettings lists each wrong setting with a message naming it, and keeps the right ones', () => {
    const { settings, problems } = collectSettings({}, env);
    assert.deepEqual(problems.map((p) => p.env), ['PORT', 'TABLES_CONNECTION_STRING', 'BACKLOG_POLL_AT']);
    assert.equal(problems[0].error.message, 'PORT must be a whole number, got "abc"');
    assert.match(problems[2].error.message, /^BACKLOG_POLL_AT .*"25:00"/);
    assert.ok(!problems[1].error.message.includes('s3cret'), 'a secret is never echoed');
    assert.equal(settings.host, '0.0.0.0');
    assert.equal(settings.port, undefined);
  });

  it('loadSettings still stops at the first', () => {
    assert.throws(() => loadSettings({}, env), (e: unknown) => e instanceof ConfigError && e.setting === 'PORT');
  });
});

describe('OPSFOLD_CORS_ORIGINS', () => {
  const origins = (value: string) => loadSettings({}, { OPSFOLD_CORS_ORIGINS: value }).settings.corsOrigins;

  it('is off unless set', () => {
    assert.equal(loadSettings({}, {}).settings.corsOrigins, undefined);
  });

  it('is a comma-separated list of origins, written as a browser sends them in Origin', () => {
    assert.deepEqual(origins(' https://Grafana.Example.com:443 , http://localhost:3000,http://localhost:3000'), ['https://grafana.example.com', 'http://localhost:3000']);
    assert.deepEqual(origins('https://grafana.example.com/'), ['https://grafana.example.com']);
    assert.deepEqual(origins('*'), ['*']);
  });

  it('refuses a path, another scheme, credentials, and * beside origins', () => {
    for (const [value, reason] of [
      ['https://grafana.example.com/d/x', /no path/],
      ['ftp://grafana.example.com', /only http and https/],
      ['grafana.example.com', /not a URL|only http and https/],
      ['https://u:p@grafana.example.com', /no credentials/],
      ['*,https://grafana.example.com', /\* alone/],
      [' , ', /must list origins/],
    ] as const) {
      assert.throws(() => origins(value), (e: unknown) => e instanceof ConfigError && e.setting === 'OPSFOLD_CORS_ORIGINS' && reason.test(e.message) && !e.message.includes('u:p@'), value);
    }
  });
});
