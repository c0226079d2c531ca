import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { crossTenantReference } from '../support/metricBuilders';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { REBUILD_GLIBC_TUNABLES } from '../../src/rebuildNode';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import { decodeBlock } from '../../projections/minuteBlocks';
import { metaTable } from '../../projections/projectionCatalog';
import { openTable } from '../../projections/projectionTables';
import { windowsProjection } from '../../projections/windowsProjection';
import { ProjectionVersions } from '../../streams/projectionVersions';

const run = promisify(execFile);
const BIN = resolve(__dirname, '../../../bin/opsfold.js');

function opsfold(dataDir: string, ...args: string[]) {
  return opsfoldWith({}, dataDir, ...args);
}

function opsfoldWith(env: NodeJS.ProcessEnv, dataDir: string, ...args: string[]) {
  return run(process.execPath, [BIN, ...args, '--data-dir', dataDir], { env: { ...process.env, OPSFOLD_TABLE_PREFIX: 'e2e', ...env } });
}

/** The heap limit a replay reports on stderr, in MB. */
const heapLimitOf = (stderr: string): number => Number(/heap limit (\d+) MB/.exec(stderr)?.[1]);

const TENANTS = [`wYAVC3oWQU+ozhgAAg5f/w==6378'41`, 'a/b#c?d=='];
const VMS = ['Shared/vm+1==', "vm'2#?"];
const KEYS = ['win_cpu.percent', 'win_disk.percent_idle_time'];
const T0 = 1_700_000_000 - (1_700_000_000 % 60);

/** Deterministic out-of-order traffic: 40 minutes, sent in shuffled 5-minute messages. */
function traffic(): { messages: { metrics: Record<string, unknown>[] }[]; sent: { t: number; tenant: string; vm: string; key: string; value: number }[] } {
  const sent: { t: number; tenant: string; vm: string; key: string; value: number }[] = [];
  const chunks: Record<string, unknown>[][] = [];
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let chunk = 0; chunk < 8; chunk++) {
    const metrics: Record<string, unknown>[] = [];
    for (let m = 0; m < 5; m++) {
      for (const tenant of TENANTS) for (const vm of VMS) for (const key of KEYS) {
        const t = T0 + (chunk * 5 + m) * 60 + Math.floor(rnd() * 60);
        const value = Math.round(rnd() * 1000) / 10;
        const [PerfType, PerfName] = [key.slice(0, key.indexOf('.')), key.slice(key.indexOf('.') + 1)];
        metrics.push({ timestamp: t, MaskedTenantId: tenant, MaskedVMName: vm, PerfType, PerfName, PerfValue: value, SiteName: null });
        sent.push({ t, tenant, vm, key, value });
      }
    }
    chunks.push(metrics);
  }
  // Arrival order: 0, 2, 1, 3, 5, 4, 6, 7 — two chunks arrive five minutes late.
  const order = [0, 2, 1, 3, 5, 4, 6, 7];
  const messages = order.map((i) => ({ metrics: chunks[i] }));
  messages[3].metrics.push({ timestamp: '1700000000', MaskedTenantId: 'x', MaskedVMName: 'y', PerfType: 'a', PerfName: 'b', PerfValue: 1 });
  return { messages, sent };
}

const reference = crossTenantReference;

async function readCross(dataDir: string): Promise<Map<string, { count: number; sum: number; min: number; max: number }>> {
  const azurite = await EmbeddedAzurite.start({ location: join(dataDir, 'azurite') });
  try {
    const store = TableStorageStore.fromConnectionString(azurite.tableConnectionString);
    const version = await new ProjectionVersions(await store.rowTable(metaTable('e2e'))).active('windows');
    const table = await openTable(store, windowsProjection.tables.minute, { prefix: 'e2e', version: version as number });
    const out = new Map<string, { count: number; sum: number; min: number; max: number }>();
    for (const key of KEYS) {
      for (const block of await table.readRange([key], 0, 4_000_000_000)) {
        for (const w of decodeBlock(block).get('') ?? []) out.set(`${key}@${w.windowStart}`, { count: w.count, sum: w.sum, min: w.min, max: w.max });
      }
    }
    return out;
  } finally {
    await azurite.stop();
  }
}

