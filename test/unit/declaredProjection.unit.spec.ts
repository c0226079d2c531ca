import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { counterValue } from '../support/counterValues';
import { systemClock } from '../../src/core/clock';
import { encodeEvent } from '../../src/core/logCodec';
import type { Metric } from '../../src/core/metric';
import { METRIC_GATE_VERSION } from '../../src/core/metricRejection';
import type { LogRecord, Row, RowTable, TableStore } from '../../src/core/ports';
import type { FoldContext } from '../../src/core/projection';
import { parseDefinition, type ProjectionDefinition } from '../../src/core/projectionDefinition';
import { declaredProjection } from '../../projections/declaredProjection';
import { readDeclared } from '../../projections/declaredQueries';
import { decodeLatePage } from '../../projections/lateLedger';
import { openTable, openTables } from '../../projections/projectionTables';
import { Projector } from '../../streams/Projector';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { MemoryEventLog } from '../support/memoryEventLog';
import { MemoryTableStore } from '../support/memoryTableStore';
import { assertPoint, batchWindows } from '../support/declaredBatch';

const T0 = 1_700_000_400;
const WINDOWS = { outOfOrderSeconds: 60, idleCloseSeconds: 5, allowedLatenessSeconds: 1800, maxFutureSeconds: 300 };

const payloadOf = (metrics: Metric[], atMs: number): Buffer =>
  encodeEvent({ type: 'MetricsReceived', source: 'cli', receivedAtMs: atMs, gate: METRIC_GATE_VERSION, metrics, rejected: [] });

/** Appends records of metrics to a log, each at its own processing time. */
async function append(log: MemoryEventLog, records: { metrics: Metric[]; atMs: number }[]): Promise<void> {
  for (const r of records) {
    await log.append([payloadOf(r.metrics, r.atMs)]);
    log.records[log.records.length - 1].appendedAtMs = r.atMs;
  }
}

/** Builds (or goes on building) version 1 up to the log's end, as `opsfold projection add` does. */
async function build(definition: ProjectionDefinition, log: MemoryEventLog, store: TableStore, versions: ProjectionVersions) {
  return new Projector({ projection: declaredProjection(definition), config: { windows: WINDOWS }, log, tables: store, versions, tablePrefix: 't', version: 1, follow: false, flushIntervalMs: 1000 }).run();
}

async function answerOf(definition: ProjectionDefinition, store: TableStore) {
  const table = await openTable(store, declaredProjection(definition).tables.windows, { prefix: 't', version: 1 });
  return readDeclared(definition, [table], { from: T0 - 3600, to: T0 + 86_400 });
}

const idOf = (definition: ProjectionDefinition, p: { windowStart: number; group: Record<string, string | null> }): string =>
  `${p.windowStart}|${JSON.stringify(definition.groupBy.map((f) => p.group[f]))}`;

const metricArb = fc.record({
  dt: fc.integer({ min: 0, max: 5400 }),
  key: fc.constantFrom('win_cpu.percent', 'win_mem.available', 'lnx_cpu.user'),
  tenant: fc.constantFrom('T/1+=', 'T#2'),
  vm: fc.constantFrom('vm/a', 'vm=b'),
  region: fc.constantFrom('westeurope', 'eastus', undefined),
  value: fc.oneof(counterValue, fc.constant(0)),
}).map(({ dt, key, tenant, vm, region, value }): Metric => ({ t: T0 + dt, key, tenant, vm, value, ...(region ? { region } : {}) }));

const definitionArb = fc.record({
  groupBy: fc.subarray(['key', 'PerfType', 'PerfName', 'tenant', 'Region'], { maxLength: 4 }),
  window: fc.constantFrom('1m', '5m', '15m', '1h'),
  where: fc.option(fc.constantFrom({ PerfType: ['win_cpu', 'win_mem'] }, { Region: ['westeurope'] }), { nil: undefined }),
}).map(({ groupBy, window, where }) => parseDefinition({ name: 'p', groupBy, window, aggregates: ['count', 'sum', 'avg', 'min', 'max', 'p50', 'p99', 'vms'], ...(where ? { where } : {}) }));

