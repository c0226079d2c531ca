import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RecordNotAppliedError } from '../../src/core/errors';
import type { AppendResult, LogRecord, RowTable, TableStore } from '../../src/core/ports';
import type { Fold, OpenedTables, Prepared, Projection } from '../../src/core/projection';
import { undecodable } from '../../src/core/quarantine';
import { rowTableSpec } from '../../projections/projectionTables';
import { QUARANTINE_PARTITION } from '../../projections/quarantineRows';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { Projector } from '../../streams/Projector';
import { eventually } from '../support/eventually';
import { MemoryEventLog } from '../support/memoryEventLog';
import { MemoryTableStore } from '../support/memoryTableStore';
import { TestClock } from '../support/testClock';

/**
 * A projection written as a declared one would be: it sums `{"n": …}` records into one row. A
 * record that is not JSON does not decode (quarantined by its fold); a negative `n` makes its apply throw.
 */
const tables = { totals: rowTableSpec('Totals', { scoped: true }), quarantine: rowTableSpec('TotalsQuarantine', { scoped: true }) };
type TallyStats = { records: number; sum: number };
interface Tallied extends Prepared {
  n: number;
}
const tally: Projection<typeof tables, void, TallyStats> = {
  name: 'tally',
  tables,
  fold: (_config, context): Fold<OpenedTables<typeof tables>, TallyStats> => {
    const stats = { records: 0, sum: 0 };
    let table: RowTable;
    return {
      stats,
      async open(opened, checkpoint) {
        table = opened.totals;
        const row = checkpoint && (await table.get(['sum'], 'sum'));
        if (row) Object.assign(stats, { records: Number(row.fields.records), sum: Number(row.fields.sum) });
      },
      prepare(record): Tallied | undefined {
        try {
          const { n } = JSON.parse(record.payload.toString()) as { n: number };
          return { n, decoded: { n } };
        } catch (error) {
          context.quarantine(undecodable('tally', record, error));
          return undefined;
        }
      },
      apply(_record, prepared) {
        const { n } = prepared as Tallied;
        if (n < 0) throw new RangeError(`a tally cannot take ${n}`);
        stats.records++;
        stats.sum += n;
      },
      take() {
        const fields = { records: stats.records, sum: stats.sum };
        return { empty: false, write: () => table.upsert([{ partition: ['sum'], row: 'sum', fields }]) };
      },
    };
  },
};

/** A memory log that a reader can follow: it waits at the end for appends until its signal aborts. */
class FollowLog extends MemoryEventLog {
  private wake?: () => void;

  override async append(payloads: readonly Buffer[]): Promise<AppendResult> {
    const result = await super.append(payloads);
    this.wake?.();
    return result;
  }

  override async *read(from: number, options: { follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<LogRecord[]> {
    for (let at = from; !options.signal?.aborted;) {
      const batch = this.records.slice(at);
      if (batch.length > 0) {
        at = batch[batch.length - 1].next;
        yield batch;
      } else if (!options.follow) {
        return;
      } else {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          options.signal?.addEventListener('abort', () => resolve(), { once: true });
        });
      }
    }
  }
}

const record = (n: number | string): Buffer => Buffer.from(typeof n === 'string' ? n : JSON.stringify({ n }));

async function rig(store: TableStore = new MemoryTableStore()) {
  const versions = new ProjectionVersions(await store.rowTable('meta'));
  const log = new FollowLog();
  const projector = (options: { follow?: boolean; clock?: TestClock } = {}) => new Projector({
    projection: tally, config: undefined, log, tables: store, versions, tablePrefix: 't', version: 1,
    follow: options.follow ?? false, flushIntervalMs: 1000, clock: options.clock,
  });
  return { store, versions, log, projector, total: async () => (await (await store.rowTable('tTotalsV1')).get(['sum'], 'sum'))?.fields };
}