describe('the CLI end to end: ingest out-of-order SPOC data, replay, read the tables', () => {
  let dir: string;
  const { messages, sent } = traffic();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-e2e-'));
    await writeFile(join(dir, 'in.ndjson'), messages.map((m) => JSON.stringify(m)).join('\n'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('when NDJSON is ingested, valid metrics are accepted and the bad one is counted as rejected', async () => {
    const { stdout } = await opsfold(join(dir, 'data'), 'ingest', join(dir, 'in.ndjson'));
    assert.deepEqual(JSON.parse(stdout), { messages: 8, accepted: sent.length, rejected: 1, invalidMessages: 0 });
  });

  it('after a replay, every cross-tenant window equals a batch computation over what was sent', async () => {
    await opsfold(join(dir, 'data'), 'replay', '--projection', 'windows');
    const stored = await readCross(join(dir, 'data'));
    const expected = reference(sent);
    assert.equal(stored.size, expected.size);
    for (const [id, w] of expected) {
      const got = stored.get(id);
      assert.ok(got, `window ${id} missing`);
      assert.equal(got.count, w.count, id);
      assert.ok(Math.abs(got.sum - w.sum) < 1e-9, id);
      assert.equal(got.min, w.min, id);
      assert.equal(got.max, w.max, id);
    }
  });

  it('a second replay gives identical table contents', async () => {
    const first = await readCross(join(dir, 'data'));
    await opsfold(join(dir, 'data'), 'replay', '--projection', 'windows');
    assert.deepEqual(await readCross(join(dir, 'data')), first);
  });

  it('the rejects ledger lists the rejected metric with its reason', async () => {
    const { stdout } = await opsfold(join(dir, 'data'), 'rejects');
    const rows = stdout.trim().split('\n').map((l) => JSON.parse(l) as { reason: string; index: number });
    assert.equal(rows.length, 1);
    assert.match(rows[0].reason, /timestamp must be a number/);
    assert.equal(rows[0].index, messages[3].metrics.length - 1);
  });

  it("a replay runs with V8's heap limited to --heap-mb (256 by default, with 8 MB semi-spaces), a core left to its main thread and glibc's huge pages, or as NODE_OPTIONS and GLIBC_TUNABLES already say", async () => {
    const data = join(dir, 'data');
    const defaultRun = (await opsfoldWith({ GLIBC_TUNABLES: undefined }, data, 'replay', '--projection', 'rejects')).stderr;
    const byDefault = heapLimitOf(defaultRun);
    const uncapped = heapLimitOf((await opsfold(data, 'replay', '--projection', 'rejects', '--heap-mb', '0')).stderr);
    const chosen = heapLimitOf((await opsfoldWith({ NODE_OPTIONS: '--max-old-space-size=640' }, data, 'replay', '--projection', 'rejects')).stderr);
    const oldSpaceOnly = heapLimitOf((await opsfoldWith({ NODE_OPTIONS: '--max-old-space-size=256' }, data, 'replay', '--projection', 'rejects')).stderr);

    // V8's limit is the old space plus the young generation (three semi-spaces): the replay's own cap also makes those smaller.
    assert.ok(byDefault >= 256 && byDefault < 400, `default ${byDefault} MB`);
    assert.ok(oldSpaceOnly >= 256 && byDefault < oldSpaceOnly, `default ${byDefault} MB, 256 MB old space with V8's young generation ${oldSpaceOnly} MB`);
    assert.ok(uncapped > 1000, `--heap-mb 0: ${uncapped} MB`);
    assert.ok(chosen >= 640 && chosen < 800, `NODE_OPTIONS: ${chosen} MB`);
    // Its Node asks glibc for huge pages, unless the environment already tunes glibc (or the heap is left to V8).
    // V8's threads (compiles, collector helpers): fewer than the cores, so that one is the main thread's (at least one, at most Node's 4).
    const tunables = REBUILD_GLIBC_TUNABLES.replace(/\./g, '\\.');
    const pool = Number(new RegExp(`heap limit \\d+ MB, V8 pool (\\d+) threads?, GLIBC_TUNABLES=${tunables}\\n`).exec(defaultRun)?.[1]);
    assert.ok(pool >= 1 && pool <= 4 && (pool === 1 || pool < availableParallelism()), `${defaultRun}: ${availableParallelism()} cores`);
    const ownPool = (await opsfoldWith({ NODE_OPTIONS: '--v8-pool-size=3' }, data, 'replay', '--projection', 'rejects')).stderr;
    assert.match(ownPool, /heap limit \d+ MB, V8 pool 3 threads, GLIBC/);
    const ownTunables = (await opsfoldWith({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, data, 'replay', '--projection', 'rejects')).stderr;
    assert.match(ownTunables, /heap limit \d+ MB, V8 pool \d+ threads?, GLIBC_TUNABLES=glibc\.malloc\.arena_max=2\n/);
    assert.doesNotMatch((await opsfoldWith({ GLIBC_TUNABLES: undefined }, data, 'replay', '--projection', 'rejects', '--heap-mb', '0')).stderr, /GLIBC_TUNABLES|V8 pool/);
    await assert.rejects(opsfold(data, 'replay', '--heap-mb', 'lots'), (e: { code: number; stderr: string }) => e.code === 2 && /--heap-mb must be a whole number, 0 or more, got "lots"/.test(e.stderr));
  });

  it('an unknown projection (none is declared) is refused with a message naming the choices, exit 2', async () => {
    await assert.rejects(opsfold(join(dir, 'data'), 'replay', '--projection', 'nope'), (e: { code: number; stderr: string }) => e.code === 2 && /opsfold replay: unknown projection "nope"; choose one of windows, rejects, backlog or all\n/.test(e.stderr));
  });
});
