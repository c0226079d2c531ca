/**
 * How a rebuild's Node process is started (`opsfold replay` and the benches): its V8 flags and its
 * environment. A module of its own: the launcher that starts the rebuild's capped Node reads it
 * without loading the rebuild.
 */
import { availableParallelism } from 'node:os';

/**
 * The young generation of a rebuild's Node: 8 MB semi-spaces instead of V8's 16 MB (three of them),
 * some 20-40 MB less RSS, and at their 8 MB from the start (see rebuildNodeFlags).
 */
export const REBUILD_SEMI_SPACE_MB = 8;

/** `opsfold replay --heap-mb`'s default: V8's old-space limit for the rebuild. */
export const REBUILD_HEAP_MB = 256;

/**
 * Where the rebuild's old space starts (V8 starts it at a few MB and grows it): the fold holds some
 * 20-40 MB of long-lived state (open windows, sketches, the blocks of the slot being filled), and
 * a heap that starts small reaches it through a mark-compact every few MB (nine in the first second
 * of a 1M-metric fold, against one). Measured by alternating runs of the fold into memory: 0.93×
 * the time at 2M metrics, 0.94× at 1M (with semi-spaces at their 8 MB from the start).
 */
export const REBUILD_INITIAL_OLD_SPACE_MB = 64;

/**
 * The threads of V8's platform pool in a rebuild's Node (`--v8-pool-size`: its background compiles
 * and garbage collector helpers; Node starts 4 whatever the machine has): one core is left to the
 * main thread, which folds, so at most `cores - 1` (at least 1, at most Node's 4). On 2 cores the
 * fold's first seconds, when TurboFan compiles its hot functions one after another while the
 * collector copies the fold's new state, no longer share the main thread's core with three others.
 * Measured on the fold into memory, 2 cores (alternating pairs): 0.931× the time at 1M metrics (20
 * pairs, and 0.943× in 16 more), 1.00× at 2M (8 pairs); `opsfold replay --projection all` at 1M
 * 0.958× (6 pairs). A pool of 2 measured the same as Node's 4.
 */
export function rebuildPoolSize(cores = availableParallelism()): number {
  return Math.max(1, Math.min(4, cores - 1));
}

/**
 * The Node flags of a rebuild's process: old space capped at `heapMb` and started at
 * REBUILD_INITIAL_OLD_SPACE_MB (never above the cap), semi-spaces of REBUILD_SEMI_SPACE_MB from
 * the start, V8's thread pool of rebuildPoolSize(cores). What node's own flags already set (a
 * user's choice, as `isSet` tells) is left out: the semi-spaces as a pair, so that a user's smaller
 * young generation never meets a larger minimum.
 */
export function rebuildNodeFlags(heapMb = REBUILD_HEAP_MB, isSet: (option: string) => boolean = () => false, cores = availableParallelism()): string[] {
  const flags: [option: string, value: number][] = [
    ['max-old-space-size', heapMb],
    ['initial-old-space-size', Math.min(REBUILD_INITIAL_OLD_SPACE_MB, heapMb)],
    ['max-semi-space-size', REBUILD_SEMI_SPACE_MB],
    ['min-semi-space-size', REBUILD_SEMI_SPACE_MB],
    ['v8-pool-size', rebuildPoolSize(cores)],
  ];
  const young = isSet('max-semi-space-size') || isSet('min-semi-space-size');
  return flags.filter(([option]) => !isSet(option) && !(young && option.endsWith('semi-space-size'))).map(([option, value]) => `--${option}=${value}`);
}

/**
 * What the rebuild's Node is started with in `GLIBC_TUNABLES` (unless the environment sets it):
 *
 * - `hugetlb=1`: glibc's malloc backs its large areas with transparent huge pages (madvise). A
 *   rebuild's fold writes tens of MB of fresh block rows in its first minutes; a 4 KB page's first
 *   touch is a page fault, and on a virtual machine a fault costs ~12 µs. Measured at 2M metrics:
 *   ~42,000 page faults → ~20,000 and the fold 1.58–1.70 → 1.35–1.40 s.
 * - `mmap_threshold` 16 MB and `trim_threshold` 1 GB: the log's read buffers (the windows
 *   projection's batches, 512 KB when this was measured, 128 KB since) and the blocks' bytes come
 *   from malloc's heap and go back to it, where they are used again, instead of each being a fresh
 *   mapping faulted in page by page and unmapped when freed (glibc's own threshold rises past a
 *   buffer's size only after the first such buffer is freed, and it then gives the heap's top back
 *   to the kernel whenever twice that threshold of it is free). The block rows' 32 MB buffers
 *   (RowPool) stay mappings of their own. Measured on the fold into memory (alternating pairs):
 *   page faults 14,000 → 12,100 at 1M metrics and 15,400 → 13,600 at 2M, its time 0.924× at 1M
 *   (16 pairs, 0.928× in 12 more), and at 2M the main thread's samples in the kernel 1,050–1,290 →
 *   930–1,020 (the time's pairs varied more than that); peak RSS the same. Set alone,
 *   `trim_threshold` stops glibc moving its threshold, and every read buffer is a fresh mapping:
 *   1.2× the time.
 *
 * Nothing changes where THP is off, the C library is not glibc, or glibc is older than 2.35 (it
 * ignores a tunable it does not know). Only the rebuild: a long-running service's heap may keep
 * huge pages of which it uses little, and memory it no longer needs.
 */
export const REBUILD_GLIBC_TUNABLES = 'glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=16777216:glibc.malloc.trim_threshold=1073741824';

/** The environment of a rebuild's Node: `env` with REBUILD_GLIBC_TUNABLES unless it sets GLIBC_TUNABLES itself. */
export function rebuildEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.GLIBC_TUNABLES === undefined ? { ...env, GLIBC_TUNABLES: REBUILD_GLIBC_TUNABLES } : { ...env };
}
