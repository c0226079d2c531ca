import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import { dailyPollClientFrom, startBacklog, type BacklogService } from '../../src/composeBacklog';
import { loadSettings } from '../../src/config/settings';
import { encodeEvent } from '../../src/core/logCodec';
import type { Runtime } from '../../src/runtime';
import { teamTimezones } from '../../src/core/backlogTeam';
import { metaTable } from '../../projections/projectionCatalog';
import { Projector } from '../../streams/Projector';
import { backlogProjection } from '../../projections/backlogProjection';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { FakeServiceNow } from '../support/fakeServiceNow';
import { TestClock } from '../support/testClock';

const QUERY = 'active=true^assignment_group.name=EUC';
const TOKYO_QUERY = 'active=true^assignment_group.name=Tokyo';

/** Waits for a condition that the service reaches on its own (real I/O), checking every 20 ms. */
async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`never happened: ${what}`);
}

describe('the backlog part of the service after downtime (test clock, fake ServiceNow, Azurite)', () => {
  let dir: string;
  let azurite: EmbeddedAzurite;
  let snow: FakeServiceNow;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-backlog-svc-'));
    azurite = await EmbeddedAzurite.start();
    snow = await FakeServiceNow.start({ username: 'u', password: 'p', counts: { [QUERY]: 42, [TOKYO_QUERY]: 5 }, tables: { sc_task: { [QUERY]: 17 } } });
  });
  after(async () => {
    await snow.close();
    await azurite.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function run(
    name: string, loggedSampleIso: string, startIso: string, check: (svc: BacklogService, requestsBefore: number, clock: TestClock) => Promise<void>,
    teams: object[] = [{ team: 'EUC', query: QUERY }],
  ): Promise<void> {
    const settings = loadSettings({}, {
      OPSFOLD_TABLE_PREFIX: name, OPSFOLD_FLUSH_INTERVAL_MS: '50', BACKLOG_TIMEZONE: 'America/New_York', BACKLOG_TEAMS: JSON.stringify(teams),
      SERVICENOW_INSTANCE_URL: snow.url, SERVICENOW_USERNAME: 'u', SERVICENOW_PASSWORD: 'p',
    }).settings;
    const log = await FileLog.open(join(dir, name));
    await log.append([encodeEvent({ type: 'BacklogSampled', source: 'servicenow', recordedAtMs: 0, samples: [{ team: 'EUC', sampledAtMs: Date.parse(loggedSampleIso), count: 40 }] })]);
    const tables = TableStorageStore.fromConnectionString(azurite.tableConnectionString);
    const versions = new ProjectionVersions(await tables.rowTable(metaTable(name)));
    const rt: Runtime = { log, appender: log, distributed: false, tables, versions, close: async () => log.close() };
    const abort = new AbortController();
    const requestsBefore = snow.requests.length;
    // The projector runs beside the poll, as the service runs it.
    const projector = new Projector({
      projection: backlogProjection, config: { timezone: settings.backlogTimezone, timezoneOf: teamTimezones(settings.backlogTeams, settings.backlogTimezone) },
      log, tables, versions, tablePrefix: name, version: 1, follow: true, flushIntervalMs: 50,
    });
    const running = projector.run(abort.signal);
    const clock = new TestClock(Date.parse(startIso));
    const svc = await startBacklog(settings, rt, {
      log: () => undefined, client: dailyPollClientFrom(settings, () => undefined), clock, appender: log, version: () => 1,
    });
    try {
      await check(svc, requestsBefore, clock);
    } finally {
      await svc.stop();
      abort.abort();
      await running;
      await rt.close();
    }
  }

  it('started after today\'s poll time with only yesterday\'s sample: polls at once, and the sample reaches the projection', async () => {
    // 20:00 EST on 2024-11-03, the 25-hour day; the poll time 19:00 was 2024-11-04T00:00Z.
    await run('svcA', '2024-11-02T23:00:00Z', '2024-11-04T01:00:00Z', async (svc, before) => {
      const rows = await eventually(async () => {
        const r = await (await svc.api.daily()).list({ partition: ['EUC'] });
        return r.length === 2 ? r : undefined;
      }, 'two snapshots');
      assert.deepEqual(rows.map((r) => [r.row, r.fields.count, r.fields.change, r.fields.sampledAt]), [
        ['2024-11-02', 40, null, '2024-11-02T23:00:00.000Z'],
        ['2024-11-03', 42, 2, '2024-11-04T01:00:00.000Z'],
      ]);
      assert.equal(snow.requests.length - before, 1);
      const health = await eventually(() => (svc.health().nextPollAt ? svc.health() : undefined), 'the next poll time');
      assert.equal(health.nextPollAt, '2024-11-05T00:00:00.000Z');
      assert.deepEqual((health.lastPoll as { reason: string }).reason, 'catch-up');
    });
  });

  it('started after today\'s poll time with a sample today: no poll until tomorrow evening', async () => {
    await run('svcB', '2024-11-03T20:00:00Z', '2024-11-04T01:00:00Z', async (svc, before) => {
      const health = await eventually(() => (svc.health().nextPollAt ? svc.health() : undefined), 'the next poll time');
      assert.equal(health.nextPollAt, '2024-11-05T00:00:00.000Z');
      assert.equal(health.lastPoll, null);
      assert.equal(snow.requests.length - before, 0);
    });
  });

  it('a team with "table" is counted from that table, and one with its own zone and poll time is polled then, its snapshots dated in its zone', async () => {
    const teams = [
      { team: 'EUC', query: QUERY },
      { team: 'EUC tasks', query: QUERY, table: 'sc_task' },
      { team: 'Tokyo desk', query: TOKYO_QUERY, timezone: 'Asia/Tokyo', pollAt: '08:00' },
    ];
    // 2024-11-04T22:00Z is 17:00 EST on 11-04 and 07:00 JST on 11-05: before both poll times.
    await run('svcC', '2024-11-03T23:00:00Z', '2024-11-04T22:00:00Z', async (svc, before, clock) => {
      const daily = async (team: string) => (await (await svc.api.daily()).list({ partition: [team] })).map((r) => [r.row, r.fields.count, r.fields.sampledAt]);
      // 08:00 JST on 11-05 is 23:00Z on 11-04, still 18:00 EST on 11-04 in New York: only Tokyo is polled.
      await clock.runUntil(Date.parse('2024-11-04T23:00:00Z'));
      assert.deepEqual(await eventually(async () => ((await daily('Tokyo desk')).length === 1 ? daily('Tokyo desk') : undefined), 'Tokyo\'s snapshot'), [
        ['2024-11-05', 5, '2024-11-04T23:00:00.000Z'],
      ]);
      assert.deepEqual(snow.requests.slice(before).map((r) => [r.path, r.params.sysparm_query]), [['/api/now/stats/incident', TOKYO_QUERY]]);

      // 19:00 EST: EUC's incidents and EUC's tasks, one from each table, dated in New York.
      await clock.runUntil(Date.parse('2024-11-05T00:00:00Z'));
      assert.deepEqual(await eventually(async () => ((await daily('EUC tasks')).length === 1 ? daily('EUC tasks') : undefined), 'EUC tasks\' snapshot'), [
        ['2024-11-04', 17, '2024-11-05T00:00:00.000Z'],
      ]);
      assert.deepEqual(await eventually(async () => ((await daily('EUC')).length === 2 ? daily('EUC') : undefined), 'EUC\'s snapshots'), [
        ['2024-11-03', 40, '2024-11-03T23:00:00.000Z'],
        ['2024-11-04', 42, '2024-11-05T00:00:00.000Z'],
      ]);
      assert.deepEqual(snow.requests.slice(before + 1).map((r) => [r.path, r.params.sysparm_query]), [['/api/now/stats/incident', QUERY], ['/api/now/stats/sc_task', QUERY]]);

      assert.equal(svc.api.timezoneOf?.('Tokyo desk'), 'Asia/Tokyo');
      assert.equal(svc.api.timezoneOf?.('EUC tasks'), 'America/New_York');
      const health = await eventually(() => (svc.health().nextPollAt === '2024-11-05T23:00:00.000Z' ? svc.health() : undefined), 'the next poll: Tokyo\'s, at 08:00 JST on 11-06');
      assert.deepEqual(health.schedules, [
        { teams: ['EUC', 'EUC tasks'], timezone: 'America/New_York', pollAt: '19:00', nextPollAt: '2024-11-06T00:00:00.000Z' },
        { teams: ['Tokyo desk'], timezone: 'Asia/Tokyo', pollAt: '08:00', nextPollAt: '2024-11-05T23:00:00.000Z' },
      ]);
    }, teams);
  });
});
