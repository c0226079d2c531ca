import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { UpstreamError } from '../core/errors';
import type { Settings } from './settings';

type SettingKey = keyof Settings;

/**
 * The settings that may come from Key Vault, each with the setting that names its secret. Add a
 * pair here (and the two settings to SETTINGS) to make another setting a Key Vault secret.
 */
export const SECRET_SETTINGS: readonly { setting: SettingKey; secretName: SettingKey }[] = [
  { setting: 'serviceNowUsername', secretName: 'serviceNowUsernameSecret' },
  { setting: 'serviceNowPassword', secretName: 'serviceNowPasswordSecret' },
  { setting: 'serviceNowClientSecret', secretName: 'serviceNowClientSecretSecret' },
  { setting: 'apiToken', secretName: 'apiTokenSecret' },
];

/** Reads one secret; undefined when the vault has no such secret. The Key Vault SDK in production. */
export interface SecretReader {
  read(name: string): Promise<string | undefined>;
}

export interface ResolveSecretsOptions {
  /** Defaults to `DefaultAzureCredential` (managed identity, environment, Azure CLI…). */
  credential?: TokenCredential;
  /** Passed to `SecretClient`, e.g. `tlsOptions` or `disableChallengeResourceVerification` for a stand-in vault. */
  clientOptions?: SecretClientOptions;
  /** Told which settings came from which secret (names only, never values). */
  log?: (line: string) => void;
}

/**
 * With KEY_VAULT_URL set, fills every secret setting that the environment (or a flag) left unset
 * from its Key Vault secret; a value set in the environment wins. A secret the vault does not
 * hold leaves its setting unset (whoever needs it says so); any other failure to read the vault
 * is an `UpstreamError` naming the vault and the secret. Returns new, frozen settings.
 *
 * @example
 * const settings = await resolveSecrets(loadSettings().settings, { log: (l) => process.stderr.write(`${l}\n`) });
 */
export async function resolveSecrets(settings: Settings, options: ResolveSecretsOptions = {}): Promise<Settings> {
  const vault = settings.keyVaultUrl;
  if (vault === undefined) return settings;
  const wanted = SECRET_SETTINGS.filter(({ setting }) => settings[setting] === undefined);
  if (wanted.length === 0) return settings;
  const reader = keyVaultReader(vault, options.credential ?? new DefaultAzureCredential(), options.clientOptions);
  const found: Record<string, string> = {};
  const used: string[] = [];
  const missing: string[] = [];
  await Promise.all(wanted.map(async ({ setting, secretName }) => {
    const name = String(settings[secretName]);
    const value = await reader.read(name);
    if (value === undefined || value === '') missing.push(name);
    else {
      found[setting] = value;
      used.push(`${setting} ← ${name}`);
    }
  }));
  options.log?.(`Key Vault ${vault}: ${used.length > 0 ? `read ${used.sort().join(', ')}` : 'no secrets read'}${missing.length > 0 ? `; not in the vault: ${missing.sort().join(', ')}` : ''}`);
  return Object.freeze({ ...settings, ...found }) as Settings;
}

/** A `SecretReader` on Azure Key Vault; SDK errors become `UpstreamError`s with the original as cause. */
export function keyVaultReader(vaultUrl: string, credential: TokenCredential, clientOptions?: SecretClientOptions): SecretReader {
  const client = new SecretClient(vaultUrl, credential, clientOptions);
  return {
    async read(name) {
      try {
        return (await client.getSecret(name)).value;
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        if (status === 404) return undefined;
        const first = String((error as Error).message ?? error).split('\n')[0];
        throw new UpstreamError(`could not read secret "${name}" from Key Vault ${vaultUrl}${status ? ` (HTTP ${status})` : ''}: ${first}`, {
          retriable: status === undefined || status >= 500 || status === 429,
          status,
          cause: error,
        });
      }
    },
  };
}