/** Records whose metrics are at most 1,200 s behind the largest event time before them: within the allowed lateness. */
const recordsArb = fc.array(fc.array(metricArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 20 }).map((batches) => {
  let newest = -Infinity;
  return batches.map((metrics, i) => {
    const kept = metrics.filter((m) => m.t >= newest - 1200);
    const chosen = kept.length > 0 ? kept : [{ ...metrics[0], t: Math.max(metrics[0].t, newest) }];
    newest = Math.max(newest, ...chosen.map((m) => m.t));
    return { metrics: chosen, atMs: T0 * 1000 + i * 3000 };
  });
});

/** A store whose row tables count their point reads. */
function countingGets(store: MemoryTableStore): { store: TableStore; gets: Map<string, number> } {
  const gets = new Map<string, number>();
  const counting = (name: string, table: RowTable): RowTable => ({
    upsert: (rows) => table.upsert(rows),
    list: (options) => table.list(options),
    delete: (partition, row) => table.delete(partition, row),
    get: (partition, row) => {
      gets.set(name, (gets.get(name) ?? 0) + 1);
      return table.get(partition, row);
    },
  });
  return {
    gets,
    store: {
      blockTable: (name) => store.blockTable(name),
      rowTable: async (name) => counting(name, await store.rowTable(name)),
      listTables: (prefix) => store.listTables(prefix),
      dropTable: (name) => store.dropTable(name),
    },
  };
}

