import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rebuildEnv, rebuildNodeFlags } from '../../src/rebuildNode';

describe("rebuildNode: the Node flags and environment of a rebuild's process", () => {
  it('caps the old space at --heap-mb, starts it at 64 MB (never above the cap) and the semi-spaces at 8 MB', () => {
    assert.deepEqual(rebuildNodeFlags(256, undefined, 2), ['--max-old-space-size=256', '--initial-old-space-size=64', '--max-semi-space-size=8', '--min-semi-space-size=8', '--v8-pool-size=1']);
    assert.deepEqual(rebuildNodeFlags(32, undefined, 2), ['--max-old-space-size=32', '--initial-old-space-size=32', '--max-semi-space-size=8', '--min-semi-space-size=8', '--v8-pool-size=1']);
  });

  it("leaves one core to the main thread: V8's pool of cores - 1 threads, at least 1, at most Node's 4", () => {
    const pool = (cores: number) => rebuildNodeFlags(256, undefined, cores).at(-1);
    assert.equal(pool(1), '--v8-pool-size=1');
    assert.equal(pool(2), '--v8-pool-size=1');
    assert.equal(pool(4), '--v8-pool-size=3');
    assert.equal(pool(16), '--v8-pool-size=4');
  });

  it("leaves out what node's own options already set (a user's choice wins), the semi-spaces as a pair", () => {
    const userSet = (...options: string[]) => (option: string) => options.includes(option);
    assert.deepEqual(rebuildNodeFlags(512, userSet('initial-old-space-size'), 2), ['--max-old-space-size=512', '--max-semi-space-size=8', '--min-semi-space-size=8', '--v8-pool-size=1']);
    assert.deepEqual(rebuildNodeFlags(512, userSet('max-semi-space-size'), 2), ['--max-old-space-size=512', '--initial-old-space-size=64', '--v8-pool-size=1']);
    assert.deepEqual(rebuildNodeFlags(512, userSet('min-semi-space-size'), 2), ['--max-old-space-size=512', '--initial-old-space-size=64', '--v8-pool-size=1']);
    assert.deepEqual(rebuildNodeFlags(512, userSet('v8-pool-size'), 2), ['--max-old-space-size=512', '--initial-old-space-size=64', '--max-semi-space-size=8', '--min-semi-space-size=8']);
  });

  it("asks glibc for huge pages and to keep what it frees below 16 MB unless the environment tunes glibc itself, and changes nothing else", () => {
    assert.equal(rebuildEnv({ PATH: '/bin' }).GLIBC_TUNABLES, 'glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=16777216:glibc.malloc.trim_threshold=1073741824');
    assert.deepEqual(rebuildEnv({ PATH: '/bin', GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }), { PATH: '/bin', GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' });
  });
});
