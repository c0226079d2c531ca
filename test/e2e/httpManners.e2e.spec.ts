import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '../../src/config/settings';
import { startService, type Service } from '../../src/main';

const TOKEN = 'manners-T0ken';
const GRAFANA = 'https://grafana.example.com';
const LOCAL = 'http://localhost:3000';
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Sends `head` as the whole request on a raw socket (no client library to refuse it first) and reads the answer to the end. */
function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

describe('HTTP manners of a started service (token and CORS origins set)', () => {
  let dir: string;
  let service: Service;
  let base: string;
  const auth = { Authorization: `Bearer ${TOKEN}` };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-e2e-manners-'));
    const { settings } = loadSettings(
      { port: 0, host: '127.0.0.1', dataDir: join(dir, 'data'), simulate: false },
      { OPSFOLD_API_TOKEN: TOKEN, OPSFOLD_CORS_ORIGINS: `${GRAFANA},${LOCAL}` },
    );
    service = await startService(settings);
    base = `http://127.0.0.1:${service.port}`;
  });
  after(async () => {
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a listed origin may read an answer: Access-Control-Allow-Origin is that origin, with Vary: Origin', async () => {
    const res = await fetch(`${base}/v1/keys`, { headers: { ...auth, Origin: LOCAL } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), LOCAL);
    assert.match(res.headers.get('vary') ?? '', /\bOrigin\b/);
    assert.deepEqual(await res.json(), { keys: [] });
  });

  it('another origin gets the answer without any CORS header, so its page cannot read it', async () => {
    const res = await fetch(`${base}/v1/keys`, { headers: { ...auth, Origin: 'https://evil.example.net' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.equal(res.headers.get('access-control-allow-methods'), null);
    assert.match(res.headers.get('vary') ?? '', /\bOrigin\b/);
  });

  it("a listed origin's preflight is answered without a token: the methods and the headers a client sends", async () => {
    const res = await fetch(`${base}/v1/spoc`, {
      method: 'OPTIONS',
      headers: { Origin: GRAFANA, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, idempotency-key, content-type' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), GRAFANA);
    assert.equal(res.headers.get('access-control-allow-methods'), 'GET, HEAD, POST, OPTIONS');
    assert.equal(res.headers.get('access-control-allow-headers'), 'Authorization, Idempotency-Key, Content-Type, Last-Event-ID');
    assert.match(res.headers.get('vary') ?? '', /\bOrigin\b/);
  });

  it("another origin's preflight is refused with the error object and no CORS header", async () => {
    const res = await fetch(`${base}/v1/get-data?key=cpu`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://grafana.example.com.evil.net', 'Access-Control-Request-Method': 'GET' },
    });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'origin_not_allowed');
  });

  it('a 401 says how to authenticate (WWW-Authenticate: Bearer with a realm), readable by a listed origin', async () => {
    const res = await fetch(`${base}/v1/keys`, { headers: { Origin: GRAFANA } });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="opsfold"');
    assert.equal(res.headers.get('access-control-allow-origin'), GRAFANA);
    assert.deepEqual(await res.json(), { error: { code: 'unauthorized', message: 'this route needs Authorization: Bearer <token>' } });
    const wrong = await fetch(`${base}/v1/keys`, { headers: { Authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('www-authenticate'), 'Bearer realm="opsfold"');
  });

  it('JSON answers, errors and 404s carry X-Content-Type-Options: nosniff', async () => {
    for (const [path, status] of [['/v1/keys', 200], ['/healthz', 200], ['/v1/get-data', 400], ['/nope', 404]] as const) {
      const res = await fetch(`${base}${path}`, { headers: auth });
      assert.equal(res.status, status, path);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    }
  });

  it('the dashboard comes with its Content-Security-Policy and may not be framed', async () => {
    for (const path of ['/', '/app.js', '/style.css']) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-security-policy'), CSP, path);
      assert.equal(res.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    }
    const html = await (await fetch(`${base}/`)).text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler for the policy to refuse');
  });

  it('to=2026-02-30 is a 400 with the error object, not 2 March', async () => {
    const res = await fetch(`${base}/v1/get-data?key=cpu&to=2026-02-30`, { headers: auth });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.deepEqual(await res.json(), {
      error: { code: 'invalid_parameter', parameter: 'to', message: 'parameter "to" is not a valid ISO 8601 date or time: "2026-02-30" (a day, hour, minute or offset that does not exist?)' },
    });
    const tenant = await fetch(`${base}/v1/get-tenant-data?key=cpu&tenant=t&vm=v&to=2026-02-28T24:00Z`, { headers: auth });
    assert.equal(tenant.status, 400);
    assert.equal(((await tenant.json()) as { error: { parameter: string } }).error.parameter, 'to');
  });

  it('a 20 KB URL gets the JSON error object (431), not an empty answer', async () => {
    const url = `/v1/get-data?key=${'k'.repeat(20 * 1024)}`;
    const answer = await rawRequest(service.port, `GET ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
    const [head, body] = answer.split('\r\n\r\n');
    const lines = head.split('\r\n');
    assert.equal(lines[0], 'HTTP/1.1 431 Request Header Fields Too Large');
    const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    assert.match(headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(headers.get('x-content-type-options'), 'nosniff');
    assert.equal(Number(headers.get('content-length')), Buffer.byteLength(body));
    assert.deepEqual(JSON.parse(body), { error: { code: 'request_too_large', message: "the request's URL and headers are larger than 16384 bytes; ask for less (a shorter query string)" } });

    // The service answers the next request as before.
    assert.equal((await fetch(`${base}/v1/keys`, { headers: auth })).status, 200);
  });

  it('bytes that are not HTTP get a JSON 400', async () => {
    const answer = await rawRequest(service.port, 'HELLO\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.deepEqual(JSON.parse(answer.split('\r\n\r\n')[1]), { error: { code: 'bad_request', message: 'the request is not valid HTTP' } });
  });
});

describe('CORS is opt-in', () => {
  let dir: string;
  let service: Service;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-e2e-nocors-'));
    service = await startService(loadSettings({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'data'), simulate: false }, {}).settings);
  });
  after(async () => {
    await service?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('without OPSFOLD_CORS_ORIGINS no origin gets a CORS header, and a preflight is not answered as one', async () => {
    const base = `http://127.0.0.1:${service.port}`;
    const res = await fetch(`${base}/v1/keys`, { headers: { Origin: GRAFANA } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    const preflight = await fetch(`${base}/v1/keys`, { method: 'OPTIONS', headers: { Origin: GRAFANA, 'Access-Control-Request-Method': 'GET' } });
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    assert.equal(preflight.headers.get('access-control-allow-methods'), null);
  });
});
