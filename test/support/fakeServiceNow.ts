import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeServiceNowOptions {
  username: string;
  password: string;
  /** Enables `POST /oauth_token.do` (password grant) for this client. */
  oauth?: { clientId: string; clientSecret: string };
  /** `sysparm_query` → count of the incident table; answered as a string, as ServiceNow does. Unknown queries count 0. */
  counts: Record<string, number>;
  /** Other tables: table → `sysparm_query` → count. A table in neither is answered 400 "Invalid table", as ServiceNow does. */
  tables?: Record<string, Record<string, number>>;
  /** Answer the Aggregate API with 403 although the credentials are right. */
  forbidden?: boolean;
}

export interface SeenRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  auth: 'basic' | 'bearer' | 'none' | 'other';
}

/**
 * A stand-in for a ServiceNow instance on 127.0.0.1: the Aggregate API of each table
 * (`/api/now/stats/<table>`, Basic or Bearer auth, `sysparm_count=true` required) and the OAuth password grant. Tests can queue failure statuses
 * for the next stats requests, or make it swallow requests without answering.
 */
export class FakeServiceNow {
  readonly requests: SeenRequest[] = [];
  private failures: number[] = [];
  private tokens = new Set<string>();
  private issued = 0;
  hang = false;

  private constructor(private readonly server: Server, readonly url: string, private readonly options: FakeServiceNowOptions) {}

  static async start(options: FakeServiceNowOptions): Promise<FakeServiceNow> {
    let fake: FakeServiceNow | undefined;
    const server = createServer((req, res) => void fake!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake = new FakeServiceNow(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, options);
    return fake;
  }

  /** The next stats requests are answered with these statuses, in order. */
  failNext(...statuses: number[]): void {
    this.failures.push(...statuses);
  }

  /** Invalidates every OAuth token issued so far. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  get tokensIssued(): number {
    return this.issued;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const body = await readBody(req);
    const header = req.headers.authorization ?? '';
    const auth = header.startsWith('Basic ') ? 'basic' : header.startsWith('Bearer ') ? 'bearer' : header === '' ? 'none' : 'other';
    const params = Object.fromEntries(req.method === 'POST' ? new URLSearchParams(body) : url.searchParams);
    this.requests.push({ method: req.method ?? '', path: url.pathname, params, auth });
    if (this.hang) return; // never answers: the client's timeout must end it
    if (req.method === 'POST' && url.pathname === '/oauth_token.do') return this.token(params, res);
    const stats = /^\/api\/now\/stats\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && stats) return this.stats(decodeURIComponent(stats[1]), url, header, res);
    send(res, 404, { error: { message: 'No such resource' } });
  }

  private token(form: Record<string, string>, res: ServerResponse): void {
    const o = this.options;
    const ok = o.oauth && form.grant_type === 'password' && form.client_id === o.oauth.clientId && form.client_secret === o.oauth.clientSecret
      && form.username === o.username && form.password === o.password;
    if (!ok) return send(res, 401, { error: 'access_denied', error_description: 'access_denied' });
    const token = `tok-${++this.issued}`;
    this.tokens.add(token);
    send(res, 200, { access_token: token, refresh_token: 'r', scope: 'useraccount', token_type: 'Bearer', expires_in: 1799 });
  }

  private stats(table: string, url: URL, header: string, res: ServerResponse): void {
    const basic = `Basic ${Buffer.from(`${this.options.username}:${this.options.password}`).toString('base64')}`;
    const authorized = header === basic || (header.startsWith('Bearer ') && this.tokens.has(header.slice(7)));
    if (!authorized) return send(res, 401, { error: { message: 'User Not Authenticated', detail: 'Required to provide Auth information' }, status: 'failure' });
    if (this.options.forbidden) return send(res, 403, { error: { message: 'User Not Authorized' }, status: 'failure' });
    const failure = this.failures.shift();
    if (failure !== undefined) {
      res.writeHead(failure, { 'content-type': 'text/html' }).end('<html><body>Service Unavailable</body></html>');
      return;
    }
    if (url.searchParams.get('sysparm_count') !== 'true') return send(res, 400, { error: { message: 'sysparm_count=true is required here' } });
    const counts = table === 'incident' ? this.options.counts : this.options.tables?.[table];
    if (!counts) return send(res, 400, { error: { message: `Invalid table ${table}`, detail: null }, status: 'failure' });
    const query = url.searchParams.get('sysparm_query') ?? '';
    send(res, 200, { result: { stats: { count: String(counts[query] ?? 0) } } });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