describe('Projector: the one loop that runs every projection', () => {
  it('a rebuild folds the log to its end into the definition\'s tables, writes them before its checkpoint, and reports the fold\'s figures with its own', async () => {
    // Given a log of three records
    const { log, projector, versions, total } = await rig();
    await log.append([record(1), record(2), record(3)]);

    // When a projector rebuilds the tally from it
    const stats = await projector().run();

    // Then the table named by the definition holds the sum, the checkpoint is past the last record, and the figures are the fold's and the loop's
    assert.deepEqual(await total(), { records: 3, sum: 6 });
    assert.equal((await versions.checkpoint('tally', 1))?.position, 3);
    assert.equal(stats.records, 3);
    assert.equal(stats.position, 3);
    assert.ok(stats.flushes >= 1);
  });

  it('following the log, it writes at each flush interval of its clock and not before; stopped, it writes what is left', async () => {
    // Given a projector following the log, on a clock the test moves
    const clock = new TestClock(0);
    const { log, projector, versions, total } = await rig();
    const abort = new AbortController();
    const p = projector({ follow: true, clock });
    const running = p.run(abort.signal);
    await log.append([record(5), record(6)]);
    await eventually('the records folded', () => p.stats.records === 2);

    // When no flush interval has passed, nothing is written
    await clock.runUntil(999);
    assert.equal(await versions.checkpoint('tally', 1), undefined);

    // Then at the interval the sum and a checkpoint are written
    await clock.runUntil(1000);
    await eventually('the timed flush', async () => (await versions.checkpoint('tally', 1))?.position === 2);
    assert.deepEqual(await total(), { records: 2, sum: 11 });

    // And a record folded after it is written when the run stops
    await log.append([record(7)]);
    await eventually('the third record folded', () => p.stats.records === 3);
    abort.abort();
    await running;
    assert.deepEqual(await total(), { records: 3, sum: 18 });
    assert.equal((await versions.checkpoint('tally', 1))?.position, 3);
  });

  it('a record whose apply throws is set aside in the quarantine ledger and ends the run; the next run goes on after it, and one that does not decode is passed over', async () => {
    // Given a log with a record the fold cannot apply and one that is not JSON
    const { log, projector, store, total } = await rig();
    await log.append([record(1), record(-1), record('not json'), record(4)]);

    // When the first run meets the record it cannot apply
    await assert.rejects(projector().run(), (e: unknown) => e instanceof RecordNotAppliedError && e.position === 1);

    // Then a second run, from the same checkpoint, passes over it and folds the rest
    const second = projector();
    await second.run();
    assert.deepEqual(await total(), { records: 2, sum: 5 });
    assert.equal(second.quarantined, 2);
    const ledger = await (await store.rowTable('tTotalsQuarantineV1')).list({ partition: QUARANTINE_PARTITION });
    assert.deepEqual(ledger.map((r) => [r.fields.position, r.fields.projection]), [[1, 'tally'], [2, 'tally']]);
    assert.match(String(ledger[0].fields.reason), /cannot take -1/);
    assert.match(String(ledger[1].fields.reason), /does not decode/);
  });

  it('a write that fails at a timer\'s flush ends the run with its error, and no checkpoint claims what was not written', async () => {
    // Given a store whose tally table refuses writes, and a projector following the log
    const memory = new MemoryTableStore();
    const failing: TableStore = {
      blockTable: (name) => memory.blockTable(name),
      listTables: (prefix) => memory.listTables(prefix),
      dropTable: (name) => memory.dropTable(name),
      async rowTable(name) {
        const table = await memory.rowTable(name);
        return name !== 'tTotalsV1' ? table : { ...table, get: (p, r) => table.get(p, r), list: (o) => table.list(o), delete: (p, r) => table.delete(p, r), upsert: async () => { throw new Error('the store is down'); } };
      },
    };
    const clock = new TestClock(0);
    const { log, projector, versions } = await rig(failing);
    const p = projector({ follow: true, clock });
    const ended = p.run(new AbortController().signal).then(() => 'ended without an error', (error: unknown) => error);
    await log.append([record(1)]);
    await eventually('the record folded', () => p.stats.records === 1);

    // When the flush interval comes
    await clock.runUntil(1000);

    // Then the run ends with the write's error, and there is no checkpoint
    assert.match(String(await ended), /the store is down/);
    assert.equal(await versions.checkpoint('tally', 1), undefined);
  });
});