describe('a declared projection run by the projector loop', () => {
  it('property: built from a log in one run, or in two with a restart between, its table answers as a plain batch computation', async () => {
    await fc.assert(fc.asyncProperty(definitionArb, recordsArb, fc.nat(), async (definition, records, cut) => {
      const store = new MemoryTableStore();
      const versions = new ProjectionVersions(await store.rowTable('meta'));
      const log = new MemoryEventLog();
      const split = cut % (records.length + 1);
      await append(log, records.slice(0, split));
      if (split > 0) await build(definition, log, store, versions);
      await append(log, records.slice(split));
      const stats = await build(definition, log, store, versions);
      assert.equal(stats.late, 0);
      const expected = batchWindows(definition, records.flatMap((r) => r.metrics));
      const answer = await answerOf(definition, store);
      assert.deepEqual(answer.data.map((p) => idOf(definition, p)).sort(), [...expected.keys()].sort());
      for (const p of answer.data) assertPoint(definition, p, expected.get(idOf(definition, p))!, idOf(definition, p));
    }), { numRuns: 60 });
  });

  it('after a build closed every window, a run going on from its checkpoint revises the last window with what the build stored, and reads no row for a newer window', async () => {
    const definition = parseDefinition({ name: 'cpu', groupBy: [], window: '1h', aggregates: ['count', 'sum', 'vms'] });
    const counted = countingGets(new MemoryTableStore());
    const versions = new ProjectionVersions(await counted.store.rowTable('meta'));
    const H = Math.floor(T0 / 3600) * 3600;
    const m = (dt: number, value: number, vm: string): Metric => ({ t: H + dt, key: 'k.x', tenant: 'T', vm, value });
    const log = new MemoryEventLog();
    await append(log, [{ metrics: [m(0, 1, 'a'), m(10, 2, 'b')], atMs: T0 * 1000 }]);
    await build(definition, log, counted.store, versions); // closes the window at the log's end: revision 1
    const windowsTable = [...counted.gets.keys()].find((name) => /^tDp[0-9a-f]+V1$/.test(name)) ?? 'tDp…V1';
    counted.gets.clear();
    await append(log, [{ metrics: [m(20, 4, 'a'), m(30, 8, 'c')], atMs: T0 * 1000 + 60_000 }, { metrics: [m(3600, 16, 'a'), m(7200, 32, 'a')], atMs: T0 * 1000 + 120_000 }]);
    await build(definition, log, counted.store, versions);
    const answer = await answerOf(definition, counted.store);
    assert.deepEqual(answer.data.map((p) => [p.windowStart - H, p.count, p.sum, p.vms, p.revision]), [[0, 4, 15, 3, 2], [3600, 1, 16, 1, 1], [7200, 1, 32, 1, 1]]);
    // The newest-window row at open, and the stored window once; none for the two windows after it
    const windowGets = [...counted.gets].filter(([name]) => /^tDp[0-9a-f]+V1$/.test(name)).reduce((n, [, c]) => n + c, 0);
    assert.equal(windowGets, 2, `point reads of ${windowsTable}: ${JSON.stringify([...counted.gets])}`);
  });

  it('a checkpoint resumes from before every window that was open when its flush was taken, also one that closes while the flush is written', async () => {
    const definition = parseDefinition({ name: 'cpu', groupBy: [], window: '1m', aggregates: ['count'] });
    const store = new MemoryTableStore();
    const tables = await openTables(store, declaredProjection(definition).tables, { prefix: 't', version: 1 });
    const context: FoldContext = {
      scope: '', follow: false, clock: systemClock, quarantine: () => undefined, readThrough: () => 0, writesEachRecord: () => false,
      startWrite: async (write) => ({ done: write() }),
    };
    const fold = declaredProjection(definition).fold({ windows: { ...WINDOWS, outOfOrderSeconds: 0 } }, context);
    await fold.open(tables, undefined);
    const record = (position: number, t: number): LogRecord => ({ position, next: position + 1, appendedAtMs: T0 * 1000, payload: payloadOf([{ t, key: 'k.x', tenant: 'T', vm: 'v', value: 1 }], T0 * 1000) });
    const feed = async (r: LogRecord) => {
      const prepared = await fold.prepare(r, { careful: false });
      if (prepared) fold.apply(r, prepared);
    };
    await feed(record(0, T0 + 10)); // opens the window [T0, T0+60) at position 0
    const work = fold.take(1);
    await feed(record(1, T0 + 70)); // the fold goes on while the flush is written: the window closes, to be written by the next flush
    await work.write();
    assert.equal(work.resume!().resumeFrom, 0, 'a restart from this checkpoint re-reads the window\'s first metric');
    const rows: Row[] = await tables.windows.list();
    assert.deepEqual(rows.filter((r) => r.partition[0] !== 'newest'), [], 'the flush wrote no window: the one that closed is the next flush\'s');
  });

  it('a metric later than the allowed lateness goes to the projection\'s late ledger, and the window keeps its revision', async () => {
    const definition = parseDefinition({ name: 'cpu', groupBy: ['tenant'], window: '5m', aggregates: ['count'] });
    const store = new MemoryTableStore();
    const versions = new ProjectionVersions(await store.rowTable('meta'));
    const m = (dt: number): Metric => ({ t: T0 + dt, key: 'k.x', tenant: 'T', vm: 'v', value: 1 });
    const log = new MemoryEventLog();
    await append(log, [{ metrics: [m(0)], atMs: T0 * 1000 }, { metrics: [m(4000)], atMs: (T0 + 4000) * 1000 }, { metrics: [m(10), m(3900)], atMs: (T0 + 4000) * 1000 }]);
    const stats = await build(definition, log, store, versions);
    assert.equal(stats.late, 1);
    const late = await openTable(store, declaredProjection(definition).tables.late, { prefix: 't', version: 1 });
    const entries = (await late.list()).flatMap((row) => decodeLatePage(row));
    assert.deepEqual(entries.map((e) => [e.position, e.index, e.t - T0]), [[2, 0, 10]]);
    const answer = await answerOf(definition, store);
    assert.deepEqual(answer.data.map((p) => [p.windowStart - T0, p.count, p.revision]), [[0, 1, 1], [3900, 2, 1]]);
  });
});
