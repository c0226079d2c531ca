import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEvent } from '../../src/core/logCodec';
import { DamagedLogError, InvalidInputError, RecordNotAppliedError, StorageError } from '../../src/core/errors';
import type { EventLog, LogRecord, TableStore } from '../../src/core/ports';
import { metaTable } from '../../projections/projectionCatalog';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { ProjectionSupervisor } from '../../streams/ProjectionSupervisor';
import { ProjectorRestarts, type Careful, type RunContext } from '../../streams/ProjectorRestarts';
import { Projector } from '../../streams/Projector';
import { windowsProjection } from '../../projections/windowsProjection';
import { MemoryEventLog } from '../support/memoryEventLog';
import { MemoryTableStore } from '../support/memoryTableStore';
import { failingBlockWrites } from '../support/failingBlockWrites';
import { settle, TestClock } from '../support/testClock';
import { eventually } from '../support/eventually';

/** A projector whose every run does what `script` says, given the run's number (from 1) and context. */
function scripted(script: (run: number, context: RunContext, signal: AbortSignal) => Promise<string>, readThrough = 42) {
  const runs: (Careful | undefined)[] = [];
  const create = (context: RunContext) => ({
    readThrough,
    run: (signal: AbortSignal) => {
      runs.push(context.careful);
      return script(runs.length, context, signal);
    },
  });
  return { runs, create };
}

const untilAborted = (signal: AbortSignal): Promise<string> => new Promise((resolve) => signal.addEventListener('abort', () => resolve('stopped'), { once: true }));

