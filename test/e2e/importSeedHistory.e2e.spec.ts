import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../support/eventually';
import { fileLogBytes } from '../support/fileLogBytes';
import { runOpsfold } from '../support/runOpsfold';
import { killServiceProcesses, startServiceProcess, stopServiceProcess } from '../support/serviceProcess';

const ZONE = 'America/Chicago';

/**
 * EUC's incidents as the original job wrote them: `inc_count,time`, no index, str(datetime.now())
 * on a VM in Chicago (CST = UTC-6, CDT = UTC-5), a first row of 0 from when it created the file.
 */
const SEED_FILE = [
  'inc_count,time',
  '0,2021-03-12 18:42:17.503112', // line 2: the creation row
  '37,2021-03-12 19:00:02.345678', // 2021-03-13T01:00:02.345Z
  '41,2021-03-13 19:00:00', // 2021-03-14T01:00:00.000Z
  '39,2021-03-14 19:00:01.000500', // spring forward: CDT, 2021-03-15T00:00:01.000Z
  '40,2021-03-16 19:00:03.999999', // 2021-03-17T00:00:03.999Z (03-15 missing)
  '44,2021-11-06 19:00:00.120000', // 2021-11-07T00:00:00.120Z
  '46,2021-11-07 19:00:02.500000', // fall back: CST, 2021-11-08T01:00:02.500Z
  '',
].join('\n');

/** The snapshots in Chicago dates, worked out by hand (03-16 → 11-06 is 235 days: 234 missing). */
const EXPECTED = [
  { date: '2021-03-12', count: 37, sampledAt: '2021-03-13T01:00:02.345Z', samples: 1, change: null, gapDays: 0 },
  { date: '2021-03-13', count: 41, sampledAt: '2021-03-14T01:00:00.000Z', samples: 1, change: 4, gapDays: 0 },
  { date: '2021-03-14', count: 39, sampledAt: '2021-03-15T00:00:01.000Z', samples: 1, change: -2, gapDays: 0 },
  { date: '2021-03-16', count: 40, sampledAt: '2021-03-17T00:00:03.999Z', samples: 1, change: 1, gapDays: 1 },
  { date: '2021-11-06', count: 44, sampledAt: '2021-11-07T00:00:00.120Z', samples: 1, change: 4, gapDays: 234 },
  { date: '2021-11-07', count: 46, sampledAt: '2021-11-08T01:00:02.500Z', samples: 1, change: 2, gapDays: 0 },
];

describe('opsfold import-backlog on the original job\'s own files', () => {
  let dir: string;
  let dataDir: string;
  const env = { ...process.env, OPSFOLD_TABLE_PREFIX: 'e2eseed', OPSFOLD_SIMULATE: 'false', OPSFOLD_FLUSH_INTERVAL_MS: '200', BACKLOG_TIMEZONE: ZONE };
  const opsfold = (args: string[]) => runOpsfold([...args, '--data-dir', dataDir], env);
  const logBytes = () => fileLogBytes(join(dataDir, 'log'));
  const file = (name: string) => join(dir, name);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-e2e-seed-'));
    dataDir = join(dir, 'data');
    await writeFile(file('backlog_data_euc_incidents.csv'), SEED_FILE);
    await writeFile(file('broken.csv'), 'inc_count,time\n0,2021-12-01 10:00:00.5\n12,2021-12-01 19:00:00\n-4,2021-12-02 19:00:00\n13,2021-12-03 19:00\n14,2022-03-13 02:15:00.250000\n');
    await writeFile(file('support_export.csv'), 'Team,Polled At,Open\nSupport,2021-03-14 19:00:00,7\nSupport,2021-03-15 19:00:00.000100,9\n');
  });
  after(async () => {
    await killServiceProcesses();
    await rm(dir, { recursive: true, force: true });
  });

  it('imports the seed file without flags, leaving out (and saying so) the 0 written when the file was created', async () => {
    const run = await opsfold(['import-backlog', '--team', 'EUC', '--timezone', ZONE, file('backlog_data_euc_incidents.csv')]);

    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      team: 'EUC', file: 'backlog_data_euc_incidents.csv', rows: 6, new: 6, alreadyInLog: 0, repeatedInFile: 0,
      from: '2021-03-13T01:00:02.345Z', to: '2021-11-08T01:00:02.500Z',
      creationRowSkipped: { line: 2, at: '2021-03-13T00:42:17.503Z' },
    });
    assert.match(run.stderr, /backlog_data_euc_incidents\.csv:2: left out the 0 the original job wrote when it created the file \(2021-03-13T00:42:17\.503Z\)/);
    assert.match(run.stderr, /--keep-creation-row/);
  });

  it('importing it again adds nothing: the log does not grow', async () => {
    const bytes = await logBytes();
    const run = await opsfold(['import-backlog', '--team', 'EUC', '--timezone', ZONE, file('backlog_data_euc_incidents.csv')]);

    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).new, 0);
    assert.equal(JSON.parse(run.stdout).alreadyInLog, 6);
    assert.equal(await logBytes(), bytes);
  });

  it('a seed file with wrong lines is refused whole, each line named', async () => {
    const bytes = await logBytes();
    const run = await opsfold(['import-backlog', '--team', 'EUC', '--timezone', ZONE, file('broken.csv')]);

    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    const lines = run.stderr.split('\n').filter((l) => l.includes('broken.csv:'));
    assert.deepEqual(lines.map((l) => l.slice(l.indexOf('broken.csv:'))), [
      'broken.csv:4: inc_count must be a whole number of incidents (0 or more), got "-4"',
      'broken.csv:6: time "2022-03-13 02:15:00.250000" does not exist in America/Chicago: the clocks skipped that time when daylight saving time began',
    ]);
    assert.match(run.stderr, /2 lines are wrong; nothing was imported/);
    assert.equal(await logBytes(), bytes);
  });

  it('another export needs --time-column and --count-column, and the error says so', async () => {
    const bytes = await logBytes();
    const refused = await opsfold(['import-backlog', '--team', 'Support', '--timezone', ZONE, file('support_export.csv')]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /support_export\.csv:1: the header has no time column: "timestamp" or "time", or name it with --time-column \(it has: Team, Polled At, Open\)/);
    assert.equal(await logBytes(), bytes);

    const run = await opsfold(['import-backlog', '--team', 'Support', '--timezone', ZONE, '--time-column', 'Polled At', '--count-column', 'open', file('support_export.csv')]);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    assert.deepEqual([out.new, out.from, out.to, out.creationRowSkipped], [2, '2021-03-15T00:00:00.000Z', '2021-03-16T00:00:00.000Z', undefined]);
  });

  it('the service serves the imported history as Chicago dates', async () => {
    const service = await startServiceProcess(dataDir, { env });
    const { base } = service;

    const euc = await eventually('EUC\'s snapshots', async () => {
      const body = (await (await fetch(`${base}/v1/backlog?team=EUC`)).json()) as { data: unknown[] };
      return body.data.length === EXPECTED.length && body;
    }, 60_000);
    assert.deepEqual(euc, { team: 'EUC', timezone: ZONE, data: EXPECTED });

    await stopServiceProcess(service);
  });
});
