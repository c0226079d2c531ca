import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../support/eventually';
import { FakeServiceNow } from '../support/fakeServiceNow';
import { fileLogBytes } from '../support/fileLogBytes';
import { runOpsfold } from '../support/runOpsfold';
import { killServiceProcesses, startServiceProcess, stopServiceProcess } from '../support/serviceProcess';

const USER = 'svc.opsfold';
const PASSWORD = 'Corr3ct-H0rse!';
const EUC_QUERY = 'active=true^assignment_group.name=EUC';

/** EUC's history as the old script wrote it: a pandas index column, naive local times of New York. */
const HISTORY = [
  ',timestamp,backlog_incident_count',
  '0,2024-03-08 19:00:02,30',
  '1,2024-03-09 19:00:01,35',
  '2,2024-03-09 23:59:59,36', // still 03-09 in New York, 03-10 in UTC
  '3,2024-03-10 19:00:03,33', // the 23-hour day
  '4,2024-03-12 19:00:00,31', // 03-11 is missing
  '5,2024-11-03 01:30:00,50', // occurs twice that night: the earlier (EDT) instant
  '6,2024-11-03 19:00:00,52', // the 25-hour day
].join('\n');

/** The snapshots of that history, worked out by hand (gap 03-12 → 11-03: 236 days apart). */
const EXPECTED = [
  { date: '2024-03-08', count: 30, sampledAt: '2024-03-09T00:00:02.000Z', samples: 1, change: null, gapDays: 0 },
  { date: '2024-03-09', count: 36, sampledAt: '2024-03-10T04:59:59.000Z', samples: 2, change: 6, gapDays: 0 },
  { date: '2024-03-10', count: 33, sampledAt: '2024-03-10T23:00:03.000Z', samples: 1, change: -3, gapDays: 0 },
  { date: '2024-03-12', count: 31, sampledAt: '2024-03-12T23:00:00.000Z', samples: 1, change: -2, gapDays: 1 },
  { date: '2024-11-03', count: 52, sampledAt: '2024-11-04T00:00:00.000Z', samples: 2, change: 21, gapDays: 235 },
];