describe('ProjectorRestarts: every failure of a projector reaches its supervisor, which decides', () => {
  it('a projector failing with retriable errors is tried again after a capped exponential backoff, and is reported until it checkpoints', async () => {
    // Given a projector whose first three runs fail with an outage, and a supervisor with backoffs of 100, 200, then at most 250 ms.
    const clock = new TestClock(0);
    const reported: { reason: string; retryInMs: number }[] = [];
    const { runs, create } = scripted(async (run, context, signal) => {
      if (run <= 3) throw new StorageError('Table Storage: write blocks failed (503): server busy', { retriable: true });
      context.checkpointed(10);
      return untilAborted(signal);
    });
    const restarts = new ProjectorRestarts({ create, clock, initialBackoffMs: 100, maxBackoffMs: 250, onFailure: (f, retryInMs) => reported.push({ reason: f.reason, retryInMs }) });
    const abort = new AbortController();
    const running = restarts.run(abort.signal);

    // When it fails, it is reported as failing, and not run again before its backoff is over.
    await settle();
    assert.equal(runs.length, 1);
    assert.equal(restarts.failing?.reason, 'Table Storage: write blocks failed (503): server busy');
    assert.equal(restarts.failing?.since, 0);
    await clock.runUntil(99);
    assert.equal(runs.length, 1, 'no run before the first backoff is over');
    await clock.runUntil(100);
    assert.equal(runs.length, 2);
    await clock.runUntil(299);
    assert.equal(runs.length, 2, 'the second backoff is twice the first');
    await clock.runUntil(300);
    assert.equal(runs.length, 3);
    await clock.runUntil(549);
    assert.equal(runs.length, 3, 'the third backoff is capped at 250 ms');
    assert.equal(restarts.failing?.since, 0, 'one failure spell, since its first failure');
    await clock.runUntil(550);

    // Then the fourth run checkpoints: the projector has recovered, and nothing was folded with care (an outage is no record's fault).
    assert.equal(runs.length, 4);
    assert.equal(restarts.failing, undefined);
    assert.deepEqual(runs, [undefined, undefined, undefined, undefined]);
    assert.deepEqual(reported.map((r) => r.retryInMs), [100, 200, 250]);
    abort.abort();
    assert.equal(await running, 'stopped');
  });

  it('a projector failing with non-retriable errors is folded again with care, then reported and retried with backoff; the run never rejects', async () => {
    // Given a projector that fails every run with a write the store refuses, having read up to position 42.
    const clock = new TestClock(1_000);
    const { runs, create } = scripted(async () => {
      throw new InvalidInputError('partition ["x…"] is 600 characters once encoded; Table Storage allows at most 512');
    });
    const notes: string[] = [];
    const restarts = new ProjectorRestarts({ create, clock, initialBackoffMs: 100, onNote: (line) => notes.push(line) });
    const abort = new AbortController();
    let ended = false;
    const running = restarts.run(abort.signal).finally(() => (ended = true));

    // When the first run fails, the next resumes at once with care over what it had read (keys tried first), then
    // the one after writes after each record; when that fails too, no record explains it: it is reported, and retried later.
    await settle();
    assert.deepEqual(runs, [
      undefined,
      { through: 42, eachRecord: false, quarantine: true },
      { through: 42, eachRecord: true, quarantine: true },
    ]);
    assert.equal(notes.length, 2);
    assert.match(notes[0], /600 characters.*folding again from the last checkpoint/);
    assert.match(restarts.failing?.reason ?? '', /600 characters once encoded/);
    assert.equal(restarts.failing?.since, 1_000);
    await clock.runUntil(1_100);
    assert.equal(runs.length, 4, 'tried again after the backoff');
    assert.deepEqual(runs[3], { through: 42, eachRecord: true, quarantine: true });

    // Then the supervisor's run is still going: the failure took nothing down.
    assert.equal(ended, false);
    abort.abort();
    await clock.runUntil(10_000);
    assert.equal(await running, undefined);
  });

  it('a record that cannot be applied is quarantined and the projector goes on after it at once; many in a row are the world\'s fault', async () => {
    // Given a projector whose runs each fail on one record (it quarantined it), until the fourth, which checkpoints past them.
    const clock = new TestClock(0);
    const { runs, create } = scripted(async (run, context, signal) => {
      if (run <= 3) throw new RecordNotAppliedError(100 + run, `the windows projection cannot apply the record at position ${100 + run}`);
      context.checkpointed(200);
      return untilAborted(signal);
    }, 150);
    const notes: string[] = [];
    const restarts = new ProjectorRestarts({ create, clock, maxQuarantinesInARow: 2, onNote: (line) => notes.push(line) });
    const abort = new AbortController();
    const running = restarts.run(abort.signal);
    await settle();

    // Then each restart is immediate (no backoff, nothing reported as failing), writing after each record up to what was read;
    // after two quarantines in a row without a checkpoint between them, a failing write no longer quarantines its record.
    assert.deepEqual(runs, [
      undefined,
      { through: 150, eachRecord: true, quarantine: true },
      { through: 150, eachRecord: true, quarantine: false },
      { through: 150, eachRecord: true, quarantine: false },
    ]);
    assert.equal(restarts.failing, undefined);
    assert.deepEqual(notes.map((n) => n.match(/position \d+/)?.[0]), ['position 101', 'position 102', 'position 103']);
    abort.abort();
    assert.equal(await running, 'stopped');
  });

  it('a checkpoint past the careful range ends the careful pass: a later failure starts a new one over what was read then', async () => {
    // Given a projector that fails with a refused write, then checkpoints past the careful range and fails again later.
    const clock = new TestClock(0);
    let readThrough = 42;
    const runs: (Careful | undefined)[] = [];
    const restarts = new ProjectorRestarts({
      clock,
      create: (context) => ({
        get readThrough() {
          return readThrough;
        },
        run: async (signal: AbortSignal) => {
          runs.push(context.careful);
          if (runs.length === 2) {
            context.checkpointed(60);
            readThrough = 90;
          }
          if (runs.length <= 2) throw new InvalidInputError('block row must be an integer from 0 to 999999999999, got -3600');
          return untilAborted(signal);
        },
      }),
    });
    const abort = new AbortController();
    const running = restarts.run(abort.signal);
    await settle();
    assert.deepEqual(runs, [undefined, { through: 42, eachRecord: false, quarantine: true }, { through: 90, eachRecord: false, quarantine: true }]);
    abort.abort();
    assert.equal(await running, 'stopped');
  });

  it('a rebuild gives up, with the error, after failures in a row that neither care nor a quarantine resolved', async () => {
    const clock = new TestClock(0);
    const { runs, create } = scripted(async () => {
      throw new StorageError('Table Storage: list rows failed (403): AuthorizationFailure', { retriable: false, status: 403 });
    });
    const restarts = new ProjectorRestarts({ create, clock, initialBackoffMs: 10, maxFailures: 2 });
    const gaveUp = assert.rejects(restarts.run(new AbortController().signal), /AuthorizationFailure/);
    await clock.runUntil(1_000);
    await gaveUp;
    assert.equal(runs.length, 4, 'two careful passes, then two failures');
  });

  it('a damaged log stops a rebuild at its first meeting, even after checkpoints; a service reports it and retries after a backoff, without careful passes', async () => {
    // Given a projector that checkpoints, then meets a damaged record in the log on every run
    const damage = () => new DamagedLogError('corrupt log at position 300 (00000000000000000000.log, offset 300): bad checksum');
    const { runs, create } = scripted(async (_run, context) => {
      context.checkpointed(200);
      throw damage();
    });
    // When a rebuild (it gives up after failures in a row) meets it, then it stops at once with the error
    const rebuild = new ProjectorRestarts({ create, clock: new TestClock(0), initialBackoffMs: 10, maxFailures: 3 });
    await assert.rejects(rebuild.run(new AbortController().signal), /corrupt log at position 300/);
    assert.equal(runs.length, 1, 'no careful pass and no retry');

    // When a service (no limit on failures) meets it, then it is reported failing and tried again after the backoff, never with care
    const clock = new TestClock(0);
    const service = scripted(async (_run, context, signal) => {
      context.checkpointed(200);
      if (service.runs.length <= 2) throw damage();
      return untilAborted(signal);
    });
    const restarts = new ProjectorRestarts({ create: service.create, clock, initialBackoffMs: 100 });
    const abort = new AbortController();
    const running = restarts.run(abort.signal);
    await settle();
    assert.equal(service.runs.length, 1);
    assert.match(restarts.failing?.reason ?? '', /corrupt log at position 300/);
    await clock.runUntil(99);
    assert.equal(service.runs.length, 1, 'not tried again before the backoff is over');
    await clock.runUntil(100);
    assert.equal(service.runs.length, 2);
    assert.deepEqual(service.runs, [undefined, undefined], 'no careful pass');
    abort.abort();
    await clock.runUntil(10_000);
    await running;
  });
});

