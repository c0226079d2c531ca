import { UpstreamAuthError, UpstreamError } from '../../core/errors';
import { DEFAULT_TABLE, validateTableName } from '../../core/backlogTeam';
import type { RecordCounter } from '../../core/pollBacklog';
import { isHttpsOrLoopback } from '../../core/secureUrl';

export type ServiceNowAuth =
  | { kind: 'basic'; username: string; password: string }
  /** OAuth's password grant (`POST /oauth_token.do`), then `Bearer`. */
  | { kind: 'oauth'; username: string; password: string; clientId: string; clientSecret: string };

export interface ServiceNowClientOptions {
  /** `https://<instance>.service-now.com`; plain http only for loopback addresses (tests). */
  instanceUrl: string;
  auth: ServiceNowAuth;
  /** Per request, including reading the body. */
  timeoutMs?: number;
  /** Attempts per count for 5xx, 429, timeouts and network errors (1 = no retry). */
  attempts?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Told what is sent and what came back: queries and counts, never credentials. */
  log?: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

/** A failed attempt, classified: `retriable` ones are tried again with backoff. */
class AttemptError extends Error {
  constructor(message: string, readonly retriable: boolean, readonly status?: number, readonly retryAfterMs?: number) {
    super(message);
  }
}

/**
 * ServiceNow's Aggregate API: `GET /api/now/stats/<table>?sysparm_count=true&sysparm_query=…`
 * (`incident`, `sc_task`, …) answers `{"result":{"stats":{"count":"42"}}}`. Retries 5xx, 429, timeouts and network errors
 * with exponential backoff; a 401 or 403 is an `UpstreamAuthError` at once. ServiceNow silently
 * ignores invalid parts of a query (a misspelled field widens the count), so every query sent
 * is logged.
 *
 * @example
 * const snow = new ServiceNowClient({ instanceUrl: 'https://acme.service-now.com', auth: { kind: 'basic', username, password } });
 * await snow.countIncidents('active=true^assignment_group.name=EUC'); // 42
 * await snow.countRecords('sc_task', 'active=true^assignment_group.name=EUC'); // 17
 */
export class ServiceNowClient implements RecordCounter {
  private readonly base: URL;
  private token?: { value: string; expiresAtMs: number };

  constructor(private readonly options: ServiceNowClientOptions) {
    if (!isHttpsOrLoopback(options.instanceUrl)) {
      throw new UpstreamError(`the ServiceNow instance URL must be https (http only on a loopback address), got ${JSON.stringify(options.instanceUrl)}`);
    }
    this.base = new URL(options.instanceUrl);
  }

  get instance(): string {
    return this.base.origin;
  }

  countIncidents(query: string): Promise<number> {
    return this.countRecords(DEFAULT_TABLE, query);
  }

  async countRecords(table: string, query: string): Promise<number> {
    // The name goes into the path: only what a ServiceNow table name can be.
    validateTableName(table);
    const url = `${this.base.origin}${this.base.pathname.replace(/\/+$/, '')}/api/now/stats/${table}?sysparm_count=true&sysparm_query=${encodeURIComponent(query)}`;
    const shown = `GET ${this.base.origin}/api/now/stats/${table} sysparm_query=${JSON.stringify(query)}`;
    const body = await this.withRetry(shown, async (attempt) => {
      const res = await this.send(url, { headers: { accept: 'application/json', authorization: await this.authorization() } });
      if (res.status === 401 && this.options.auth.kind === 'oauth' && attempt.refreshedToken === false) {
        // An expired or revoked token: get a new one once before calling it a refusal.
        this.token = undefined;
        attempt.refreshedToken = true;
        throw new AttemptError('HTTP 401 with an OAuth token; getting a new token', true);
      }
      this.refuseAuthFailures(res.status, `the Aggregate API of ${table}`, table);
      return this.readBody(res);
    });
    const count = (body as { result?: { stats?: { count?: unknown } } } | null)?.result?.stats?.count;
    const n = typeof count === 'number' ? count : typeof count === 'string' && /^\d+$/.test(count.trim()) ? Number(count) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new UpstreamError(`ServiceNow answered ${shown} without a count: ${JSON.stringify(body).slice(0, 200)}`);
    }
    this.options.log?.(`servicenow: ${shown} → ${n}`);
    return n;
  }

  private async authorization(): Promise<string> {
    const auth = this.options.auth;
    if (auth.kind === 'basic') return `Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}`;
    if (!this.token || this.token.expiresAtMs <= Date.now()) this.token = await this.fetchToken(auth);
    return `Bearer ${this.token.value}`;
  }

