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
import { metaTable } from '../../projections/projectionCatalog';
import { BacklogProjector } from '../../streams/BacklogProjector';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { FakeServiceNow } from '../support/fakeServiceNow';
import { TestClock } from '../support/testClock';

const QUERY = 'active=true^assignment_group.name=EUC';

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
    snow = await FakeServiceNow.start({ username: 'u', password: 'p', counts: { [QUERY]: 42 } });
  });
  after(async () => {
    await snow.close();
    await azurite.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function run(name: string, loggedSampleIso: string, startIso: string, check: (svc: BacklogService, requestsBefore: number) => Promise<void>): Promise<void> {
    const settings = loadSettings({}, {
      OPSFOLD_TABLE_PREFIX: name, OPSFOLD_FLUSH_INTERVAL_MS: '50', BACKLOG_TIMEZONE: 'America/New_York', BACKLOG_TEAMS: JSON.stringify([{ team: 'EUC', query: QUERY }]),
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
    const projector = new BacklogProjector({ log, tables, versions, tablePrefix: name, version: 1, timezone: settings.backlogTimezone, follow: true, flushIntervalMs: 50 });
    const running = projector.run(abort.signal);
    const svc = await startBacklog(settings, rt, {
      log: () => undefined, client: dailyPollClientFrom(settings, () => undefined), clock: new TestClock(Date.parse(startIso)), appender: log, version: () => 1,
    });
    try {
      await check(svc, requestsBefore);
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
});
