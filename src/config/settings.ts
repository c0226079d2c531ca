import { ConfigError, InvalidInputError } from '../core/errors';
import { parseBacklogTeams, type BacklogTeam } from '../core/backlogTeam';
import { formatPollAt, parsePollAt } from '../core/pollSchedule';
import { isHttpsOrLoopback } from '../core/secureUrl';
import { isTimeZone } from '../core/zonedTime';
import { messagingConnectionStringProblem, storageConnectionStringProblem, withoutCredentials } from './connectionStrings';
import { parseCorsOrigins } from './corsOrigins';
import { CaptureNameFormat, DEFAULT_CAPTURE_NAME_FORMAT } from '../core/captureNameFormat';

type Kind = 'string' | 'int' | 'bool' | 'secret' | 'tablesConnectionString' | 'blobConnectionString' | 'messagingConnectionString' | 'timezone' | 'timeOfDay' | 'backlogTeams' | 'httpsOrLoopbackUrl' | 'httpsUrl' | 'serviceNowAuth' | 'secretName' | 'corsOrigins' | 'blobContainer' | 'captureNameFormat';

interface SettingSpec {
  env: string;
  kind: Kind;
  default?: string | number | boolean;
  min?: number;
  max?: number;
  doc: string;
}

/**
 * Every setting opsfold reads: its environment name, default and meaning. The README's
 * settings table is this list; only this module reads process.env.
 */
