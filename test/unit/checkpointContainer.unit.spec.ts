import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkpointContainerFor } from '../../src/adapters/eventHubs/azureClients';

const BUILT_IN = { windows: 3, rejects: 1, backlog: 2 };
/** Blob Storage's rule for container names: 3-63 lower-case letters, digits and single hyphens, a letter or digit at each end. */
const VALID = /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/;

describe('the checkpoint container of a set of projection versions', () => {
  it('with the built-in projections only, is named after their versions', () => {
    assert.equal(checkpointContainerFor('opsfold-checkpoints', BUILT_IN), 'opsfold-checkpoints-w3-r1-b2');
    assert.equal(checkpointContainerFor('opsfold-checkpoints', BUILT_IN, []), 'opsfold-checkpoints-w3-r1-b2');
  });

  it('with declared projections, is another valid name for every other set of names and versions, whatever their order', () => {
    const a = { name: 'cpu_by_region', version: 1 };
    const b = { name: 'a'.repeat(48), version: 12 };
    const names = [[a], [{ ...a, version: 2 }], [b], [a, b]].map((declared) => checkpointContainerFor('opsfold-checkpoints', BUILT_IN, declared));
    assert.equal(new Set(names).size, 4);
    for (const name of names) assert.match(name, VALID);
    for (const name of names) assert.ok(name.startsWith('opsfold-checkpoints-w3-r1-b2-d'), name);
    assert.equal(checkpointContainerFor('opsfold-checkpoints', BUILT_IN, [b, a]), names[3]);
  });
});
