import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOpsfold, type OpsfoldRun as Run } from '../support/runOpsfold';
import { ROOT } from '../support/serviceProcess';

describe('the command line, run as a user runs it', () => {
  let dir: string;
  let dataDir: string;

  /** `node bin/opsfold.js ARGS`, with a data dir of its own and no settings but `env`. */
  const opsfold = (args: string[], env: Record<string, string> = {}): Promise<Run> => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PORT|HOST|OPSFOLD_|WINDOW_|BACKLOG_|SERVICENOW_|SERVICEBUS_|EVENTHUB|TABLES_|KEY_VAULT)/.test(k)));
    return runOpsfold(args, { ...clean, OPSFOLD_DATA_DIR: dataDir, ...env });
  };
  /** Nothing was done: no output on stdout, and the data dir was never even created. */
  const assertNothingDone = async (run: Run) => {
    assert.equal(run.stdout, '');
    await assert.rejects(stat(dataDir), /ENOENT/);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-e2e-args-'));
    dataDir = join(dir, 'data');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('--version and -V print the version of package.json', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const run = await opsfold([flag]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `${version}\n`);
    }
  });

  it('each wrong argument is named with what it must be, exit 2, and nothing is done', async () => {
    const cases: [string[], string][] = [
      [['simulate', '--tenants', 'abc'], 'opsfold: --tenants must be a whole number, 1 or more, got "abc"'],
      [['simulate', '--minutes', '-5'], 'opsfold: --minutes must be a whole number, 1 or more, got "-5"'],
      [['simulate', '--late', '1.5'], 'opsfold: --late must be a fraction from 0 to 1, such as 0.1, got "1.5"'],
      [['simulate', '--to', 'queue'], 'opsfold: --to must be one of log, servicebus, got "queue"'],
      [['rejects', '--limit', 'abc'], 'opsfold: --limit must be a whole number, 1 or more, got "abc"'],
      // Commands added by other work get the parsers of their options' names.
      [['late', '--limit', '-3'], 'opsfold: --limit must be a whole number, 1 or more, got "-3"'],
      [['quarantine', '--limit', '0'], 'opsfold: --limit must be a whole number, 1 or more, got "0"'],
      [['replay', '--heap-mb', '-1'], 'opsfold: --heap-mb must be a whole number, 0 or more, got "-1"'],
      [['replay', '--projection', 'window'], `opsfold: --projection must be windows, rejects, backlog, all or a declared projection's name, got "window" (no projection is declared in ${dataDir})`],
      [['cleanup', '--projection', 'all'], 'opsfold: --projection must be one of windows, rejects, backlog, got "all"'],
      [['start', '--port', '70000'], 'opsfold: --port must be a whole number, from 0 to 65535, got "70000"'],
      [['import-backlog', '--team', 'EUC', '--timezone', 'Central', 'x.csv'], 'opsfold: --timezone must be an IANA time zone such as America/Chicago, got "Central"'],
    ];
    for (const [args, message] of cases) {
      const run = await opsfold(args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.equal(run.stderr.split('\n')[0], message, args.join(' '));
      await assertNothingDone(run);
    }
  });

  it('a missing or unreadable file is named, exit 2', async () => {
    const missing = await opsfold(['ingest', 'nope.ndjson']);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr.split('\n')[0], 'opsfold: FILE nope.ndjson: no such file');
    assert.ok(!missing.stderr.includes('unexpected error'), missing.stderr);
    await assertNothingDone(missing);

    const folder = await opsfold(['import-backlog', '--team', 'EUC', '--timezone', 'America/Chicago', dir]);
    assert.equal(folder.code, 2);
    assert.equal(folder.stderr.split('\n')[0], `opsfold: FILE ${dir}: is a directory, not a file`);
    await assertNothingDone(folder);
  });

  it('an unknown command or option, or a missing one, is exit 2', async () => {
    for (const [args, message] of [
      [['nope'], "opsfold: unknown command 'nope'"],
      [['simulate', '--tenant', '3'], "opsfold: unknown option '--tenant'"],
      [['cleanup'], "opsfold: required option '--projection <name>' not specified"],
      [['ingest'], "opsfold: missing required argument 'file'"],
    ] as const) {
      const run = await opsfold([...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.ok(run.stderr.startsWith(message), `${args.join(' ')}: ${run.stderr}`);
      await assertNothingDone(run);
    }
  });

  it('opsfold config lists every wrong setting with its message, not only the first, and exits 2', async () => {
    const run = await opsfold(['config'], { PORT: 'abc', BACKLOG_POLL_AT: '25:00', WINDOW_IDLE_CLOSE_SECONDS: '7' });
    assert.equal(run.code, 2, run.stderr);
    const rows = new Map(run.stdout.trim().split('\n').map((line) => [line.split(/\s+/)[0], line.replace(/\s+/g, ' ')]));
    assert.equal(rows.get('PORT'), 'PORT WRONG (environment) PORT must be a whole number, got "abc"');
    assert.equal(rows.get('BACKLOG_POLL_AT'), 'BACKLOG_POLL_AT WRONG (environment) BACKLOG_POLL_AT must be a time of day HH:mm (00:00 to 23:59), got "25:00"');
    assert.equal(rows.get('WINDOW_IDLE_CLOSE_SECONDS'), 'WINDOW_IDLE_CLOSE_SECONDS 7 (environment)');
    assert.equal(rows.get('HOST'), 'HOST 127.0.0.1 (default)');
    assert.equal(run.stderr, 'opsfold config: 2 settings are wrong: PORT, BACKLOG_POLL_AT\n');

    const right = await opsfold(['config']);
    assert.equal(right.code, 0, right.stderr);
    assert.ok(!right.stdout.includes('WRONG'));
  });

  it('a failure of the work itself stays exit 1', async () => {
    const run = await opsfold(['log', 'check']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /there is no file log in .*is --data-dir right\?/);
  });
});