export const SETTINGS = {
  port: { env: 'PORT', kind: 'int', default: 8080, min: 0, max: 65535, doc: 'Port of the read API and dashboard (0: the OS picks).' },
  host: { env: 'HOST', kind: 'string', default: '127.0.0.1', doc: 'Address the HTTP server listens on.' },
  dataDir: { env: 'OPSFOLD_DATA_DIR', kind: 'string', default: './data', doc: 'Data directory: the file log, embedded Azurite, ledgers.' },
  simulate: { env: 'OPSFOLD_SIMULATE', kind: 'bool', default: true, doc: 'Run the built-in SPOC simulator when no real source is configured.' },
  outOfOrderSeconds: { env: 'WINDOW_OUT_OF_ORDER_SECONDS', kind: 'int', default: 60, min: 0, max: 86400, doc: 'Watermark = newest event time minus this.' },
  idleCloseSeconds: { env: 'WINDOW_IDLE_CLOSE_SECONDS', kind: 'int', default: 5, min: 1, max: 86400, doc: 'A window no event reached for this long (processing time) closes.' },
  allowedLatenessSeconds: { env: 'WINDOW_ALLOWED_LATENESS_SECONDS', kind: 'int', default: 1800, min: 0, max: 30 * 86400, doc: 'Closed windows up to this far behind the watermark are revised by late data; later data goes to the late ledger.' },
  maxFutureSeconds: { env: 'WINDOW_MAX_FUTURE_SECONDS', kind: 'int', default: 300, min: 0, max: 86400, doc: 'A metric may be at most this far ahead of its arrival time (a bad clock); a later timestamp is rejected, and no record moves the watermark past its arrival plus this.' },
  apiToken: { env: 'OPSFOLD_API_TOKEN', kind: 'secret', doc: 'When set, every /v1 route needs `Authorization: Bearer <token>`.' },
  corsOrigins: { env: 'OPSFOLD_CORS_ORIGINS', kind: 'corsOrigins', doc: 'Origins whose browser pages may read the API (CORS): a comma-separated list such as https://grafana.example.com,http://localhost:3000, or * for any; unset, no cross-origin reads.' },
  tablesConnectionString: { env: 'TABLES_CONNECTION_STRING', kind: 'tablesConnectionString', doc: 'Azure Table Storage connection string; when unset, opsfold starts Azurite itself under the data dir.' },
  tablePrefix: { env: 'OPSFOLD_TABLE_PREFIX', kind: 'string', default: 'opsfold', doc: 'Prefix of every table opsfold creates (letters and digits).' },
  flushIntervalMs: { env: 'OPSFOLD_FLUSH_INTERVAL_MS', kind: 'int', default: 1000, min: 50, max: 600000, doc: 'How often projections are written and checkpointed.' },
  tablesEndpoint: { env: 'TABLES_ENDPOINT', kind: 'string', doc: 'Table Storage endpoint (https://ACCOUNT.table.core.windows.net) used with DefaultAzureCredential, instead of a connection string.' },
  eventHubsConnectionString: { env: 'EVENTHUBS_CONNECTION_STRING', kind: 'messagingConnectionString', doc: 'Event Hubs namespace connection string: the log is then the Event Hub, not the file log.' },
  eventHubsNamespace: { env: 'EVENTHUBS_NAMESPACE', kind: 'string', doc: 'Event Hubs namespace (NAME.servicebus.windows.net) used with DefaultAzureCredential, instead of a connection string.' },
  eventHubName: { env: 'EVENTHUB_NAME', kind: 'string', default: 'opsfold-events', doc: 'The Event Hub that is the log (partition key: tenant, or team).' },
  eventHubConsumerGroup: { env: 'EVENTHUB_CONSUMER_GROUP', kind: 'string', default: '$Default', doc: 'Consumer group the processor instances share.' },
  eventHubReplayConsumerGroup: { env: 'EVENTHUB_REPLAY_CONSUMER_GROUP', kind: 'string', doc: 'Consumer group `opsfold replay` and `opsfold projection add` read the hub with (unset: EVENTHUB_CONSUMER_GROUP); another one than the processors\' lets a rebuild run while they hold the partitions.' },
  checkpointStorageConnectionString: { env: 'CHECKPOINT_STORAGE_CONNECTION_STRING', kind: 'blobConnectionString', doc: 'Blob Storage connection string for Event Hubs checkpoints and partition ownership.' },
  checkpointStorageUrl: { env: 'CHECKPOINT_STORAGE_URL', kind: 'string', doc: 'Blob Storage account URL (https://ACCOUNT.blob.core.windows.net) used with DefaultAzureCredential.' },
  checkpointContainer: { env: 'CHECKPOINT_CONTAINER', kind: 'string', default: 'opsfold-checkpoints', doc: 'Blob container of the checkpoints; one per projection version is made from it (NAME-wN-rN).' },
  ownershipExpirationSeconds: { env: 'EVENTHUB_OWNERSHIP_EXPIRATION_SECONDS', kind: 'int', default: 60, min: 2, max: 3600, doc: 'A partition whose owner has not renewed its claim for this long is taken over by another instance (e.g. after a crash).' },
  loadBalancingIntervalSeconds: { env: 'EVENTHUB_LOAD_BALANCING_INTERVAL_SECONDS', kind: 'int', default: 10, min: 1, max: 600, doc: 'How often each instance renews its claims and looks for partitions to take.' },
  captureStorageConnectionString: { env: 'CAPTURE_STORAGE_CONNECTION_STRING', kind: 'blobConnectionString', doc: 'Blob Storage connection string of the account Event Hubs Capture writes to: replays and catch-ups then read what the hub no longer retains from its Avro files.' },
  captureStorageUrl: { env: 'CAPTURE_STORAGE_URL', kind: 'httpsUrl', doc: 'Blob Storage account URL (https://ACCOUNT.blob.core.windows.net) of Capture\'s account, used with DefaultAzureCredential (Storage Blob Data Reader); instead of a connection string.' },
  captureContainer: { env: 'CAPTURE_CONTAINER', kind: 'blobContainer', doc: 'Blob container Event Hubs Capture writes to.' },
  captureNameFormat: { env: 'CAPTURE_NAME_FORMAT', kind: 'captureNameFormat', default: DEFAULT_CAPTURE_NAME_FORMAT, doc: 'Capture\'s file name format as set on the hub: {Namespace}, {EventHub}, {PartitionId}, {Year}, {Month}, {Day}, {Hour}, {Minute} and {Second}, each once, in any order.' },
  windowEventHubName: { env: 'WINDOW_EVENTHUB_NAME', kind: 'string', default: 'opsfold-windows', doc: 'Event Hub that window events are published to (partition key: counter key), when Event Hubs is configured.' },
  backlogTimezone: { env: 'BACKLOG_TIMEZONE', kind: 'timezone', default: 'UTC', doc: 'IANA time zone of the backlog: the daily poll time and the local dates of the snapshots (never the machine\'s zone).' },
  backlogPollAt: { env: 'BACKLOG_POLL_AT', kind: 'timeOfDay', default: '19:00', doc: 'Local time of the daily ServiceNow poll, HH:mm.' },
  backlogTeams: { env: 'BACKLOG_TEAMS', kind: 'backlogTeams', doc: 'Teams to poll, JSON: [{"team":"EUC","query":"active=true^assignment_group.name=EUC"}]; an entry may add "table" (default incident, e.g. sc_task), "timezone" and "pollAt" of its own.' },
  serviceNowInstanceUrl: { env: 'SERVICENOW_INSTANCE_URL', kind: 'httpsOrLoopbackUrl', doc: 'ServiceNow instance, https://<name>.service-now.com (plain http only on loopback, for tests).' },
  serviceNowAuth: { env: 'SERVICENOW_AUTH', kind: 'serviceNowAuth', default: 'basic', doc: 'basic, or oauth (password grant at /oauth_token.do, then Bearer).' },
  serviceNowUsername: { env: 'SERVICENOW_USERNAME', kind: 'string', doc: 'ServiceNow user (or Key Vault secret SERVICENOW_USERNAME_SECRET).' },
  serviceNowPassword: { env: 'SERVICENOW_PASSWORD', kind: 'secret', doc: 'ServiceNow password (or Key Vault secret SERVICENOW_PASSWORD_SECRET).' },
  serviceNowClientId: { env: 'SERVICENOW_CLIENT_ID', kind: 'string', doc: 'OAuth client id, with SERVICENOW_AUTH=oauth.' },
  serviceNowClientSecret: { env: 'SERVICENOW_CLIENT_SECRET', kind: 'secret', doc: 'OAuth client secret, with SERVICENOW_AUTH=oauth (or Key Vault secret SERVICENOW_CLIENT_SECRET_SECRET).' },
  serviceNowTimeoutMs: { env: 'SERVICENOW_TIMEOUT_MS', kind: 'int', default: 30000, min: 100, max: 600000, doc: 'Timeout of one ServiceNow request.' },
  serviceNowAttempts: { env: 'SERVICENOW_ATTEMPTS', kind: 'int', default: 4, min: 1, max: 20, doc: 'Attempts per request on 5xx, 429, timeouts and network errors, with exponential backoff.' },
  keyVaultUrl: { env: 'KEY_VAULT_URL', kind: 'httpsUrl', doc: 'Azure Key Vault (https://<name>.vault.azure.net): secrets not set in the environment are read from it with DefaultAzureCredential.' },
  serviceNowUsernameSecret: { env: 'SERVICENOW_USERNAME_SECRET', kind: 'secretName', default: 'servicenow-username', doc: 'Key Vault secret holding SERVICENOW_USERNAME.' },
  serviceNowPasswordSecret: { env: 'SERVICENOW_PASSWORD_SECRET', kind: 'secretName', default: 'servicenow-password', doc: 'Key Vault secret holding SERVICENOW_PASSWORD.' },
  serviceNowClientSecretSecret: { env: 'SERVICENOW_CLIENT_SECRET_SECRET', kind: 'secretName', default: 'servicenow-client-secret', doc: 'Key Vault secret holding SERVICENOW_CLIENT_SECRET.' },
  apiTokenSecret: { env: 'OPSFOLD_API_TOKEN_SECRET', kind: 'secretName', default: 'opsfold-api-token', doc: 'Key Vault secret holding OPSFOLD_API_TOKEN.' },
  serviceBusConnectionString: { env: 'SERVICEBUS_CONNECTION_STRING', kind: 'messagingConnectionString', doc: 'Service Bus connection string (Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…); SPOC messages are then read from the queue.' },
  serviceBusNamespace: { env: 'SERVICEBUS_NAMESPACE', kind: 'string', doc: 'Service Bus namespace host (e.g. myns.servicebus.windows.net), signed in with DefaultAzureCredential; instead of a connection string.' },
  serviceBusQueue: { env: 'SERVICEBUS_QUEUE', kind: 'string', default: 'spoc-metrics', doc: 'Queue the SPOC messages arrive on.' },
  serviceBusConcurrency: { env: 'SERVICEBUS_CONCURRENCY', kind: 'int', default: 4, min: 1, max: 256, doc: 'Service Bus messages processed at once.' },
  windowHistoryHours: { env: 'OPSFOLD_WINDOW_HISTORY_HOURS', kind: 'int', default: 24, min: 1, max: 720, doc: 'How far back `Last-Event-ID` can resume the window stream: window events are kept this long (whole hours).' },
  sseHeartbeatSeconds: { env: 'OPSFOLD_SSE_HEARTBEAT_SECONDS', kind: 'int', default: 15, min: 1, max: 3600, doc: 'A heartbeat comment goes to every window-stream client this often.' },
  sseMaxBufferedBytes: { env: 'OPSFOLD_SSE_MAX_BUFFERED_BYTES', kind: 'int', default: 4194304, min: 4096, max: 1073741824, doc: 'Bytes a window-stream client may have waiting in the server; beyond, it is sent `overflow` and disconnected.' },
  sseMaxClients: { env: 'OPSFOLD_SSE_MAX_CLIENTS', kind: 'int', default: 1000, min: 1, max: 100000, doc: 'Window-stream clients served at once; one more is answered 503 with Retry-After.' },
  readCacheHours: { env: 'OPSFOLD_READ_CACHE_HOURS', kind: 'int', default: 6, min: 0, max: 168, doc: 'Hours of each key\'s cross-tenant windows the read API keeps in memory, back from its newest (file log only); 0: read them from the tables.' },
  readCacheVmMinutes: { env: 'OPSFOLD_READ_CACHE_VM_MINUTES', kind: 'int', default: 60, min: 0, max: 1440, doc: 'Minutes of every VM\'s windows (each key) the read API keeps in memory, back from the key\'s newest (file log only); 0: read them from the tables.' },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;
export interface Settings {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly simulate: boolean;
  readonly outOfOrderSeconds: number;
  readonly idleCloseSeconds: number;
  readonly allowedLatenessSeconds: number;
  readonly maxFutureSeconds: number;
  readonly apiToken?: string;
  /** Exact origins (scheme://host[:port]), or ['*']; undefined when CORS is off. */
  readonly corsOrigins?: readonly string[];
  readonly tablesConnectionString?: string;
  readonly tablePrefix: string;
  readonly flushIntervalMs: number;
  readonly tablesEndpoint?: string;
  readonly eventHubsConnectionString?: string;
  readonly eventHubsNamespace?: string;
  readonly eventHubName: string;
  readonly eventHubConsumerGroup: string;
  readonly eventHubReplayConsumerGroup?: string;
  readonly checkpointStorageConnectionString?: string;
  readonly checkpointStorageUrl?: string;
  readonly checkpointContainer: string;
  readonly windowEventHubName: string;
  readonly captureStorageConnectionString?: string;
  readonly captureStorageUrl?: string;
  readonly captureContainer?: string;
  readonly captureNameFormat: string;
  readonly ownershipExpirationSeconds: number;
  readonly loadBalancingIntervalSeconds: number;
  readonly backlogTimezone: string;
  readonly backlogPollAt: string;
  readonly backlogTeams?: readonly BacklogTeam[];
  readonly serviceNowInstanceUrl?: string;
  readonly serviceNowAuth: 'basic' | 'oauth';
  readonly serviceNowUsername?: string;
  readonly serviceNowPassword?: string;
  readonly serviceNowClientId?: string;
  readonly serviceNowClientSecret?: string;
  readonly serviceNowTimeoutMs: number;
  readonly serviceNowAttempts: number;
  readonly keyVaultUrl?: string;
  readonly serviceNowUsernameSecret: string;
  readonly serviceNowPasswordSecret: string;
  readonly serviceNowClientSecretSecret: string;
  readonly apiTokenSecret: string;
  readonly serviceBusConnectionString?: string;
  readonly serviceBusNamespace?: string;
  readonly serviceBusQueue: string;
  readonly serviceBusConcurrency: number;
  readonly windowHistoryHours: number;
  readonly sseHeartbeatSeconds: number;
  readonly sseMaxBufferedBytes: number;
  readonly sseMaxClients: number;
  readonly readCacheHours: number;
  readonly readCacheVmMinutes: number;
}

/** Where a setting's value came from, for `opsfold config` and error messages. */
export type SettingSource = 'flag' | 'environment' | 'default' | 'unset' | 'keyvault';

type Flags = Partial<Record<SettingName, string | number | boolean | undefined>>;

/** One wrong setting: its name, environment variable and the error that names it. */
export interface SettingProblem {
  name: SettingName;
  env: string;
  error: ConfigError;
}

/**
 * Resolves every setting from command-line flags (highest), then the environment, then the
 * default; validates once and freezes. Errors name the setting and its environment variable.
 * Throws the first wrong setting; `collectSettings` lists them all.
 */
/** Whether the log is an Event Hub (a connection string or a namespace for DefaultAzureCredential) rather than the file log. */
export function eventHubsConfigured(settings: Pick<Settings, 'eventHubsConnectionString' | 'eventHubsNamespace'>): boolean {
  return settings.eventHubsConnectionString !== undefined || settings.eventHubsNamespace !== undefined;
}

export function loadSettings(flags: Flags = {}, env: NodeJS.ProcessEnv = process.env): { settings: Settings; sources: Record<SettingName, SettingSource> } {
  const { settings, sources, problems } = collectSettings(flags, env);
  if (problems.length > 0) throw problems[0].error;
  return { settings, sources };
}

/**
 * Every setting resolved as `loadSettings` does, and every wrong one with its error instead of
 * stopping at the first (`opsfold config`). A wrong setting's value is left undefined.
 */
export function collectSettings(flags: Flags = {}, env: NodeJS.ProcessEnv = process.env): { settings: Settings; sources: Record<SettingName, SettingSource>; problems: SettingProblem[] } {
  const values: Record<string, unknown> = {};
  const sources = {} as Record<SettingName, SettingSource>;
  const problems: SettingProblem[] = [];
  for (const [name, spec] of Object.entries(SETTINGS) as [SettingName, SettingSpec][]) {
    const flag = flags[name];
    const raw = flag !== undefined ? flag : env[spec.env] !== undefined && env[spec.env] !== '' ? env[spec.env] : undefined;
    sources[name] = flag !== undefined ? 'flag' : raw !== undefined ? 'environment' : spec.default !== undefined ? 'default' : 'unset';
    try {
      values[name] = raw === undefined ? spec.default : parse(name, spec, raw, flag !== undefined);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push({ name, env: spec.env, error });
    }
  }
  const capture = captureSettingsProblem(values as Partial<Settings>);
  if (capture && !problems.some((p) => p.env === capture.setting)) problems.push({ name: (Object.keys(SETTINGS) as SettingName[]).find((n) => SETTINGS[n].env === capture.setting)!, env: capture.setting, error: capture });
  return { settings: Object.freeze(values) as unknown as Settings, sources, problems };
}

/**
 * What is contradictory or missing in the Capture settings taken together, or undefined: both a
 * connection string and a URL, or a container without an account, or an account without a container.
 */
export function captureSettingsProblem(s: Partial<Pick<Settings, 'captureStorageConnectionString' | 'captureStorageUrl' | 'captureContainer'>>): ConfigError | undefined {
  const { captureStorageConnectionString: connectionString, captureStorageUrl: url, captureContainer: container } = s;
  if (connectionString !== undefined && url !== undefined) {
    return new ConfigError('CAPTURE_STORAGE_URL', `set CAPTURE_STORAGE_CONNECTION_STRING or CAPTURE_STORAGE_URL, not both (CAPTURE_STORAGE_URL is ${JSON.stringify(url)})`);
  }
  if (container !== undefined && connectionString === undefined && url === undefined) {
    return new ConfigError('CAPTURE_STORAGE_CONNECTION_STRING', `CAPTURE_CONTAINER is ${JSON.stringify(container)}: set CAPTURE_STORAGE_CONNECTION_STRING or CAPTURE_STORAGE_URL for the account that Event Hubs Capture writes to`);
  }
  if (container === undefined && (connectionString !== undefined || url !== undefined)) {
    return new ConfigError('CAPTURE_CONTAINER', 'CAPTURE_CONTAINER is not set: the Blob container that Event Hubs Capture writes to');
  }
  return undefined;
}

function parse(name: string, spec: SettingSpec, raw: string | number | boolean, fromFlag: boolean): unknown {
  const where = fromFlag ? `--${kebab(name)}` : spec.env;
  switch (spec.kind) {
    case 'int': {
      const n = typeof raw === 'number' ? raw : /^-?\d+$/.test(String(raw).trim()) ? Number(raw) : NaN;
      if (!Number.isInteger(n)) throw new ConfigError(spec.env, `${where} must be a whole number, got ${JSON.stringify(raw)}`);
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        throw new ConfigError(spec.env, `${where} must be between ${spec.min} and ${spec.max}, got ${n}`);
      }
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      const s = String(raw).trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(s)) return true;
      if (['0', 'false', 'no', 'off'].includes(s)) return false;
      throw new ConfigError(spec.env, `${where} must be true or false, got ${JSON.stringify(raw)}`);
    }
    case 'timezone':
      if (!isTimeZone(String(raw))) throw new ConfigError(spec.env, `${where} must be an IANA time zone such as America/New_York, got ${JSON.stringify(raw)}`);
      return String(raw);
    case 'timeOfDay':
      return rethrowAs(spec.env, () => formatPollAt(parsePollAt(String(raw), where)));
    case 'backlogTeams':
      return rethrowAs(spec.env, () => Object.freeze(parseBacklogTeams(String(raw), where).map((t) => Object.freeze(t))));
    case 'httpsOrLoopbackUrl':
    case 'httpsUrl': {
      const url = String(raw).trim();
      // Never echo credentials someone put into the URL.
      const shown = JSON.stringify(withoutCredentials(url));
      if (withoutCredentials(url) !== url) throw new ConfigError(spec.env, `${where} must not carry credentials (user:password@); give them in their own settings, got ${shown}`);
      const ok = spec.kind === 'httpsUrl' ? /^https:\/\/[^/\s]+/i.test(url) && isHttpsOrLoopback(url) : isHttpsOrLoopback(url);
      if (!ok) throw new ConfigError(spec.env, `${where} must be an https URL${spec.kind === 'httpsUrl' ? '' : ' (plain http only for a loopback address)'}, got ${shown}`);
      return url.replace(/\/+$/, '');
    }
    case 'tablesConnectionString':
    case 'blobConnectionString':
    case 'messagingConnectionString': {
      const value = String(raw).trim();
      const problem = spec.kind === 'messagingConnectionString' ? messagingConnectionStringProblem(value)
        : storageConnectionStringProblem(value, spec.kind === 'tablesConnectionString' ? 'table' : 'blob');
      const what = spec.kind === 'messagingConnectionString' ? 'a namespace connection string (Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…)' : 'a Storage account connection string';
      if (problem !== undefined) throw new ConfigError(spec.env, `${where} is not ${what}: ${problem} (the value is a secret and is not shown)`);
      return value;
    }
    case 'serviceNowAuth': {
      const s = String(raw).trim().toLowerCase();
      if (s !== 'basic' && s !== 'oauth') throw new ConfigError(spec.env, `${where} must be basic or oauth, got ${JSON.stringify(raw)}`);
      return s;
    }
    case 'corsOrigins':
      return rethrowAs(spec.env, () => Object.freeze(parseCorsOrigins(String(raw), where)));
    case 'blobContainer': {
      const name = String(raw).trim();
      if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(name)) throw new ConfigError(spec.env, `${where} must be a Blob container name (3 to 63 lower-case letters, digits and single hyphens), got ${JSON.stringify(raw)}`);
      return name;
    }
    case 'captureNameFormat':
      return rethrowAs(spec.env, () => CaptureNameFormat.parse(String(raw).trim(), where).text);
    case 'secretName':
      if (!/^[0-9A-Za-z-]{1,127}$/.test(String(raw))) throw new ConfigError(spec.env, `${where} must be a Key Vault secret name (1 to 127 letters, digits and dashes), got ${JSON.stringify(raw)}`);
      return String(raw);
    default:
      return String(raw);
  }
}

function rethrowAs<T>(env: string, job: () => T): T {
  try {
    return job();
  } catch (error) {
    if (error instanceof InvalidInputError) throw new ConfigError(env, error.message);
    throw error;
  }
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The settings with secrets masked, and where each came from. */
export function describeSettings(settings: Settings, sources: Record<SettingName, SettingSource>): { name: string; env: string; value: string; source: SettingSource }[] {
  return (Object.entries(SETTINGS) as [SettingName, SettingSpec][]).map(([name, spec]) => {
    const value = settings[name];
    const shown = value === undefined ? '' : spec.kind === 'secret' || spec.kind.endsWith('ConnectionString') ? '****' : spec.kind === 'corsOrigins' ? (value as string[]).join(',') : typeof value === 'object' ? JSON.stringify(value) : String(value);
    return { name, env: spec.env, value: shown, source: sources[name] };
  });
}
