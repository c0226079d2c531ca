import { ConfigError } from '../core/errors';

type Kind = 'string' | 'int' | 'bool' | 'secret';

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
  apiToken: { env: 'OPSFOLD_API_TOKEN', kind: 'secret', doc: 'When set, every /v1 route needs `Authorization: Bearer <token>`.' },
  tablesConnectionString: { env: 'TABLES_CONNECTION_STRING', kind: 'secret', doc: 'Azure Table Storage connection string; when unset, opsfold starts Azurite itself under the data dir.' },
  tablePrefix: { env: 'OPSFOLD_TABLE_PREFIX', kind: 'string', default: 'opsfold', doc: 'Prefix of every table opsfold creates (letters and digits).' },
  flushIntervalMs: { env: 'OPSFOLD_FLUSH_INTERVAL_MS', kind: 'int', default: 1000, min: 50, max: 600000, doc: 'How often projections are written and checkpointed.' },
  windowHistoryHours: { env: 'OPSFOLD_WINDOW_HISTORY_HOURS', kind: 'int', default: 24, min: 1, max: 720, doc: 'How far back `Last-Event-ID` can resume the window stream: window events are kept this long (whole hours).' },
  sseHeartbeatSeconds: { env: 'OPSFOLD_SSE_HEARTBEAT_SECONDS', kind: 'int', default: 15, min: 1, max: 3600, doc: 'A heartbeat comment goes to every window-stream client this often.' },
  sseMaxBufferedBytes: { env: 'OPSFOLD_SSE_MAX_BUFFERED_BYTES', kind: 'int', default: 4194304, min: 4096, max: 1073741824, doc: 'Bytes a window-stream client may have waiting in the server; beyond, it is sent `overflow` and disconnected.' },
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
  readonly apiToken?: string;
  readonly tablesConnectionString?: string;
  readonly tablePrefix: string;
  readonly flushIntervalMs: number;
  readonly windowHistoryHours: number;
  readonly sseHeartbeatSeconds: number;
  readonly sseMaxBufferedBytes: number;
}

/** Where a setting's value came from, for `opsfold config` and error messages. */
export type SettingSource = 'flag' | 'environment' | 'default' | 'unset';

/**
 * Resolves every setting from command-line flags (highest), then the environment, then the
 * default; validates once and freezes. Errors name the setting and its environment variable.
 */
export function loadSettings(
  flags: Partial<Record<SettingName, string | number | boolean | undefined>> = {},
  env: NodeJS.ProcessEnv = process.env,
): { settings: Settings; sources: Record<SettingName, SettingSource> } {
  const values: Record<string, unknown> = {};
  const sources = {} as Record<SettingName, SettingSource>;
  for (const [name, spec] of Object.entries(SETTINGS) as [SettingName, SettingSpec][]) {
    const flag = flags[name];
    const raw = flag !== undefined ? flag : env[spec.env] !== undefined && env[spec.env] !== '' ? env[spec.env] : undefined;
    sources[name] = flag !== undefined ? 'flag' : raw !== undefined ? 'environment' : spec.default !== undefined ? 'default' : 'unset';
    values[name] = raw === undefined ? spec.default : parse(name, spec, raw, flag !== undefined);
  }
  return { settings: Object.freeze(values) as unknown as Settings, sources };
}

function parse(name: string, spec: SettingSpec, raw: string | number | boolean, fromFlag: boolean): string | number | boolean {
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
    default:
      return String(raw);
  }
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The settings with secrets masked, and where each came from. */
export function describeSettings(settings: Settings, sources: Record<SettingName, SettingSource>): { name: string; env: string; value: string; source: SettingSource }[] {
  return (Object.entries(SETTINGS) as [SettingName, SettingSpec][]).map(([name, spec]) => {
    const value = settings[name];
    const shown = value === undefined ? '' : spec.kind === 'secret' ? '****' : String(value);
    return { name, env: spec.env, value: shown, source: sources[name] };
  });
}
