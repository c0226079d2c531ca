#!/usr/bin/env node
'use strict';
/**
 * Part of `npm test`: the dashboard's browser tests drive a real Chromium through playwright-core,
 * which never downloads a browser. This finds one (CHROMIUM_PATH, or Debian's /usr/bin/chromium) and,
 * on a Debian or Ubuntu machine without it, installs Debian's `chromium` package (as root, or through
 * `sudo -n`), so that `npm ci && npm test` is the whole set-up. Where it cannot, it says what to do
 * and exits 1 rather than letting the browser tests fail one by one.
 */
const { existsSync } = require('node:fs');
const { spawnSync } = require('node:child_process');

const DEBIAN_CHROMIUM = '/usr/bin/chromium';
const say = (line) => process.stderr.write(`ensure-chromium: ${line}\n`);

function found() {
  const chosen = process.env.CHROMIUM_PATH;
  if (chosen) {
    if (existsSync(chosen)) return chosen;
    say(`CHROMIUM_PATH names ${chosen}, which does not exist`);
    process.exit(1);
  }
  return existsSync(DEBIAN_CHROMIUM) ? DEBIAN_CHROMIUM : undefined;
}

function run(argv) {
  say(`running: ${argv.join(' ')}`);
  const result = spawnSync(argv[0], argv.slice(1), {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return result.status === 0;
}

function install() {
  if (process.platform !== 'linux' || !existsSync('/usr/bin/apt-get')) return false;
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const prefix = asRoot ? [] : spawnSync('sudo', ['-n', 'true']).status === 0 ? ['sudo', '-n'] : undefined;
  if (prefix === undefined) return false;
  say(`Chromium is missing (${DEBIAN_CHROMIUM}): installing Debian's chromium package for the browser tests`);
  return run([...prefix, 'apt-get', 'update', '-q']) && run([...prefix, 'apt-get', 'install', '-y', '-q', 'chromium']);
}

const path = found() ?? (install() ? found() : undefined);
if (path === undefined) {
  say('the dashboard\'s browser tests need Chromium, and it could not be installed here.');
  say('Install it (Debian/Ubuntu: `sudo apt-get install -y chromium`) or set CHROMIUM_PATH to a Chromium or Chrome binary, then run `npm test` again.');
  process.exit(1);
}
