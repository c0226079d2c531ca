import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { withoutHeapLimits } from '../../src/adapters/azurite/EmbeddedAzurite';

/** The environment without node:test's marker, which would make a plain `node -e` act as a test file. */
function withoutTestRunner(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _, ...rest } = env;
  return rest;
}

describe('embedded Azurite in a process of its own', () => {
  it('does not inherit the heap limit of a capped parent (a rebuild run with --max-old-space-size), from its flags or NODE_OPTIONS, nor its other flags', async () => {
    // A parent capped both ways starts the child and prints the child's command line and NODE_OPTIONS, read from /proc.
    const script = `
      const { EmbeddedAzurite } = require(${JSON.stringify(join(__dirname, '../../src/adapters/azurite/EmbeddedAzurite'))});
      const { readFileSync } = require('node:fs');
      EmbeddedAzurite.start({ childProcess: true }).then(async (azurite) => {
        const pid = azurite.childPid;
        const cmdline = readFileSync('/proc/' + pid + '/cmdline', 'utf8').split('\\0');
        const env = readFileSync('/proc/' + pid + '/environ', 'utf8').split('\\0').find((e) => e.startsWith('NODE_OPTIONS=')) ?? '';
        const answers = (await fetch('http://127.0.0.1:' + azurite.tablePort + '/devstoreaccount1/Tables')).status;
        await azurite.stop();
        console.log(JSON.stringify({ cmdline, env, answers }));
      });`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--max-old-space-size=200', '-e', script], {
      timeout: 60_000,
      env: { ...withoutTestRunner(process.env), NODE_OPTIONS: '--max-old-space-size=150 --no-warnings' },
    });
    const child = JSON.parse(stdout) as { cmdline: string[]; env: string; answers: number };

    assert.deepEqual(child.cmdline.slice(0, 2), [process.execPath, join(__dirname, '../../src/adapters/azurite/azuriteChild.js')], 'no Node flags before the script');
    assert.equal(child.env, 'NODE_OPTIONS=--no-warnings');
    assert.ok(child.answers > 0, 'the child serves tables');
  });

  it('withoutHeapLimits drops the V8 heap limits from NODE_OPTIONS in either spelling and keeps every other option', () => {
    assert.deepEqual(
      withoutHeapLimits(['--max-old-space-size=256', '--inspect', '--max_semi_space_size', '32', '--max-semi-space-size=8', '--enable-source-maps', '']),
      ['--inspect', '--enable-source-maps'],
    );
  });
});
