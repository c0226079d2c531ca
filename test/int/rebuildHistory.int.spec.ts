import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { FileWindowHistory, windowHistoryDir } from '../../src/adapters/windowHistory/FileWindowHistory';
import { loadSettings } from '../../src/config/settings';
import { encodeEvent } from '../../src/core/logCodec';
import type { Metric } from '../../src/core/metric';
import { rebuildProjection } from '../../src/rebuildProjection';
import { decodeChunk, encodeChunks, IDS_PER_HOUR } from '../../projections/windowEventHistory';
import { feedEntry } from '../../src/core/windowStream';
import { metaTable } from '../../projections/projectionCatalog';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { MemoryTableStore } from '../support/memoryTableStore';

const T0 = 1_700_004_000 - (1_700_004_000 % 900);
const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('a rebuild of the windows beside a file log', () => {
  it('writes their event history into files under the data dir, from nothing even where an interrupted rebuild left some', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'opsfold-rebuild-history-'));
    dirs.push(dataDir);
    const log = await FileLog.open(path.join(dataDir, 'log'));
    // 6 minutes of 3 VMs of one tenant, one metric per VM and minute, each record one minute.
    const metrics: Metric[] = [];
    for (let m = 0; m < 6; m++) {
      const minute = ['vm/1', "vm'2", 'vm#3'].map((vm, i) => ({ t: T0 + m * 60 + 5, tenant: 'tenant A', vm, key: 'win_cpu.percent', value: 10 * m + i }));
      metrics.push(...minute);
      await log.append([encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: Date.now(), metrics: minute, rejected: [] })]);
    }
    const { settings } = loadSettings({ tablePrefix: 'rh', dataDir }, {});
    const tables = new MemoryTableStore();
    const versions = new ProjectionVersions(await tables.rowTable(metaTable('rh')));
    const rebuild = () => rebuildProjection({ name: 'windows', log, scope: '', tables, versions, settings, version: 1 });

    // A rebuild into version 1 interrupted before its first checkpoint left some history (the next replay uses version 1 again).
    const leftover = await FileWindowHistory.open(windowHistoryDir(dataDir, 'rh', 1));
    const stale = encodeChunks([feedEntry(Date.now() * 1000, { key: 'stale', windowStart: T0, count: 1, sum: 1, min: 1, max: 1, avg: 1, revision: 1 })]);
    await leftover.append(Math.floor(stale[0].firstId / IDS_PER_HOUR), stale);
    await leftover.close();

    const totals = await rebuild();

    const store = await FileWindowHistory.open(windowHistoryDir(dataDir, 'rh', 1));
    const events = [];
    for (const hour of await store.hours()) for await (const chunk of store.read(hour, 0)) events.push(...decodeChunk(chunk.data));
    await store.close();
    await log.close();
    assert.equal(totals.historyEvents, events.length);
    assert.equal(events.length, metrics.length + 6, 'one per-VM window per metric and one cross-tenant window per minute, once each');
    for (let i = 1; i < events.length; i++) assert.ok(events[i].id > events[i - 1].id, 'ids increase');
    const perVm = events.filter((e) => e.event.tenant !== undefined).map((e) => [e.event.vm, e.event.windowStart, e.event.avg, e.event.revision]);
    assert.deepEqual(perVm.sort(), metrics.map((m) => [m.vm, m.t - 5, m.value, 1]).sort());
    const cross = events.filter((e) => e.event.tenant === undefined).map((e) => [e.event.windowStart, e.event.count, e.event.sum]);
    assert.deepEqual(cross, Array.from({ length: 6 }, (_, m) => [T0 + m * 60, 3, 30 * m + 3]));
  });
});
