import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startServiceProcess, stopServiceProcess, type ServiceProcess } from '../support/serviceProcess';

/** The COPY lines of one stage of docker/Dockerfile: [source, destination] relative to the context or the build stage. */
function copies(stage: 'build' | 'runtime'): [string, string][] {
  const text = readFileSync(join(ROOT, 'docker/Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);
  const body = stage === 'build' ? stages.find((s) => / AS build$/m.test(s.split('\n')[0])) : stages[stages.length - 1];
  assert.ok(body, `the ${stage} stage`);
  const lines = [...body.matchAll(/^COPY (--from=build )?(.+)$/gm)].map((m) => ({ fromBuild: m[1] !== undefined, args: m[2].trim().split(/\s+/) }));
  const out: [string, string][] = [];
  for (const { fromBuild, args } of lines) {
    assert.equal(fromBuild, stage === 'runtime', `COPY ${args.join(' ')} in the ${stage} stage`);
    const destination = args[args.length - 1];
    for (const source of args.slice(0, -1)) out.push([source.replace(/^\/app\//, ''), destination]);
  }
  return out;
}

describe('the Docker image (reproduced from the Dockerfile\'s COPY lines, since no Docker engine runs here)', () => {
  let dir: string;
  let service: ServiceProcess | undefined;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'opsfold-image-'));
  });
  after(async () => {
    if (service) await stopServiceProcess(service);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the runtime stage holds no tests and no TypeScript sources, and the service it holds starts and serves the API and the dashboard', async () => {
    // Build stage: what it copies from the context, compiled as `npm ci` does (prepare: tsc); the packages are this checkout's.
    const build = join(dir, 'build');
    for (const [source, destination] of copies('build')) {
      if (source === 'package.json' || source === 'package-lock.json' || source === 'tsconfig.json') cpSync(join(ROOT, source), join(build, source));
      else cpSync(join(ROOT, source), join(build, destination), { recursive: true });
    }
    assert.equal(existsSync(join(build, 'test')), false, 'the build stage does not copy the tests');
    symlinkSync(join(ROOT, 'node_modules'), join(build, 'node_modules'));
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: build, stdio: 'pipe' });

    // Runtime stage: only what it copies from the build stage.
    const image = join(dir, 'image');
    for (const [source, destination] of copies('runtime')) {
      if (source === 'node_modules') symlinkSync(join(ROOT, 'node_modules'), join(image, 'node_modules'));
      else cpSync(join(build, source), join(image, destination === './' ? source : destination), { recursive: true });
    }
    assert.equal(existsSync(join(image, 'test')), false);
    assert.equal(existsSync(join(image, 'dist/test')), false);
    assert.equal(existsSync(join(image, 'src/main.ts')), false, 'no TypeScript sources in the image');

    service = await startServiceProcess(join(dir, 'data'), { command: [process.execPath, join(image, 'bin/opsfold.js'), 'start', '--port', '0', '--no-simulate', '--data-dir', join(dir, 'data')] });
    const health = await fetch(`${service.base}/healthz`);
    assert.equal(health.status, 200);
    const page = await fetch(`${service.base}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
    assert.equal((await fetch(`${service.base}/v1/keys`)).status, 200);
  });
});
