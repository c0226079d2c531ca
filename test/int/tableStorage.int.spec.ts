import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { odata, TableClient } from '@azure/data-tables';
import { InvalidInputError, StorageError } from '../../src/core/errors';
import type { BlockTable, StoredBlock } from '../../src/core/ports';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { encodePartition } from '../../src/adapters/tableStorage/keyEncoding';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';

const TENANT = 'wYAVC3oWQU+ozhgAAg5f/w==637841132085596403';
const VM = 'Sharedfk6hZ4v5Xkmu0clBsg+aYw==63784';

const block = (partition: readonly string[], row: number, data: string, appliedThrough = row): StoredBlock =>
  ({ partition, row, data, appliedThrough });

describe('Table Storage adapter on an embedded Azurite', () => {
  let azurite: EmbeddedAzurite;
  let store: TableStorageStore;
  let blocks: BlockTable;

  /** The RowKeys stored for a partition, to see the entity layout behind a block. */
  const storedRowKeys = async (table: string, partition: readonly string[]): Promise<string[]> => {
    const client = TableClient.fromConnectionString(azurite.tableConnectionString, `it${table}`, { allowInsecureConnection: true });
    const keys: string[] = [];
    const filter = odata`PartitionKey eq ${encodePartition(partition)}`;
    for await (const entity of client.listEntities({ queryOptions: { filter, select: ['RowKey'] } })) keys.push(entity.rowKey!);
    return keys;
  };

  before(async () => {
    azurite = await EmbeddedAzurite.start();
    const retry = { attempts: 3, initialDelayMs: 20 }; // quick, so that failing on purpose stays quick
    store = TableStorageStore.fromConnectionString(azurite.tableConnectionString, { tablePrefix: 'it', retry });
    blocks = await store.blockTable('blocks');
  });

  after(async () => {
    await azurite?.stop();
  });

  it('round-trips a 2 MB block over overflow pages, and deletes the stale pages when it shrinks', async () => {
    const partition = [TENANT, VM];
    const big = Array.from({ length: 2_000_000 }, (_, i) => String.fromCharCode(32 + (i % 90))).join('');
    await blocks.write([block(partition, 7, big, 2 ** 53)]);

    const read = await blocks.read(partition, 7);
    assert.equal(read?.data, big);
    assert.equal(read?.appliedThrough, 2 ** 53);
    assert.deepEqual(read?.partition, partition);
    assert.ok((await storedRowKeys('blocks', partition)).length > 3, 'a 2 MB block needs overflow pages');

    await blocks.write([block(partition, 7, 'now small', 9)]);
    assert.deepEqual(await blocks.read(partition, 7), block(partition, 7, 'now small', 9));
    assert.deepEqual(await storedRowKeys('blocks', partition), ['000000000007']);
  });

  it('with partitionDepth 1, keeps the blocks of many VMs of one tenant in one storage partition, each readable on its own', async () => {
    const perTenant = await store.blockTable('vmBlocks', { partitionDepth: 1 });
    const vms = ['vm-1', 'vm/2', "vm'3|x", 'vm#4?%', VM];
    const written = vms.flatMap((vm, i) => [block([TENANT, vm], 900, `first ${vm}`, 10 + i), block([TENANT, vm], 1800, `second ${vm}`, 20 + i)]);
    await perTenant.write([...written, block(['another tenant', 'vm-1'], 900, 'elsewhere', 1)]);
    for (const vm of vms) {
      assert.deepEqual(await perTenant.readRange([TENANT, vm], 0, 10_000), written.filter((b) => b.partition[1] === vm));
      assert.deepEqual(await perTenant.read([TENANT, vm], 1800), written.find((b) => b.partition[1] === vm && b.row === 1800));
    }
    assert.deepEqual((await perTenant.read(['another tenant', 'vm-1'], 900))?.data, 'elsewhere');
    // One storage partition per tenant: the VM is part of the RowKey.
    const keys = await storedRowKeys('vmBlocks', [TENANT]);
    assert.equal(keys.length, vms.length * 2);
    assert.deepEqual(await storedRowKeys('vmBlocks', [TENANT, 'vm-1']), []);
  });

  it('with partitionDepth 1, a block that shrinks loses its overflow pages and its neighbours keep theirs', async () => {
    const perTenant = await store.blockTable('vmShrink', { partitionDepth: 1 });
    const big = (seed: number) => Array.from({ length: 1_500_000 }, (_, i) => String.fromCharCode(33 + ((i + seed) % 90))).join('');
    await perTenant.write([block([TENANT, 'a'], 1, big(1), 5), block([TENANT, 'b'], 1, big(2), 5)]);
    // A second table object knows nothing of the first's writes, so it must look for stale pages.
    const fresh = await store.blockTable('vmShrink', { partitionDepth: 1 });
    await fresh.write([block([TENANT, 'a'], 1, 'small now', 6)]);
    assert.deepEqual(await fresh.read([TENANT, 'a'], 1), block([TENANT, 'a'], 1, 'small now', 6));
    assert.equal((await fresh.read([TENANT, 'b'], 1))?.data, big(2));
    const keys = await storedRowKeys('vmShrink', [TENANT]);
    assert.deepEqual(keys.filter((k) => k.startsWith('a|')), ['a|000000000001']);
    assert.ok(keys.filter((k) => k.startsWith('b|')).length > 1, 'b keeps its overflow pages');
  });

  /** Every stored entity's keys, to see how a layout spreads blocks over storage partitions. */
  const storedKeys = async (table: string): Promise<[string, string][]> => {
    const client = TableClient.fromConnectionString(azurite.tableConnectionString, `it${table}`, { allowInsecureConnection: true });
    const keys: [string, string][] = [];
    for await (const entity of client.listEntities({ queryOptions: { select: ['PartitionKey', 'RowKey'] } })) keys.push([entity.partitionKey!, entity.rowKey!]);
    return keys;
  };

  it('with partitionBuckets, puts the VMs of many tenants into that many storage partitions, each VM read back alone', async () => {
    const layout = { partitionDepth: 1, partitionBuckets: 4 };
    const bucketed = await store.blockTable('vmBuckets', layout);
    // Tenant ids that are prefixes of one another, or that differ only in escaped characters, must not leak into each other's reads.
    const tenants = [TENANT, 'a', 'a|b', 'a/b', 'a%2Fb', ...Array.from({ length: 35 }, (_, i) => `tenant ${i}#?`)];
    const vms = ['vm-1', "vm'2/", 'vm-1x'];
    const written = tenants.flatMap((tenant, t) => vms.flatMap((vm, v) => [900, 1800].map((row) => block([tenant, vm], row, `${tenant} ${vm} ${row}`, t * 10 + v))));
    await bucketed.write(written);

    const fresh = await store.blockTable('vmBuckets', layout);
    for (const tenant of tenants) {
      for (const vm of vms) assert.deepEqual(await fresh.readRange([tenant, vm], 0, 10_000), written.filter((b) => b.partition[0] === tenant && b.partition[1] === vm));
    }
    assert.equal(await fresh.read(['a', 'vm'], 900), undefined);
    const partitionKeys = new Set((await storedKeys('vmBuckets')).map(([partitionKey]) => partitionKey));
    assert.deepEqual([...partitionKeys].sort(), ['b0', 'b1', 'b2', 'b3'], 'forty tenants in four storage partitions');
  });

  it('with partitionBuckets, a block that shrinks loses its overflow pages and another tenant\'s block in its partition keeps theirs', async () => {
    const layout = { partitionDepth: 1, partitionBuckets: 1 };
    const big = (seed: number) => Array.from({ length: 1_500_000 }, (_, i) => String.fromCharCode(33 + ((i + seed) % 90))).join('');
    await (await store.blockTable('bucketShrink', layout)).write([block(['t1', 'a'], 1, big(1), 5), block(['t2', 'a'], 1, big(2), 5)]);
    const fresh = await store.blockTable('bucketShrink', layout);
    await fresh.write([block(['t1', 'a'], 1, 'small now', 6)]);
    assert.deepEqual(await fresh.read(['t1', 'a'], 1), block(['t1', 'a'], 1, 'small now', 6));
    assert.equal((await fresh.read(['t2', 'a'], 1))?.data, big(2));
    const keys = (await storedKeys('bucketShrink')).map(([, rowKey]) => rowKey);
    assert.deepEqual(keys.filter((k) => k.startsWith('t1|')), ['t1|a|000000000001']);
    assert.ok(keys.filter((k) => k.startsWith('t2|')).length > 1, 't2 keeps its overflow pages');
  });

  it('refuses a bucket count it cannot use, and buckets for a row table', async () => {
    for (const partitionBuckets of [0, 1.5, 1001]) {
      await assert.rejects(store.blockTable('badBuckets', { partitionBuckets }), (error: unknown) =>
        error instanceof InvalidInputError && error.message.includes(`got ${partitionBuckets}`));
    }
    await assert.rejects(store.rowTable('badBuckets', { partitionBuckets: 4 }), InvalidInputError);
  });

  it('round-trips multi-byte unicode data larger than one entity', async () => {
    const data = '漢字é😀"\\\n'.repeat(120_000); // ~1.1M UTF-16 units, ~2.4 MB as UTF-8
    await blocks.write([block(['unicode'], 1, data)]);
    assert.equal((await blocks.read(['unicode'], 1))?.data, data);
  });

  it('stores blocks whose partitions contain / + = # ? \' \\ | % and unicode', async () => {
    const partitions = [[TENANT, VM], ["a#b?c\\d'e", 'x/y|z%'], ['Ünïcødé 漢字 😀', '\u0001\u0085']];
    await blocks.write(partitions.map((partition, i) => block(partition, 100 + i, `data ${i}`)));
    for (const [i, partition] of partitions.entries()) {
      assert.deepEqual(await blocks.read(partition, 100 + i), block(partition, 100 + i, `data ${i}`));
    }
  });

  it('returns undefined for a block that was never written', async () => {
    assert.equal(await blocks.read(['never'], 1), undefined);
  });

  it('reads a range with both bounds inclusive, in ascending order', async () => {
    const partition = ['range'];
    await blocks.write([50, 10, 40, 20, 30, 60].map((row) => block(partition, row, `r${row}`)));
    await blocks.write([block(['range', 'other'], 30, 'elsewhere')]);

    const rows = (await blocks.readRange(partition, 20, 50)).map((b) => b.row);
    assert.deepEqual(rows, [20, 30, 40, 50]);
    assert.deepEqual((await blocks.readRange(partition, 21, 29)).map((b) => b.row), []);
    assert.deepEqual((await blocks.readRange(partition, 60, 10)).map((b) => b.row), []);
    assert.deepEqual((await blocks.readRange(partition, 0, 1e12)).map((b) => b.data), ['r10', 'r20', 'r30', 'r40', 'r50', 'r60']);
  });

  it('writes 250 blocks across 3 partitions, 150 of them in one (more than one transaction)', async () => {
    const partitionOf = (i: number): string => (i % 5 < 3 ? 'batch0' : `batch${(i % 5) - 2}`); // 150, 50, 50
    const written = Array.from({ length: 250 }, (_, i) => block([partitionOf(i)], i, `block ${i}`.padEnd(500, '.')));
    await blocks.write(written);
    for (let p = 0; p < 3; p++) {
      const read = await blocks.readRange([`batch${p}`], 0, 1000);
      assert.deepEqual(read, written.filter((b) => b.partition[0] === `batch${p}`));
    }
    assert.equal((await blocks.readRange(['batch0'], 0, 1000)).length, 150);
  });

  it('rewrites the same blocks idempotently', async () => {
    const partition = ['idempotent'];
    const written = [block(partition, 1, 'a'.repeat(40_000)), block(partition, 2, 'b'.repeat(1_000_000))];
    await blocks.write(written);
    const keysBefore = await storedRowKeys('blocks', partition);
    await blocks.write(written);
    assert.deepEqual(await blocks.readRange(partition, 0, 10), written);
    assert.deepEqual(await storedRowKeys('blocks', partition), keysBefore);
  });

  it('reports a block whose overflow pages belong to another write as a retriable StorageError', async () => {
    const partition = ['torn'];
    await blocks.write([block(partition, 1, 'z'.repeat(1_000_000), 5)]);
    const client = TableClient.fromConnectionString(azurite.tableConnectionString, 'itblocks', { allowInsecureConnection: true });
    const partitionKey = encodePartition(partition);
    const page = await client.getEntity(partitionKey, '000000000001~001');
    await client.upsertEntity({ ...page, partitionKey, rowKey: page.rowKey!, appliedThrough: { value: 4, type: 'Double' } }, 'Replace');

    await assert.rejects(blocks.read(partition, 1), (error: unknown) => {
      assert.ok(error instanceof StorageError && error.retriable);
      assert.match(error.message, /incomplete/);
      return true;
    });
  });

  it('keeps the last of two writes of the same block in one call', async () => {
    await blocks.write([block(['twice'], 1, 'first'), block(['twice'], 1, 'second')]);
    assert.equal((await blocks.read(['twice'], 1))?.data, 'second');
  });

  it('writes 5,000 blocks of ~3 KB across 50 partitions, all read back', async (t) => {
    const table = await store.blockTable('throughput');
    const data = 'x'.repeat(3_000);
    const written = Array.from({ length: 5_000 }, (_, i) => block([`p${i % 50}`], 1_000 + Math.floor(i / 50), data, i));
    const started = process.hrtime.bigint();
    await table.write(written);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    t.diagnostic(`5000 blocks (one entity each) in ${seconds.toFixed(2)} s: ${Math.round(5_000 / seconds)} blocks/s = entities/s`);
    const readBack = await Promise.all(Array.from({ length: 50 }, (_, p) => table.readRange([`p${p}`], 0, 10_000)));
    assert.equal(readBack.flat().length, 5_000);
    assert.deepEqual(readBack[7][99], written[99 * 50 + 7]);
  });

  describe('RowTable', () => {
    it('upserts, gets and replaces rows, keeping field types and nulls', async () => {
      const rows = await store.rowTable('rows');
      const fields = { count: 3, ratio: 0.25, big: 2 ** 53, name: 'EUC', active: true, note: null };
      await rows.upsert([{ partition: [TENANT], row: "a#b?c\\d'e", fields }]);
      assert.deepEqual(await rows.get([TENANT], "a#b?c\\d'e"), { partition: [TENANT], row: "a#b?c\\d'e", fields });

      await rows.upsert([{ partition: [TENANT], row: "a#b?c\\d'e", fields: { count: 4 } }]);
      assert.deepEqual((await rows.get([TENANT], "a#b?c\\d'e"))?.fields, { count: 4 });
      assert.equal(await rows.get([TENANT], 'missing'), undefined);
    });

    it('lists by row range and limit, within one partition or across all', async () => {
      const rows = await store.rowTable('ledger');
      const many = Array.from({ length: 230 }, (_, i) => ({
        partition: [`team${i % 2}`], row: String(i).padStart(4, '0'), fields: { i },
      }));
      await rows.upsert(many);

      const range = await rows.list({ partition: ['team0'], fromRow: '0010', toRow: '0020' });
      assert.deepEqual(range.map((r) => r.row), ['0010', '0012', '0014', '0016', '0018', '0020']);
      assert.deepEqual((await rows.list({ partition: ['team1'], limit: 3 })).map((r) => r.row), ['0001', '0003', '0005']);
      const all = await rows.list();
      assert.equal(all.length, 230);
      assert.deepEqual(all.map((r) => r.partition[0]), [...Array(115).fill('team0'), ...Array(115).fill('team1')]);
      assert.equal((await rows.list({ limit: 150 })).length, 150);
    });

    it('with partitionDepth 1, keeps deeper logical partitions in one storage partition and reads each back on its own', async () => {
      const rows = await store.rowTable('shallowRows', { partitionDepth: 1 });
      const tenants = [TENANT, 'a|b/c', "it's #1?"];
      const written = tenants.flatMap((tenant) => ['vm/1', 'vm|2'].map((vm) => ({ partition: ['vm', tenant], row: vm, fields: { tenant, vm, n: vm.length } })));
      await rows.upsert([...written, { partition: ['vm'], row: 'top', fields: { n: 0 } }, { partition: ['key'], row: 'cpu', fields: { n: 1 } }]);
      for (const tenant of tenants) {
        assert.deepEqual((await rows.list({ partition: ['vm', tenant] })).map((r) => [r.partition, r.row]), [['vm', tenant], ['vm', tenant]].map((p, i) => [p, ['vm/1', 'vm|2'][i]]));
      }
      assert.deepEqual((await rows.get(['vm', 'a|b/c'], 'vm|2'))?.fields, { tenant: 'a|b/c', vm: 'vm|2', n: 4 });
      assert.deepEqual((await rows.list({ partition: ['vm'] })).map((r) => r.row), ['top'], 'a shallower partition lists only its own rows');
      assert.equal((await rows.list()).length, written.length + 2);
      await rows.delete(['vm', TENANT], 'vm/1');
      assert.equal((await rows.list({ partition: ['vm', TENANT] })).length, 1);
      // One storage partition for every tenant's VMs.
      assert.equal((await storedRowKeys('shallowRows', ['vm'])).length, written.length - 1 + 1);
    });

    it('deletes a row, and deleting it again is no error', async () => {
      const rows = await store.rowTable('deletes');
      await rows.upsert([{ partition: ['p', 'q/r'], row: 'x', fields: { v: 1 } }]);
      await rows.delete(['p', 'q/r'], 'x');
      await rows.delete(['p', 'q/r'], 'x');
      assert.equal(await rows.get(['p', 'q/r'], 'x'), undefined);
    });

    it('refuses a field name that cannot be a property, naming it', async () => {
      const rows = await store.rowTable('rows');
      await assert.rejects(rows.upsert([{ partition: ['p'], row: 'r', fields: { 'bad-name': 1 } }]), /"bad-name"/);
    });
  });

  it('lists tables by prefix and drops them', async () => {
    await store.rowTable('dropMe1');
    await store.blockTable('dropMe2');
    assert.deepEqual(await store.listTables('dropMe'), ['dropMe1', 'dropMe2']);
    await store.dropTable('dropMe1');
    await store.dropTable('dropMe1');
    assert.deepEqual(await store.listTables('dropMe'), ['dropMe2']);
    assert.ok((await store.listTables('')).includes('blocks'));
  });

  it('recreates a dropped table on next use', async () => {
    const first = await store.rowTable('phoenix');
    await first.upsert([{ partition: ['p'], row: 'r', fields: { v: 1 } }]);
    await store.dropTable('phoenix');
    const again = await store.rowTable('phoenix');
    assert.deepEqual(await again.list(), []);
  });

  it('refuses a bad table name with a message that gives the rule', async () => {
    await assert.rejects(store.blockTable('bad_name!'), (error: unknown) => {
      assert.ok(error instanceof InvalidInputError);
      assert.match(error.message, /invalid table name "itbad_name!".*letters and digits, 3 to 63/);
      return true;
    });
    await assert.rejects(TableStorageStore.fromConnectionString(azurite.tableConnectionString).rowTable('ab'), /3 to 63/);
  });

  it('maps a refused connection to a retriable StorageError that keeps the SDK error as cause', async () => {
    const gone = await EmbeddedAzurite.start();
    const retry = { attempts: 2, initialDelayMs: 20 };
    const unreachable = await TableStorageStore.fromConnectionString(gone.tableConnectionString, { retry }).rowTable('rows')
      .then(async (rows) => {
        await gone.stop();
        return rows;
      });
    await assert.rejects(unreachable.get(['p'], 'r'), (error: unknown) => {
      assert.ok(error instanceof StorageError);
      assert.equal(error.retriable, true);
      assert.equal((error.cause as { code?: string }).code, 'ECONNREFUSED');
      return true;
    });
  });

  it('keeps data in a persisted Azurite across a stop and a start on the same location', async () => {
    const location = await mkdtemp(join(tmpdir(), 'opsfold-azurite-'));
    try {
      const first = await EmbeddedAzurite.start({ location });
      const firstStore = TableStorageStore.fromConnectionString(first.tableConnectionString);
      await (await firstStore.blockTable('kept')).write([block([TENANT], 3, 'survives', 42)]);
      await first.stop();

      const second = await EmbeddedAzurite.start({ location });
      try {
        const secondStore = TableStorageStore.fromConnectionString(second.tableConnectionString);
        assert.deepEqual(await (await secondStore.blockTable('kept')).read([TENANT], 3), block([TENANT], 3, 'survives', 42));
      } finally {
        await second.stop();
      }
    } finally {
      await rm(location, { recursive: true, force: true });
    }
  });

  it('starts the Blob service beside the Table service when asked', async () => {
    const withBlob = await EmbeddedAzurite.start({ blob: true });
    try {
      assert.match(withBlob.blobConnectionString ?? '', /BlobEndpoint=http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1;/);
      const url = new URL(/BlobEndpoint=([^;]+)/.exec(withBlob.blobConnectionString!)![1]);
      const status = await new Promise<number>((resolve, reject) => {
        request(url, { method: 'GET' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject).end();
      });
      assert.ok(status >= 200 && status < 500, `the Blob service answers (HTTP ${status})`);
      assert.equal(azurite.blobConnectionString, undefined);
    } finally {
      await withBlob.stop();
    }
  });
});
