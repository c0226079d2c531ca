import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import { createApp } from '../../src/adapters/http/createApp';
import { encodeEvent } from '../../src/core/logCodec';
import type { BacklogSample, BacklogSampled } from '../../src/core/events';
import type { Row } from '../../src/core/ports';
import { openTable } from '../../projections/projectionTables';
import { Projector } from '../../streams/Projector';
import { backlogProjection } from '../../projections/backlogProjection';
import { ProjectionVersions } from '../../streams/projectionVersions';

const ODD_TEAM = "Support/2ª #1 'L2'";
const at = (iso: string) => Date.parse(iso);
const sample = (team: string, iso: string, count: number, query?: string): BacklogSample => ({ team, sampledAtMs: at(iso), count, ...(query ? { query } : {}) });
const event = (source: 'csv' | 'servicenow', samples: BacklogSample[]): BacklogSampled => ({ type: 'BacklogSampled', source, recordedAtMs: Date.now(), samples });

/** The daily rows of a team as [date, count, samples, change, gapDays, sampledAt]. */
const summary = (rows: Row[]) => rows.map((r) => [r.row, r.fields.count, r.fields.samples, r.fields.change, r.fields.gapDays, r.fields.sampledAt]);

describe('BacklogDaily projection on Azurite', () => {
  let dir: string;
  let azurite: EmbeddedAzurite;
  let store: TableStorageStore;
  let log: FileLog;
  let versions: ProjectionVersions;
  const project = (version: number, timezone = 'America/New_York', timezoneOf?: (team: string) => string) =>
    new Projector({ projection: backlogProjection, config: { timezone, timezoneOf }, log, tables: store, versions, tablePrefix: 'bk', version, follow: false, flushIntervalMs: 1000 }).run();
  const daily = async (version: number, team: string) => (await openTable(store, backlogProjection.tables.daily, { prefix: 'bk', version })).list({ partition: [team] });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-backlog-'));
    azurite = await EmbeddedAzurite.start();
    store = TableStorageStore.fromConnectionString(azurite.tableConnectionString);
    log = await FileLog.open(join(dir, 'log'));
    versions = new ProjectionVersions(await store.rowTable('bkMeta'));
    await log.append([
      encodeEvent(event('csv', [
        sample('EUC', '2024-03-08T00:00:00Z', 30), // 19:00 EST 03-07
        sample('EUC', '2024-03-10T00:00:00Z', 35), // 19:00 EST 03-09 (03-08 missing)
        sample('EUC', '2024-03-10T04:59:59Z', 36), // 23:59:59 EST 03-09, the UTC date is 03-10
        sample('EUC', '2024-03-10T05:00:30Z', 20), // 00:00:30 EST 03-10
        sample(ODD_TEAM, '2024-03-10T23:00:00Z', 7),
      ])),
      encodeEvent(event('servicenow', [sample('EUC', '2024-03-10T23:00:00Z', 33, 'active=true^assignment_group.name=EUC')])), // 19:00 EDT 03-10
      encodeEvent(event('csv', [sample('EUC', '2024-03-10T23:00:00Z', 99)])), // a repeat of that identity: changes nothing
    ]);
  });

  after(async () => {
    await log?.close();
    await azurite?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes one row per local date with the last sample, samples, change and gapDays', async () => {
    const { position, samples: folded, duplicates } = await project(1);

    assert.deepEqual({ position, samples: folded, duplicates }, { position: await log.end(), samples: 6, duplicates: 1 });
    assert.deepEqual(summary(await daily(1, 'EUC')), [
      ['2024-03-07', 30, 1, null, 0, '2024-03-08T00:00:00.000Z'],
      ['2024-03-09', 36, 2, 6, 1, '2024-03-10T04:59:59.000Z'],
      ['2024-03-10', 33, 2, -3, 0, '2024-03-10T23:00:00.000Z'],
    ]);
    assert.deepEqual(summary(await daily(1, ODD_TEAM)), [['2024-03-10', 7, 1, null, 0, '2024-03-10T23:00:00.000Z']]);
    const samples = await (await openTable(store, backlogProjection.tables.samples, { prefix: 'bk', version: 1 })).get(['EUC'], '2024-03-10T23:00:00.000Z');
    assert.equal(samples?.fields.count, 33);
    assert.equal(samples?.fields.query, 'active=true^assignment_group.name=EUC');
  });

  it('a sample imported later for a missing date fills the gap and corrects the next date', async () => {
    await log.append([encodeEvent(event('csv', [sample('EUC', '2024-03-08T23:59:00Z', 31)]))]); // 18:59 EST 03-08
    const stats = await project(1);

    assert.equal(stats.samples, 7);
    assert.deepEqual(summary(await daily(1, 'EUC')).map((r) => r.slice(0, 5)), [
      ['2024-03-07', 30, 1, null, 0],
      ['2024-03-08', 31, 1, 1, 0],
      ['2024-03-09', 36, 2, 5, 0],
      ['2024-03-10', 33, 2, -3, 0],
    ]);
    const teams = await (await openTable(store, backlogProjection.tables.teams, { prefix: 'bk', version: 1 })).list();
    assert.deepEqual(teams.map((r) => [r.row, r.fields.from, r.fields.to, r.fields.snapshots, r.fields.samples]), [
      ['EUC', '2024-03-07', '2024-03-10', 4, 6],
      [ODD_TEAM, '2024-03-10', '2024-03-10', 1, 1],
    ]);
  });

  it('a rebuild from the log gives the same rows as the incremental fold', async () => {
    await project(2);
    assert.deepEqual(await daily(2, 'EUC'), await daily(1, 'EUC'));
    assert.deepEqual(await daily(2, ODD_TEAM), await daily(1, ODD_TEAM));
  });

  it('a team with a zone of its own has its dates there; the others keep the backlog zone', async () => {
    await project(3, 'America/New_York', (team) => (team === ODD_TEAM ? 'Asia/Tokyo' : 'America/New_York'));
    assert.deepEqual(await daily(3, 'EUC'), await daily(1, 'EUC'));
    // 2024-03-10T23:00Z: 19:00 EDT on 03-10 in New York, 08:00 JST on 03-11 in Tokyo.
    assert.deepEqual(summary(await daily(3, ODD_TEAM)), [['2024-03-11', 7, 1, null, 0, '2024-03-10T23:00:00.000Z']]);
  });

  it('restarted with another time zone, the snapshots move to that zone\'s dates and stale dates go', async () => {
    await project(2, 'UTC');
    assert.deepEqual(summary(await daily(2, 'EUC')).map((r) => r.slice(0, 3)), [
      ['2024-03-08', 31, 2], // 00:00Z and 23:59Z
      ['2024-03-10', 33, 4],
    ]);
  });

  describe('read through the HTTP API', () => {
    let server: Server;
    let base: string;
    before(async () => {
      const unused = async (): Promise<never> => {
        throw new Error('not used');
      };
      const app = createApp({
        ingest: unused, minuteTable: unused, vmMinuteTable: unused, catalog: unused, rejects: unused,
        health: () => ({}), metricsText: () => '',
        backlog: { timezone: 'America/New_York', daily: () => openTable(store, backlogProjection.tables.daily, { prefix: 'bk', version: 1 }), teams: () => openTable(store, backlogProjection.tables.teams, { prefix: 'bk', version: 1 }) },
      });
      server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const get = async (path: string) => {
      const res = await fetch(`${base}${path}`);
      return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
    };

    it('GET /v1/backlog: a range of dates, change measured against the snapshot before the range', async () => {
      const res = await get(`/v1/backlog?team=EUC&from=2024-03-09&to=2024-03-10`);
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.text), {
        team: 'EUC',
        timezone: 'America/New_York',
        data: [
          { date: '2024-03-09', count: 36, sampledAt: '2024-03-10T04:59:59.000Z', samples: 2, change: 5, gapDays: 0 },
          { date: '2024-03-10', count: 33, sampledAt: '2024-03-10T23:00:00.000Z', samples: 2, change: -3, gapDays: 0 },
        ],
      });
      const all = JSON.parse((await get('/v1/backlog?team="EUC"')).text);
      assert.deepEqual(all.data.map((d: { date: string; change: number | null }) => [d.date, d.change]), [['2024-03-07', null], ['2024-03-08', 1], ['2024-03-09', 5], ['2024-03-10', -3]]);
    });

    it('a team name with / # \' and unicode, and an unknown team (empty data)', async () => {
      const odd = JSON.parse((await get(`/v1/backlog?team=${encodeURIComponent(ODD_TEAM)}`)).text);
      assert.equal(odd.team, ODD_TEAM);
      assert.deepEqual(odd.data.map((d: { count: number }) => d.count), [7]);
      const none = await get('/v1/backlog?team=Nobody');
      assert.equal(none.status, 200);
      assert.deepEqual(JSON.parse(none.text).data, []);
    });

    it('format=csv: the old files\' columns first, the timestamp in local time with its offset', async () => {
      const res = await get('/v1/backlog?team=EUC&from=2024-03-09&format=csv');
      assert.equal(res.status, 200);
      assert.match(res.type, /^text\/csv/);
      assert.equal(res.text, [
        'timestamp,backlog_incident_count,date,samples,change,gap_days,team',
        '2024-03-09T23:59:59-05:00,36,2024-03-09,2,5,0,EUC',
        '2024-03-10T19:00:00-04:00,33,2024-03-10,2,-3,0,EUC',
        '',
      ].join('\r\n'));
      const odd = await get(`/v1/backlog?team=${encodeURIComponent(ODD_TEAM)}&format=csv`);
      assert.equal(odd.text.split('\r\n')[1], `2024-03-10T19:00:00-04:00,7,2024-03-10,1,,0,${ODD_TEAM}`);
    });

    it('both routes are described in /openapi.json', async () => {
      const doc = JSON.parse((await get('/openapi.json')).text);
      assert.deepEqual(doc.paths['/v1/backlog'].get.parameters.map((p: { name: string }) => p.name), ['team', 'from', 'to', 'format']);
      assert.ok(doc.paths['/v1/backlog/teams'].get);
    });

    it('GET /v1/backlog/teams lists the teams with their first and last dates', async () => {
      const res = await get('/v1/backlog/teams');
      assert.deepEqual(JSON.parse(res.text), {
        timezone: 'America/New_York',
        teams: [
          { team: 'EUC', timezone: 'America/New_York', from: '2024-03-07', to: '2024-03-10', snapshots: 4, samples: 6 },
          { team: ODD_TEAM, timezone: 'America/New_York', from: '2024-03-10', to: '2024-03-10', snapshots: 1, samples: 1 },
        ],
      });
    });

    it('bad parameters: the error object names the parameter', async () => {
      const cases: [string, string][] = [
        ['from=2024-03-01', 'team'],
        ['team=EUC&from=2024-02-30', 'from'],
        ['team=EUC&to=10.03.2024', 'to'],
        ['team=EUC&from=2024-03-10&to=2024-03-09', 'from'],
        ['team=EUC&format=xlsx', 'format'],
        ['team=EUC&days=3', 'days'],
        ['team=EUC&team=Support', 'team'],
      ];
      for (const [query, parameter] of cases) {
        const res = await get(`/v1/backlog?${query}`);
        assert.equal(res.status, 400, query);
        const body = JSON.parse(res.text);
        assert.equal(body.error.code, 'invalid_parameter', query);
        assert.equal(body.error.parameter, parameter, query);
      }
    });
  });
});
