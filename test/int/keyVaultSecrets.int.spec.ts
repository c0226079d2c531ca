import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { resolveSecrets } from '../../src/config/secrets';
import { loadSettings } from '../../src/config/settings';
import { UpstreamError } from '../../src/core/errors';
import { FakeKeyVault, VAULT_TOKEN } from '../support/fakeKeyVault';

describe('secrets from Key Vault (a local HTTPS stand-in with a self-signed certificate)', () => {
  let vault: FakeKeyVault;
  let scopes: string[];
  const credential: TokenCredential = {
    async getToken(scope): Promise<AccessToken> {
      scopes.push(...(Array.isArray(scope) ? scope : [scope]));
      return { token: VAULT_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
  /** The stand-in's certificate is trusted through the SDK's TLS options; its host is no vault.azure.net. */
  const clientOptions = () => ({ tlsOptions: { ca: vault.cert }, disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } });
  const settings = (env: Record<string, string>) => loadSettings({}, { KEY_VAULT_URL: vault.url, ...env }).settings;

  before(async () => {
    vault = await FakeKeyVault.start({ 'servicenow-username': 'svc.opsfold', 'servicenow-password': 'kv-p@ss', 'snow-pass-prod': 'prod-p@ss', 'opsfold-api-token': 'kv-api-token' });
  });
  after(async () => vault.close());
  beforeEach(() => {
    vault.requests.length = 0;
    scopes = [];
  });

  it('fills the unset secret settings from their secrets, after the Bearer challenge, with the vault scope', async () => {
    const logged: string[] = [];

    const resolved = await resolveSecrets(settings({}), { credential, clientOptions: clientOptions(), log: (l) => logged.push(l) });

    assert.equal(resolved.serviceNowUsername, 'svc.opsfold');
    assert.equal(resolved.serviceNowPassword, 'kv-p@ss');
    assert.equal(resolved.apiToken, 'kv-api-token');
    assert.equal(resolved.serviceNowClientSecret, undefined); // not in the vault
    assert.ok(Object.isFrozen(resolved));
    assert.ok(vault.requests.some((r) => r.auth === 'none'), 'the SDK first asks without a token');
    assert.ok(vault.requests.some((r) => r.secret === 'servicenow-password' && r.auth === 'token'));
    assert.deepEqual([...new Set(scopes)], ['https://vault.azure.net/.default']);
    assert.equal(logged.length, 1);
    assert.match(logged[0], /serviceNowPassword ← servicenow-password/);
    assert.match(logged[0], /not in the vault: servicenow-client-secret/);
    assert.ok(!logged[0].includes('kv-p@ss') && !logged[0].includes('kv-api-token'));
  });

  it('a value set in the environment wins and its secret is not read; secret names are settings', async () => {
    const resolved = await resolveSecrets(settings({ SERVICENOW_USERNAME: 'env.user', OPSFOLD_API_TOKEN: 'env-token', SERVICENOW_PASSWORD_SECRET: 'snow-pass-prod' }), { credential, clientOptions: clientOptions() });

    assert.equal(resolved.serviceNowUsername, 'env.user');
    assert.equal(resolved.apiToken, 'env-token');
    assert.equal(resolved.serviceNowPassword, 'prod-p@ss');
    const read = new Set(vault.requests.map((r) => r.secret));
    assert.ok(!read.has('servicenow-username') && !read.has('opsfold-api-token') && read.has('snow-pass-prod'));
  });

  it('without KEY_VAULT_URL nothing is read', async () => {
    const plain = loadSettings({}, { SERVICENOW_PASSWORD: 'x' }).settings;
    assert.equal(await resolveSecrets(plain, { credential }), plain);
    assert.equal(vault.requests.length, 0);
  });

  it('a secret the identity may not read stops with an error naming the vault and the secret', async () => {
    vault.forbidden.add('servicenow-password');
    try {
      await assert.rejects(resolveSecrets(settings({}), { credential, clientOptions: clientOptions() }), (e: unknown) =>
        e instanceof UpstreamError && e.status === 403 && !e.retriable && e.message.includes('"servicenow-password"') && e.message.includes(vault.url));
    } finally {
      vault.forbidden.delete('servicenow-password');
    }
  });

  it('the certificate is really checked: without trusting it the vault cannot be read', async () => {
    await assert.rejects(
      resolveSecrets(settings({}), { credential, clientOptions: { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } } }),
      (e: unknown) => e instanceof UpstreamError && /certificate/i.test(e.message),
    );
  });
});