/** A log that hands out its records, then waits at its end until the reader stops (the service's tail). */
class TailLog extends MemoryEventLog {
  override async *read(from: number, options: { signal?: AbortSignal } = {}): AsyncIterable<LogRecord[]> {
    const batch = this.records.slice(from);
    if (batch.length > 0) yield batch;
    if (options.signal && !options.signal.aborted) await untilAborted(options.signal);
  }
}

/** A store whose block writes fail with an outage while `down` says so. */
function outageOfBlockWrites(inner: TableStore, down: () => boolean): TableStore {
  return failingBlockWrites(inner, () => (down() ? new StorageError('Table Storage: write blocks failed (503): the emulator is down', { retriable: true }) : undefined));
}

describe('ProjectionSupervisor: a failure of a timer\'s flush reaches the supervisor', () => {
  it('the windows projector\'s timed flush that fails ends its run with the error; the supervisor reports it, backs off and recovers', async () => {
    // Given a service's windows projector following a log with one closed window, over a store whose block writes are down.
    const t0 = 1_700_000_040;
    const log: EventLog = new TailLog();
    await log.append([encodeEvent({ type: 'MetricsReceived', source: 'http', receivedAtMs: 0, metrics: [{ t: t0, tenant: 't', vm: 'v', key: 'k.k', value: 1 }], rejected: [] })]);
    let down = true;
    const memory = new MemoryTableStore();
    const versions = new ProjectionVersions(await memory.rowTable(metaTable('tmr')));
    const clock = new TestClock(0);
    const errors: unknown[] = [];
    const supervisor = new ProjectionSupervisor({
      clock, initialBackoffMs: 1_000, settleMs: 3_600_000, onError: (e) => errors.push(e),
      create: (version, context) => new Projector({
        projection: windowsProjection, config: { windows: { outOfOrderSeconds: 60, idleCloseSeconds: 0, allowedLatenessSeconds: 1800, maxFutureSeconds: 300 } },
        log, tables: outageOfBlockWrites(memory, () => down), versions, tablePrefix: 'tmr', version, follow: true, flushIntervalMs: 20,
        careful: context.careful, onCheckpoint: async (c) => context.checkpointed(c.position),
      }),
    });
    supervisor.start(1);

    // When the timer's flush fails, the run ends with that error and the supervisor reports the projector as failing (the process lives on).
    await eventually('the failure reported', () => supervisor.failing);
    assert.match(supervisor.failing!.reason, /the emulator is down/);
    assert.ok(errors.some((e) => e instanceof StorageError), 'told to onError');
    assert.equal(await versions.checkpoint('windows', 1), undefined, 'no checkpoint passed what was not written');

    // Then, storage back and the backoff over, the next run checkpoints and the projector is no longer failing.
    down = false;
    await clock.runUntil(1_000);
    await eventually('the projector recovered', () => supervisor.failing === undefined);
    assert.ok(((await versions.checkpoint('windows', 1))?.position ?? 0) > 0, 'checkpointed past the record');
    await supervisor.stop();
  });
});