  private async fetchToken(auth: Extract<ServiceNowAuth, { kind: 'oauth' }>): Promise<{ value: string; expiresAtMs: number }> {
    const form = new URLSearchParams({ grant_type: 'password', client_id: auth.clientId, client_secret: auth.clientSecret, username: auth.username, password: auth.password });
    const body = await this.withRetry(`POST ${this.base.origin}/oauth_token.do (password grant)`, async () => {
      const res = await this.send(`${this.base.origin}/oauth_token.do`, { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
      if (res.status === 400 || res.status === 401 || res.status === 403) {
        throw new UpstreamAuthError(`ServiceNow refused the OAuth password grant (HTTP ${res.status}) for user ${JSON.stringify(auth.username)}: check SERVICENOW_CLIENT_ID, SERVICENOW_CLIENT_SECRET, SERVICENOW_USERNAME and SERVICENOW_PASSWORD (or their Key Vault secrets)`, { status: res.status });
      }
      return this.readBody(res);
    });
    const { access_token: value, expires_in: expiresIn } = (body ?? {}) as { access_token?: unknown; expires_in?: unknown };
    if (typeof value !== 'string' || value === '') throw new UpstreamError('ServiceNow answered the OAuth password grant without an access_token');
    const seconds = Number(expiresIn);
    // Renew a minute early so that a token does not expire between two requests.
    return { value, expiresAtMs: Date.now() + (Number.isFinite(seconds) && seconds > 120 ? seconds - 60 : 60) * 1000 };
  }

  private refuseAuthFailures(status: number, what: string, table = DEFAULT_TABLE): void {
    const user = JSON.stringify(this.options.auth.username);
    if (status === 401) {
      throw new UpstreamAuthError(`ServiceNow answered 401 Unauthorized to ${what} at ${this.base.origin}: the credentials of user ${user} were refused (SERVICENOW_USERNAME / SERVICENOW_PASSWORD, or their Key Vault secrets)`, { status });
    }
    if (status === 403) {
      throw new UpstreamAuthError(`ServiceNow answered 403 Forbidden to ${what} at ${this.base.origin}: user ${user} may not read ${table} statistics (it needs read access to the ${table} table)`, { status });
    }
  }

  private async send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000) });
    } catch (error) {
      const name = (error as Error).name;
      const why = name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${this.options.timeoutMs ?? 30_000} ms` : `network error: ${causeMessage(error)}`;
      throw new AttemptError(why, true);
    }
  }

  private async readBody(res: Response): Promise<unknown> {
    let text: string;
    try {
      text = await res.text();
    } catch (error) {
      throw new AttemptError(`the answer was cut off: ${causeMessage(error)}`, true);
    }
    if (res.status >= 500 || res.status === 429) {
      const header = res.headers.get('retry-after');
      const retryAfter = header === null || header.trim() === '' ? NaN : Number(header);
      throw new AttemptError(`HTTP ${res.status}`, true, res.status, Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined);
    }
    if (res.status < 200 || res.status >= 300) throw new AttemptError(`HTTP ${res.status}: ${text.slice(0, 200)}`, false, res.status);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new AttemptError(`the answer is not JSON: ${text.slice(0, 200)}`, false, res.status);
    }
  }

  private async withRetry<T>(what: string, job: (attempt: { number: number; refreshedToken: boolean }) => Promise<T>): Promise<T> {
    const { attempts = 4, initialBackoffMs = 500, maxBackoffMs = 10_000, log } = this.options;
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const attempt = { number: 1, refreshedToken: false };
    for (;;) {
      try {
        return await job(attempt);
      } catch (error) {
        if (!(error instanceof AttemptError)) throw error;
        if (!error.retriable || attempt.number >= attempts) {
          const tries = attempt.number > 1 ? ` after ${attempt.number} attempts` : '';
          throw new UpstreamError(`ServiceNow: ${what} failed${tries}: ${error.message}`, { retriable: error.retriable, status: error.status });
        }
        const backoff = Math.min(maxBackoffMs, error.retryAfterMs ?? initialBackoffMs * 2 ** (attempt.number - 1));
        log?.(`servicenow: ${what}: ${error.message}; attempt ${attempt.number} of ${attempts}, trying again in ${backoff} ms`);
        await sleep(backoff);
        attempt.number++;
      }
    }
  }
}

function causeMessage(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