describe('backlog from the command line to the read API', () => {
  let dir: string;
  let dataDir: string;
  let snow: FakeServiceNow;
  const env = (extra: Record<string, string> = {}) => ({
    ...process.env,
    OPSFOLD_TABLE_PREFIX: 'e2ebk',
    OPSFOLD_SIMULATE: 'false',
    OPSFOLD_FLUSH_INTERVAL_MS: '200',
    BACKLOG_TIMEZONE: 'America/New_York',
    BACKLOG_TEAMS: JSON.stringify([{ team: 'EUC', query: EUC_QUERY }]),
    SERVICENOW_INSTANCE_URL: snow.url,
    SERVICENOW_USERNAME: USER,
    SERVICENOW_PASSWORD: PASSWORD,
    ...extra,
  });
  const opsfold = (args: string[], extra: Record<string, string> = {}) => runOpsfold([...args, '--data-dir', dataDir], env(extra));
  const logBytes = () => fileLogBytes(join(dataDir, 'log'));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-e2e-backlog-'));
    dataDir = join(dir, 'data');
    snow = await FakeServiceNow.start({ username: USER, password: PASSWORD, counts: { [EUC_QUERY]: 42 }, tables: { sc_task: { [EUC_QUERY]: 17 } } });
    await writeFile(join(dir, 'euc.csv'), HISTORY);
    await writeFile(join(dir, 'bad.csv'), 'timestamp,backlog_incident_count\n2024-12-01 19:00:00,60\n2024-03-10 02:30:00,61\n2024-12-02 19:00:00,62\n');
  });
  after(async () => {
    await killServiceProcesses();
    await snow.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('import-backlog appends the history once; importing it again adds nothing', async () => {
    const first = await opsfold(['import-backlog', '--team', 'EUC', '--timezone', 'America/New_York', join(dir, 'euc.csv')]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(JSON.parse(first.stdout), { team: 'EUC', file: 'euc.csv', rows: 7, new: 7, alreadyInLog: 0, repeatedInFile: 0, from: '2024-03-09T00:00:02.000Z', to: '2024-11-04T00:00:00.000Z' });
    const bytes = await logBytes();
    assert.ok(bytes > 0);

    const again = await opsfold(['import-backlog', '--team', 'EUC', '--timezone', 'America/New_York', join(dir, 'euc.csv')]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).new, 0);
    assert.equal(JSON.parse(again.stdout).alreadyInLog, 7);
    assert.equal(await logBytes(), bytes);
  });

  it('a file with one bad line is refused whole: exit 1, the line named, the log untouched', async () => {
    const bytes = await logBytes();
    const run = await opsfold(['import-backlog', '--team', 'EUC', '--timezone', 'America/New_York', join(dir, 'bad.csv')]);

    assert.equal(run.code, 1);
    assert.match(run.stderr, /bad\.csv:3: timestamp "2024-03-10 02:30:00" does not exist in America\/New_York/);
    assert.match(run.stderr, /nothing was imported/);
    assert.equal(run.stdout, '');
    assert.equal(await logBytes(), bytes);
  });

  it('poll-backlog with a password ServiceNow refuses: exit 1, a clear message, nothing appended, no secret shown', async () => {
    const bytes = await logBytes();
    const run = await opsfold(['poll-backlog'], { SERVICENOW_PASSWORD: 'wrong-Pa55' });

    assert.equal(run.code, 1);
    assert.match(run.stderr, /401 Unauthorized/);
    assert.ok(!run.stderr.includes('wrong-Pa55'));
    assert.equal(await logBytes(), bytes);
  });

  it('poll-backlog through a 500: retried, the sample appended, the query logged', async () => {
    snow.failNext(500);
    const bytes = await logBytes();
    const run = await opsfold(['poll-backlog', '--team', 'EUC']);

    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { samples: { team: string; count: number; sampledAt: string }[]; failed: string[] };
    assert.deepEqual(out.samples.map((s) => [s.team, s.count]), [['EUC', 42]]);
    assert.deepEqual(out.failed, []);
    assert.ok(run.stderr.includes(`sysparm_query=${JSON.stringify(EUC_QUERY)}`));
    assert.ok(!run.stderr.includes(PASSWORD));
    assert.ok((await logBytes()) > bytes);
  });

  it('opsfold start serves the snapshots, the CSV and the teams, and shows the next poll in /healthz', async () => {
    const service = await startServiceProcess(dataDir, { env: env() });
    const { base } = service;
    const getJson = async (path: string) => (await fetch(`${base}${path}`)).json() as Promise<any>;

    // The projector catches up with the log shortly after the start.
    const all = await eventually('the history and today\'s poll', async () => {
      const body = (await getJson('/v1/backlog?team=EUC')) as { data: { date: string; count: number }[] };
      return body.data.length >= EXPECTED.length + 1 && body;
    }, 30_000);
    const history = await getJson('/v1/backlog?team=EUC&from=2024-01-01&to=2024-12-31');
    assert.deepEqual(history, { team: 'EUC', timezone: 'America/New_York', data: EXPECTED });
    assert.equal(all.data.length, EXPECTED.length + 1);
    assert.equal(all.data[EXPECTED.length].count, 42); // today's poll

    const csv = await (await fetch(`${base}/v1/backlog?team=EUC&from=2024-03-09&to=2024-03-10&format=csv`)).text();
    assert.equal(csv, 'timestamp,backlog_incident_count,date,samples,change,gap_days,team\r\n2024-03-09T23:59:59-05:00,36,2024-03-09,2,6,0,EUC\r\n2024-03-10T19:00:03-04:00,33,2024-03-10,1,-3,0,EUC\r\n');

    const teams = await getJson('/v1/backlog/teams');
    assert.equal(teams.teams[0].team, 'EUC');
    assert.equal(teams.teams[0].from, '2024-03-08');
    assert.equal(teams.teams[0].snapshots, EXPECTED.length + 1);

    const health = await getJson('/healthz');
    assert.deepEqual(health.backlog.teams, ['EUC']);
    const next = Date.parse(health.backlog.nextPollAt);
    assert.ok(next > Date.now() && next <= Date.now() + 25 * 3_600_000, health.backlog.nextPollAt);
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(next);
    assert.equal(local, '19:00');

    await stopServiceProcess(service);
  });

  it('opsfold replay --projection backlog rebuilds the projection from the log', async () => {
    const run = await opsfold(['replay', '--projection', 'backlog']);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    assert.equal(out.projection, 'backlog');
    assert.equal(out.samples, HISTORY.split('\n').length - 1 + 1);
    assert.equal(out.duplicates, 0);
  });

  it('poll-backlog reads a team with "table":"sc_task" from /api/now/stats/sc_task; a bad table name stops it, naming the entry', async () => {
    const teams = JSON.stringify([{ team: 'EUC', query: EUC_QUERY }, { team: 'EUC tasks', query: EUC_QUERY, table: 'sc_task', timezone: 'Asia/Tokyo', pollAt: '08:00' }]);
    const before = snow.requests.length;
    const run = await opsfold(['poll-backlog'], { BACKLOG_TEAMS: teams });

    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { samples: { team: string; count: number }[]; failed: string[] };
    assert.deepEqual(out.samples.map((s) => [s.team, s.count]), [['EUC', 42], ['EUC tasks', 17]]);
    assert.deepEqual(snow.requests.slice(before).map((r) => r.path), ['/api/now/stats/incident', '/api/now/stats/sc_task']);
    assert.ok(run.stderr.includes(`/api/now/stats/sc_task sysparm_query=${JSON.stringify(EUC_QUERY)} → 17`), run.stderr);

    const bad = await opsfold(['poll-backlog'], { BACKLOG_TEAMS: JSON.stringify([{ team: 'EUC tasks', query: EUC_QUERY, table: 'sc task' }]) });
    assert.notEqual(bad.code, 0, bad.stderr);
    assert.match(bad.stderr, /BACKLOG_TEAMS\[0\]\.table must be a ServiceNow table name/);
    assert.equal(snow.requests.length, before + 2);
  });
});
