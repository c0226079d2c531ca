import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileWindowHistory, windowHistoryDir } from '../../src/adapters/windowHistory/FileWindowHistory';
import type { HistoryChunk } from '../../src/core/ports';
import { feedEntry } from '../../src/core/windowStream';
import { decodeChunk, encodeChunks, IDS_PER_HOUR } from '../../projections/windowEventHistory';

const HOUR = 472_223; // an hour of ids since the epoch (2023-11-14)
const ID0 = HOUR * IDS_PER_HOUR;

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'opsfold-filehistory-'));
  dirs.push(dir);
  return dir;
}

/** `n` chunks of `per` events each, ids from `first` on, values numbering the events. */
function chunks(first: number, n: number, per: number): HistoryChunk[] {
  const entries = Array.from({ length: n * per }, (_, i) => feedEntry(first + i, { key: 'k', windowStart: 60 * i, count: 1, sum: i, min: i, max: i, avg: i, revision: 1 }));
  return Array.from({ length: n }, (_, c) => encodeChunks(entries.slice(c * per, (c + 1) * per))[0]);
}

/** A file of HOUR written by a store of `dir` (closed since): `n` chunks of `per` events from `first`; its path. */
async function hourFile(dir: string, first: number, n: number, per: number): Promise<string> {
  const store = await FileWindowHistory.open(dir);
  await store.append(HOUR, chunks(first, n, per));
  await store.close();
  return path.join(dir, `H${HOUR}.chunks`);
}

async function readAll(store: FileWindowHistory, hour: number, afterId: number): Promise<number[]> {
  const ids: number[] = [];
  for await (const chunk of store.read(hour, afterId)) ids.push(...decodeChunk(chunk.data).map((e) => e.id));
  return ids;
}

describe('FileWindowHistory', () => {
  it('keeps each hour in a file of its own; a resume reads the chunks after its id, also after a reopen', async () => {
    const dir = path.join(await tempDir(), 'v1');
    const store = await FileWindowHistory.open(dir);
    await store.append(HOUR, chunks(ID0, 3, 4));
    await store.append(HOUR, chunks(ID0 + 12, 2, 4));
    await store.append(HOUR + 1, chunks(ID0 + IDS_PER_HOUR, 1, 4));
    await store.close();

    const reopened = await FileWindowHistory.open(dir);
    assert.deepEqual(await readdir(dir).then((names) => names.sort()), [`H${HOUR + 1}.chunks`, `H${HOUR}.chunks`].sort());
    assert.deepEqual(await reopened.hours(), [HOUR, HOUR + 1]);
    assert.equal(await reopened.lastId(HOUR), ID0 + 19);
    assert.equal(await reopened.lastId(HOUR + 5), undefined);
    // After id ID0+9: from the chunk holding it (ids 8..11) on, whole chunks (the feed drops what is not after).
    assert.deepEqual(await readAll(reopened, HOUR, ID0 + 9), Array.from({ length: 12 }, (_, i) => ID0 + 8 + i));
    assert.deepEqual(await readAll(reopened, HOUR, ID0 + 19), []);
    assert.deepEqual(await readAll(reopened, HOUR + 3, 0), [], 'an hour with no file has nothing');
    await reopened.close();
  });

  it('cuts a torn tail (an append cut short) on first use and says so; appends go on after the good records', async () => {
    const dir = await tempDir();
    const file = await hourFile(dir, ID0, 2, 4);
    const good = (await stat(file)).size;
    // Half of a third record, as a crash in the middle of its write leaves it.
    const whole = await readFile(await hourFile(path.join(dir, 'scratch'), ID0 + 8, 1, 4));
    await appendFile(file, whole.subarray(0, Math.floor(whole.length / 2)));

    const repairs: string[] = [];
    const reopened = await FileWindowHistory.open(dir, { onRepair: (m) => repairs.push(m) });
    assert.equal(await reopened.lastId(HOUR), ID0 + 7);
    assert.equal(repairs.length, 1);
    assert.match(repairs[0], /torn tail of \d+ bytes .* at offset \d+/);
    assert.equal((await stat(file)).size, good);
    await reopened.append(HOUR, chunks(ID0 + 8, 1, 4));
    assert.deepEqual(await readAll(reopened, HOUR, 0), Array.from({ length: 12 }, (_, i) => ID0 + i));
    await reopened.close();
  });

  it('a chunk damaged in the middle of a file is a clear error for the resume that reaches it', async () => {
    const dir = await tempDir();
    const file = await hourFile(dir, ID0, 3, 4);
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff; // inside the second record's payload
    await writeFile(file, bytes);

    const reopened = await FileWindowHistory.open(dir);
    await assert.rejects(readAll(reopened, HOUR, 0), /window-event history: the chunk at offset \d+ of .* is damaged/);
    assert.deepEqual(await readAll(reopened, HOUR, ID0 + 8), [8, 9, 10, 11].map((i) => ID0 + i), 'the chunks after it still read');
    await reopened.close();
  });

  it('drop deletes an hour; remove deletes a version', async () => {
    const data = await tempDir();
    const dir = windowHistoryDir(data, 'ops', 3);
    assert.equal(dir, path.join(data, 'window-history', 'opsV3'));
    const store = await FileWindowHistory.open(dir);
    await store.append(HOUR, chunks(ID0, 1, 2));
    await store.append(HOUR + 1, chunks(ID0 + IDS_PER_HOUR, 1, 2));

    await store.drop(HOUR);

    assert.deepEqual(await store.hours(), [HOUR + 1]);
    assert.deepEqual(await readAll(store, HOUR, 0), []);
    await store.close();
    await FileWindowHistory.remove(dir);
    await assert.rejects(stat(dir), { code: 'ENOENT' });
    await FileWindowHistory.remove(dir); // nothing there: no error
  });

  it("fsyncs each append, or (sync: 'close', a rebuild) each file once at close", async () => {
    const probe = await open(path.join(await tempDir(), 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const original = proto.datasync;
    let syncs = 0;
    proto.datasync = function (this: unknown) {
      syncs++;
      return original.call(this);
    };
    try {
      const counted = async (options: { sync?: 'append' | 'close' }) => {
        syncs = 0;
        const store = await FileWindowHistory.open(await tempDir(), options);
        for (let i = 0; i < 3; i++) await store.append(HOUR, chunks(ID0 + 4 * i, 1, 4));
        await store.append(HOUR + 1, chunks(ID0 + IDS_PER_HOUR, 1, 4));
        const beforeClose = syncs;
        await store.close();
        return [beforeClose, syncs];
      };
      assert.deepEqual(await counted({}), [4, 4]);
      assert.deepEqual(await counted({ sync: 'close' }), [0, 2]);
    } finally {
      proto.datasync = original;
    }
  });

  it('an empty or truncated-to-nothing file is an hour with no events', async () => {
    const dir = await tempDir();
    await truncate(await hourFile(dir, ID0, 1, 2), 0);

    const reopened = await FileWindowHistory.open(dir);
    assert.equal(await reopened.lastId(HOUR), undefined);
    assert.deepEqual(await readAll(reopened, HOUR, 0), []);
    await reopened.close();
  });
});
