import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { EmbeddedAzurite, withoutHeapLimits } from '../../src/adapters/azurite/EmbeddedAzurite';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import { commandAzurite } from '../../src/startAzuriteEarly';
import { eventually } from '../support/eventually';
import { isRunning } from '../support/serviceProcess';

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
  it('runs in a process group of its own, so a signal to the parent\'s group does not reach it, and exits when its parent is killed with SIGKILL', async () => {
    // A parent in a group of its own starts the child, prints both pids and groups and the child's port, and outlives a SIGINT.
    const script = `
      const { EmbeddedAzurite } = require(${JSON.stringify(join(__dirname, '../../src/adapters/azurite/EmbeddedAzurite'))});
      const { readFileSync } = require('node:fs');
      const pgid = (pid) => Number(readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' ')[2]);
      process.on('SIGINT', () => console.log('SIGINT'));
      EmbeddedAzurite.start({ childProcess: true }).then((azurite) => {
        console.log(JSON.stringify({ child: azurite.childPid, childGroup: pgid(azurite.childPid), group: pgid(process.pid), port: azurite.tablePort }));
        setInterval(() => undefined, 1000);
      });`;
    const parent = spawn(process.execPath, ['-e', script], { detached: true, stdio: ['ignore', 'pipe', 'inherit'], env: withoutTestRunner(process.env) });
    const lines: string[] = [];
    parent.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n')));
    const first = await eventually('the parent\'s report', () => lines[0]);
    const { child, childGroup, group, port } = JSON.parse(first) as { child: number; childGroup: number; group: number; port: number };
    assert.equal(group, parent.pid);
    assert.equal(childGroup, child, 'the child leads a group of its own');

    process.kill(-group, 'SIGINT'); // what Ctrl-C in a terminal does
    await eventually('the parent told of it', () => lines.includes('SIGINT'));
    // The child runs code after the signal was sent: it did not get it (its default action would have ended it).
    assert.ok((await fetch(`http://127.0.0.1:${port}/devstoreaccount1/Tables`)).status > 0);
    assert.ok(isRunning(child));

    process.kill(parent.pid!, 'SIGKILL');
    await eventually('the child gone after its parent\'s kill -9 (its IPC channel closed)', () => !isRunning(child));
  });

  it('a command\'s Azurite (autosave off) keeps everything written before its stop: a second start on the same directory reads every row back', async () => {
    // Given a command's Azurite, as opsfold replay starts it, and rows written in several transactions.
    const location = await mkdtemp(join(tmpdir(), 'opsfold-azurite-save-'));
    try {
      const first = await EmbeddedAzurite.start(commandAzurite(location));
      const table = await TableStorageStore.fromConnectionString(first.tableConnectionString).rowTable('savedonce');
      const rows = Array.from({ length: 450 }, (_, i) => ({ partition: [`p${i % 3}`], row: `r${String(i).padStart(4, '0')}`, fields: { i, text: 'x'.repeat(200) } }));
      await table.upsert(rows);

      // When it stops (its one save) and another starts on the same directory.
      await first.stop();
      const second = await EmbeddedAzurite.start(commandAzurite(location));
      try {
        const again = await TableStorageStore.fromConnectionString(second.tableConnectionString).rowTable('savedonce');
        // Then every row is there.
        const read = await again.list();
        assert.equal(read.length, rows.length);
        assert.deepEqual(read.map((r) => Number(r.fields.i)).sort((a, b) => a - b), rows.map((r) => r.fields.i));
      } finally {
        await second.stop();
      }
    } finally {
      await rm(location, { recursive: true, force: true });
    }
  });
});
