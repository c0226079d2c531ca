import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cachedCheck, HealthChecks } from '../../src/core/health';
import { flushHealth } from '../../src/serviceHealth';
import type { ProjectionHost } from '../../src/localProjections';

/** Just what flushHealth reads of the projections. */
const projectionsFlushedAt = (lastFlushAtMs: number | undefined) => ({ stats: { lastFlushAtMs } }) as unknown as ProjectionHost;

describe('HealthChecks: every piece adds its problems, and the service is healthy when none reports one', () => {
  it('no problem: status ok and an empty list', async () => {
    const checks = new HealthChecks().add('a', () => []).add('b', async () => []);
    assert.deepEqual(await checks.report(), { status: 'ok', problems: [] });
  });

  it('problems of every check, in the order the checks were added, make it failing', async () => {
    const checks = new HealthChecks()
      .add('storage', async () => ['storage: unreachable: connect ECONNREFUSED'])
      .add('fine', () => [])
      .add('projector', () => ['projector: failing: boom', 'projector: the last flush was 40 s ago (more than 30 s)']);
    assert.deepEqual(await checks.report(), {
      status: 'failing',
      problems: ['storage: unreachable: connect ECONNREFUSED', 'projector: failing: boom', 'projector: the last flush was 40 s ago (more than 30 s)'],
    });
  });

  it('a check that throws is a problem itself, named after the check, and the others still answer', async () => {
    const checks = new HealthChecks()
      .add('log', () => { throw new Error('cannot stat the segment'); })
      .add('storage', () => ['storage: unreachable: timeout']);
    assert.deepEqual((await checks.report()).problems, ['log: the health check failed: cannot stat the segment', 'storage: unreachable: timeout']);
  });

  it('adding a check under a name already used replaces it', async () => {
    const checks = new HealthChecks().add('x', () => ['old']).add('x', () => ['new']);
    assert.deepEqual(await checks.problems(), ['new']);
  });
});

describe('cachedCheck: a costly check runs at most once per ttl, and no caller waits for it but the first', () => {
  /** A check whose runs the test settles by hand. */
  function controlled() {
    const runs: { resolve: (answer: string[]) => void; reject: (error: Error) => void }[] = [];
    const check = () => new Promise<readonly string[]>((resolve, reject) => runs.push({ resolve, reject }));
    return { runs, check };
  }
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it('the first run is waited for, and calls during it share it', async () => {
    const { runs, check } = controlled();
    const cached = cachedCheck(check, 1500, () => 1000);
    const both = Promise.all([cached(), cached()]);
    await settle();
    assert.equal(runs.length, 1);
    runs[0].resolve(['run 1']);
    assert.deepEqual(await both, [['run 1'], ['run 1']]);
  });

  it('within the ttl the last answer; after it the last answer at once while one new run goes on; then the new answer', async () => {
    let nowMs = 1000;
    const { runs, check } = controlled();
    const cached = cachedCheck(check, 1500, () => nowMs);
    const first = cached();
    await settle();
    runs[0].resolve(['run 1']);
    assert.deepEqual(await first, ['run 1']);
    nowMs += 1499;
    assert.deepEqual(await cached(), ['run 1']);
    assert.equal(runs.length, 1);
    nowMs += 1;
    assert.deepEqual(await cached(), ['run 1'], 'past the ttl: answered from the last run, not made to wait');
    assert.deepEqual(await cached(), ['run 1']);
    await settle();
    assert.equal(runs.length, 2, 'one new run, however many calls came while it was on');
    runs[1].resolve(['storage: unreachable']);
    await settle();
    assert.deepEqual(await cached(), ['storage: unreachable']);
    assert.equal(runs.length, 2);
  });

  it('a run that threw is not kept: its callers get the error and the next call runs again', async () => {
    let runs = 0;
    const check = cachedCheck(async () => {
      runs++;
      if (runs === 1) throw new Error('flaky');
      return [];
    }, 60_000, () => 0);
    await assert.rejects(Promise.resolve(check()), /flaky/);
    assert.deepEqual(await check(), []);
    assert.equal(runs, 2);
  });
});

describe('flushHealth: a windows projector that has not flushed for long is stuck', () => {
  it('the bound is 30 s for short flush intervals: 30 s old is fine, 31 s is a problem', async () => {
    const now = 1_000_000;
    assert.deepEqual(await flushHealth(projectionsFlushedAt(now - 30_000), 1000, () => now)(), []);
    assert.deepEqual(await flushHealth(projectionsFlushedAt(now - 31_000), 1000, () => now)(), ['projector: the last flush was 31 s ago (more than 30 s)']);
  });

  it('the bound is 10 flush intervals when that is longer than 30 s', async () => {
    const now = 1_000_000;
    assert.deepEqual(await flushHealth(projectionsFlushedAt(now - 45_000), 5000, () => now)(), []);
    assert.deepEqual(await flushHealth(projectionsFlushedAt(now - 51_000), 5000, () => now)(), ['projector: the last flush was 51 s ago (more than 50 s)']);
  });

  it('a projector that has not run yet is no problem of this check', async () => {
    assert.deepEqual(await flushHealth(projectionsFlushedAt(undefined), 1000, () => 1e12)(), []);
    assert.deepEqual(await flushHealth(projectionsFlushedAt(0), 1000, () => 1e12)(), []);
  });
});
