import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const script = resolve(__dirname, '../../../scripts/ensure-chromium.js');
const run = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [script], { env: { ...process.env, ...env }, encoding: 'utf8' });

describe('npm test brings its own browser (scripts/ensure-chromium.js)', () => {
  it('when CHROMIUM_PATH names an existing binary, it is used as it is and nothing is installed', () => {
    const result = run({ CHROMIUM_PATH: process.execPath });
    assert.equal(result.status, 0);
    assert.doesNotMatch(result.stderr, /apt-get/);
  });

  it('when CHROMIUM_PATH names a missing file, it stops with exit 1 and names the path', () => {
    const result = run({ CHROMIUM_PATH: '/nonexistent/chromium' });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /CHROMIUM_PATH names \/nonexistent\/chromium, which does not exist/);
  });

  it('package.json runs it before the tests, and .ci/run runs only the README command', () => {
    const pkg = JSON.parse(require('node:fs').readFileSync(resolve(__dirname, '../../../package.json'), 'utf8')) as { scripts: { test: string } };
    assert.match(pkg.scripts.test, /^node scripts\/ensure-chromium\.js && /);
    const ci = require('node:fs').readFileSync(resolve(__dirname, '../../../.ci/run'), 'utf8') as string;
    assert.doesNotMatch(ci, /apt-get/);
    assert.match(ci, /^npm ci && npm test$/m);
  });
});
