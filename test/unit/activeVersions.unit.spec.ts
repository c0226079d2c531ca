import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ActiveVersions, type VersionSwitch } from '../../streams/ActiveVersions';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { MemoryTableStore } from '../support/memoryTableStore';
import { TestClock } from '../support/testClock';

describe('ActiveVersions: where a service notices a rebuild\'s switch', () => {
  it('starts from the active versions (version 1 on a fresh store), and hands on a switch at the next poll of its clock, all switched projections at once', async () => {
    // Given a store where rejects is at version 3 and windows has no version yet
    const versions = new ProjectionVersions(await new MemoryTableStore().rowTable('meta'));
    await versions.activate('rejects', 3);
    const clock = new TestClock(0);
    const told: VersionSwitch[][] = [];
    const active = new ActiveVersions({ versions, projections: ['windows', 'rejects'], pollMs: 2000, clock, onSwitch: async (switches) => void told.push(switches) });

    // When it starts, then it follows version 1 of windows (now active) and 3 of rejects
    assert.deepEqual(await active.start(), { windows: 1, rejects: 3 });
    assert.equal(await versions.active('windows'), 1);

    // When a rebuild activates windows 2 and rejects 4, nothing is told before the poll
    await versions.activate('windows', 2);
    await versions.activate('rejects', 4);
    await clock.runUntil(1999);
    assert.deepEqual(told, []);

    // Then at the poll both switches are told together, and the versions followed are the new ones
    await clock.runUntil(2000);
    assert.deepEqual(told, [[{ projection: 'windows', from: 1, to: 2 }, { projection: 'rejects', from: 3, to: 4 }]]);
    assert.equal(active.of('windows'), 2);
    await clock.runUntil(4000);
    assert.equal(told.length, 1, 'told once');
    await active.stop();
  });

  it('a switch that fails is reported and told again at the next poll', async () => {
    // Given a follower whose first switch fails
    const versions = new ProjectionVersions(await new MemoryTableStore().rowTable('meta'));
    const clock = new TestClock(0);
    const errors: unknown[] = [];
    let tries = 0;
    const active = new ActiveVersions({
      versions, projections: ['windows'], pollMs: 1000, clock, onError: (e) => errors.push(e),
      onSwitch: async () => {
        if (++tries === 1) throw new Error('the new processor could not connect');
      },
    });
    await active.start();
    await versions.activate('windows', 2);

    // When the first poll's switch fails, it is reported and the old version is still followed
    await clock.runUntil(1000);
    assert.match(String(errors[0]), /could not connect/);
    assert.equal(active.of('windows'), 1);

    // Then the next poll switches
    await clock.runUntil(2000);
    assert.equal(tries, 2);
    assert.equal(active.of('windows'), 2);
    await active.stop();
  });
});
