import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A self-signed certificate for 127.0.0.1, made with the openssl command line. */
export function selfSignedCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'opsfold-cert-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const VAULT_TOKEN = 'kv-test-token';

/**
 * A stand-in for Azure Key Vault's secrets API on HTTPS 127.0.0.1, speaking the challenge flow
 * the SDK expects: an unauthenticated request gets 401 with a Bearer challenge, then the
 * request with the credential's token gets the secret, or 404 SecretNotFound.
 */
export class FakeKeyVault {
  readonly requests: { secret: string; auth: 'none' | 'token' | 'other' }[] = [];
  /** Secret names answered with 403 Forbidden. */
  readonly forbidden = new Set<string>();

  private constructor(private readonly server: Server, readonly url: string, readonly cert: string, private readonly secrets: Record<string, string>) {}

  static async start(secrets: Record<string, string>): Promise<FakeKeyVault> {
    const { cert, key } = selfSignedCertificate();
    let vault: FakeKeyVault | undefined;
    const server = createServer({ cert, key }, (req, res) => vault!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    vault = new FakeKeyVault(server, `https://127.0.0.1:${(server.address() as AddressInfo).port}`, cert, secrets);
    return vault;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    const m = /^\/secrets\/([^/]+)\/?$/.exec(url.pathname);
    const header = req.headers.authorization ?? '';
    const auth = header === '' ? 'none' : header === `Bearer ${VAULT_TOKEN}` ? 'token' : 'other';
    req.resume();
    if (!m || req.method !== 'GET') return send(res, 404, { error: { code: 'NotFound', message: 'no such route' } });
    const name = decodeURIComponent(m[1]);
    this.requests.push({ secret: name, auth });
    if (auth !== 'token') {
      res.setHeader('WWW-Authenticate', 'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"');
      return send(res, 401, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } });
    }
    if (this.forbidden.has(name)) return send(res, 403, { error: { code: 'Forbidden', message: `The user does not have secrets get permission on key vault for ${name}` } });
    const value = this.secrets[name];
    if (value === undefined) return send(res, 404, { error: { code: 'SecretNotFound', message: `A secret with (name/id) ${name} was not found in this key vault.` } });
    const now = Math.floor(Date.now() / 1000);
    send(res, 200, { value, id: `${this.url}/secrets/${name}/0123456789abcdef0123456789abcdef`, attributes: { enabled: true, created: now, updated: now, recoveryLevel: 'Recoverable+Purgeable' } });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}
