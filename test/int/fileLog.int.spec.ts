import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, tableCrc32 } from '../../src/adapters/fileLog/crc32';
import { FileLog, type TailRepair } from '../../src/adapters/fileLog/FileLog';
import { CorruptLogError, StorageError } from '../../src/core/errors';
import type { LogReadOptions, LogRecord } from '../../src/core/ports';

const FILE_LOG_MODULE = path.resolve(__dirname, '../../src/adapters/fileLog/FileLog.js');
const FIRST_SEGMENT = '00000000000000000000.seg';
const HEADER_BYTES = 20;

const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'opsfold-filelog-'));
  tempDirs.push(dir);
  return dir;
}

function payloads(count: number, prefix = 'event'): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.from(`${prefix}-${i}-${'x'.repeat(i % 7)}`));
}

async function readAll(log: FileLog, from = 0, options: { maxBatchBytes?: number } = {}): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  for await (const batch of log.read(from, options)) records.push(...batch);
  return records;
}

/** Reads until an error; returns the records before it and the error. */
async function readUntilError(log: FileLog, from = 0, options: LogReadOptions = {}): Promise<{ records: LogRecord[]; error: unknown }> {
  const records: LogRecord[] = [];
  try {
    for await (const batch of log.read(from, options)) records.push(...batch);
  } catch (error) {
    return { records, error };
  }
  return { records, error: undefined };
}

function texts(records: readonly LogRecord[]): string[] {
  return records.map((r) => r.payload.toString());
}

/** Runs a node script with FileLog available as `FileLog`; resolves with its exit code and stderr. */
function runNode(script: string, args: string[]): Promise<{ code: number | null; stderr: string; pid: number }> {
  const child = spawn(process.execPath, ['-e', `const { FileLog } = require(${JSON.stringify(FILE_LOG_MODULE)});\n${script}`, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr, pid: child.pid ?? -1 }));
  });
}

describe('FileLog', () => {
  it('checksums records with the standard CRC-32, the same with and without zlib', () => {
    const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) & 0xff));
    assert.equal(crc32(Buffer.from('123456789'), 0, 9), 0xcbf43926);
    for (const [start, end] of [[0, 0], [3, 4], [1, 17], [5, 300], [2, 4999], [0, 5000]]) {
      const expected = zlib.crc32(data.subarray(start, end));
      assert.equal(tableCrc32(data, start, end), expected, `[${start}, ${end})`);
      assert.equal(crc32(data, start, end), expected, `[${start}, ${end})`);
    }
  });

  describe('append and read', () => {
    it('reads appended records back in order, with their payloads, positions and append time', async () => {
      // Given an empty log whose clock reads 1700000000123
      const log = await FileLog.open(await tempDir(), { now: () => 1_700_000_000_123 });
      // When two appends are made
      const first = await log.append(payloads(3));
      const second = await log.append([Buffer.from('last')]);
      // Then reading from 0 returns the four records, contiguous, stamped with the clock
      const records = await readAll(log);
      assert.deepEqual(texts(records), [...payloads(3).map(String), 'last']);
      assert.equal(records[0].position, 0);
      assert.equal(first.first, 0);
      assert.equal(first.end, records[3].position);
      assert.equal(second.first, records[3].position);
      assert.equal(second.end, records[3].next);
      for (let i = 1; i < records.length; i++) assert.equal(records[i].position, records[i - 1].next);
      assert.ok(records.every((r) => r.appendedAtMs === 1_700_000_000_123));
      assert.equal(await log.end(), second.end);
      await log.close();
    });

    it('reading from a middle position returns the records from there on', async () => {
      const log = await FileLog.open(await tempDir());
      await log.append(payloads(5));
      const all = await readAll(log);
      // When reading from the third record's position
      const rest = await readAll(log, all[2].position);
      // Then the third record comes first
      assert.deepEqual(texts(rest), texts(all.slice(2)));
      assert.deepEqual(await readAll(log, all[4].next), []);
      await log.close();
    });

    it('returns batches no larger than maxBatchBytes unless one record is larger', async () => {
      const log = await FileLog.open(await tempDir());
      const big = Buffer.alloc(5000, 7);
      await log.append([...payloads(50), big, ...payloads(3)]);
      const batches: LogRecord[][] = [];
      for await (const batch of log.read(0, { maxBatchBytes: 256 })) batches.push(batch);
      const records = batches.flat();
      assert.equal(records.length, 54);
      assert.deepEqual(records[50].payload, big);
      assert.ok(batches.length > 5);
      for (const batch of batches) {
        const bytes = batch[batch.length - 1].next - batch[0].position;
        assert.ok(bytes <= 256 || batch.length === 1, `batch of ${batch.length} records has ${bytes} bytes`);
      }
      await log.close();
    });

    it('returns one record a batch when maxBatchBytes is smaller than even a record header', async () => {
      const log = await FileLog.open(await tempDir());
      await log.append(payloads(3));
      const batches: LogRecord[][] = [];
      for await (const batch of log.read(0, { maxBatchBytes: 1 })) batches.push(batch);
      assert.deepEqual(batches.map((b) => b.length), [1, 1, 1]);
      assert.deepEqual(texts(batches.flat()), payloads(3).map(String));
      await log.close();
    });

    it('keeps the records durable across a reopen', async () => {
      const dir = await tempDir();
      const log = await FileLog.open(dir);
      const { end } = await log.append(payloads(10));
      await log.close();
      const reopened = await FileLog.open(dir);
      assert.equal(await reopened.end(), end);
      assert.deepEqual(texts(await readAll(reopened)), payloads(10).map(String));
      assert.deepEqual(reopened.repairs, []);
      await reopened.close();
    });

    it('coalesces concurrent appends into fewer group commits, each durable and in call order', async () => {
      // Given a log
      const dir = await tempDir();
      const log = await FileLog.open(dir);
      // When 200 appends are made without waiting for each other
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append([Buffer.from(`call-${i}`)])));
      // Then they were written in fewer write+fsync batches than appends
      assert.ok(log.stats.syncs < 200, `${log.stats.syncs} syncs for 200 appends`);
      assert.equal(log.stats.appends, 200);
      assert.equal(log.stats.records, 200);
      // And in call order, as a fresh reader sees them
      for (let i = 1; i < results.length; i++) assert.equal(results[i].first, results[i - 1].end);
      await log.close();
      const reopened = await FileLog.open(dir);
      assert.deepEqual(texts(await readAll(reopened)), results.map((_, i) => `call-${i}`));
      await reopened.close();
    });
  });

  describe('tail repair on open', () => {
    async function logWithThreeRecords(): Promise<{ dir: string; segment: string; records: LogRecord[]; bytes: Buffer }> {
      const dir = await tempDir();
      const log = await FileLog.open(dir);
      await log.append([Buffer.from('one'), Buffer.from('two'), Buffer.from('three-is-the-last')]);
      const records = await readAll(log);
      await log.close();
      const segment = path.join(dir, FIRST_SEGMENT);
      return { dir, segment, records, bytes: await fs.readFile(segment) };
    }

    /** Opens the log and checks the one repair reported: its fields, and the bytes kept aside. */
    async function reopen(dir: string, expected: Omit<TailRepair, 'keptAt'>, kept: Buffer): Promise<FileLog> {
      const reported: TailRepair[] = [];
      const log = await FileLog.open(dir, { onRepair: (repair) => reported.push(repair) });
      // Then the repair is reported to the callback and listed in `repairs`
      assert.equal(reported.length, 1);
      assert.deepEqual(log.repairs, reported);
      const keptAt = path.join(dir, 'damaged', `${FIRST_SEGMENT.replace('.seg', '')}-${expected.offset}.bin`);
      assert.deepEqual(reported[0], { ...expected, keptAt });
      // And the bytes taken out are kept next to the log, not deleted
      assert.deepEqual(await fs.readFile(keptAt), kept);
      return log;
    }

    /** A torn tail is cut: the good records remain and appends go right after them; a second open finds nothing. */
    async function checkCut(dir: string, log: FileLog, at: number): Promise<void> {
      assert.deepEqual(texts(await readAll(log)), ['one', 'two']);
      assert.equal((await fs.stat(path.join(dir, FIRST_SEGMENT))).size, at);
      const { first } = await log.append([Buffer.from('four')]);
      assert.equal(first, at);
      assert.deepEqual(texts(await readAll(log)), ['one', 'two', 'four']);
      await log.close();
      const again = await FileLog.open(dir);
      assert.deepEqual(again.repairs, []);
      await again.close();
    }

    it('cuts a last record truncated in the middle of its payload, as a torn tail, keeping its bytes aside', async () => {
      const { dir, segment, records, bytes } = await logWithThreeRecords();
      // Given the file is cut 5 bytes short of its end: an append that never completed
      const size = bytes.length - 5;
      await fs.truncate(segment, size);
      // When the log is opened
      const log = await reopen(dir, {
        segment: FIRST_SEGMENT, offset: records[2].position, position: records[2].position,
        bytesCut: size - records[2].position, reason: 'short payload', kind: 'torn', action: 'cut',
      }, bytes.subarray(records[2].position, size));
      await checkCut(dir, log, records[2].position);
    });

    it('cuts a last record truncated in the middle of its header, as a torn tail', async () => {
      const { dir, segment, records, bytes } = await logWithThreeRecords();
      await fs.truncate(segment, records[2].position + 7);
      const log = await reopen(dir, {
        segment: FIRST_SEGMENT, offset: records[2].position, position: records[2].position, bytesCut: 7, reason: 'short header', kind: 'torn', action: 'cut',
      }, bytes.subarray(records[2].position, records[2].position + 7));
      await checkCut(dir, log, records[2].position);
    });

    it('cuts zeros after the last record (the file grew, the data never reached the disk), as a torn tail', async () => {
      const { dir, segment, records } = await logWithThreeRecords();
      await fs.appendFile(segment, Buffer.alloc(300));
      const log = await reopen(dir, {
        segment: FIRST_SEGMENT, offset: records[2].next, position: records[2].next, bytesCut: 300, reason: 'bad header', kind: 'torn', action: 'cut',
      }, Buffer.alloc(300));
      assert.deepEqual(texts(await readAll(log)), ['one', 'two', 'three-is-the-last']);
      assert.equal((await log.append([Buffer.from('four')])).first, records[2].next);
      await log.close();
    });

    it('a flipped byte in the last (acknowledged) record is damage: kept aside and replaced by padding, so later positions stay valid', async () => {
      // Given the last record, fsynced and acknowledged, gets a flipped payload byte
      const { dir, segment, records, bytes } = await logWithThreeRecords();
      const damaged = Buffer.from(bytes);
      damaged[records[2].position + HEADER_BYTES + 3] ^= 0x01;
      await fs.writeFile(segment, damaged);
      // When the log is opened
      const log = await reopen(dir, {
        segment: FIRST_SEGMENT, offset: records[2].position, position: records[2].position,
        bytesCut: records[2].next - records[2].position, reason: 'bad checksum', kind: 'damaged', action: 'padded',
      }, damaged.subarray(records[2].position, records[2].next));
      // Then the damaged record is no longer read, the file keeps its length (padding in its place)
      assert.deepEqual(texts(await readAll(log)), ['one', 'two']);
      assert.equal((await fs.stat(segment)).size, bytes.length);
      // And an append goes after it, so a checkpoint taken after the lost record still points at the next record
      const { first } = await log.append([Buffer.from('four')]);
      assert.equal(first, records[2].next);
      assert.deepEqual(texts(await readAll(log, records[2].next)), ['four']);
      assert.deepEqual(texts(await readAll(log, records[2].position)), ['four']);
      await log.close();
      const again = await FileLog.open(dir);
      assert.deepEqual(again.repairs, []);
      assert.deepEqual(texts(await readAll(again)), ['one', 'two', 'four']);
      await again.close();
    });

    it('garbage after the last record is damage too: kept aside, padded, appends after it', async () => {
      // Given 117 bytes of garbage after the last record
      const { dir, segment, records } = await logWithThreeRecords();
      const garbage = Buffer.concat([Buffer.alloc(100, 0xff), Buffer.from('three-is-the-last')]);
      await fs.appendFile(segment, garbage);
      // When the log is opened
      const log = await reopen(dir, {
        segment: FIRST_SEGMENT, offset: records[2].next, position: records[2].next, bytesCut: 117, reason: 'bad header', kind: 'damaged', action: 'padded',
      }, garbage);
      // Then every record is kept, and appends go after the padding
      assert.deepEqual(texts(await readAll(log)), ['one', 'two', 'three-is-the-last']);
      assert.equal((await log.append([Buffer.from('four')])).first, records[2].next + 117);
      assert.deepEqual(texts(await readAll(log)), ['one', 'two', 'three-is-the-last', 'four']);
      await log.close();
    });
  });

  describe('corruption', () => {
    it('a damaged record in the middle of the log is a CorruptLogError naming its position, not a silent skip', async () => {
      // Given five records, the third with a flipped payload byte
      const dir = await tempDir();
      let log = await FileLog.open(dir);
      await log.append(payloads(5));
      const records = await readAll(log);
      await log.close();
      const segment = path.join(dir, FIRST_SEGMENT);
      const bytes = await fs.readFile(segment);
      bytes[records[2].position + HEADER_BYTES] ^= 0x20;
      await fs.writeFile(segment, bytes);
      // When the log is opened and read
      log = await FileLog.open(dir);
      const { records: before, error } = await readUntilError(log);
      // Then nothing was cut, the records before it were returned, and reading it throws with its position
      assert.deepEqual(log.repairs, []);
      assert.deepEqual(texts(before), texts(records.slice(0, 2)));
      assert.ok(error instanceof CorruptLogError, String(error));
      assert.match(error.message, new RegExp(`position ${records[2].position}\\b`));
      // And the records after it can still be read from their position
      assert.deepEqual(texts(await readAll(log, records[3].position)), texts(records.slice(3)));
      await log.close();
    });

    it('a damaged record in an earlier segment is a CorruptLogError naming its position', async () => {
      const dir = await tempDir();
      let log = await FileLog.open(dir, { segmentBytes: 200 });
      await log.append(payloads(20));
      const records = await readAll(log);
      await log.close();
      const bytes = await fs.readFile(path.join(dir, FIRST_SEGMENT));
      bytes[records[1].position + 9] ^= 0x40; // the payload length
      await fs.writeFile(path.join(dir, FIRST_SEGMENT), bytes);
      log = await FileLog.open(dir, { segmentBytes: 200 });
      const { records: before, error } = await readUntilError(log);
      assert.deepEqual(texts(before), texts(records.slice(0, 1)));
      assert.ok(error instanceof CorruptLogError, String(error));
      assert.match(error.message, new RegExp(`position ${records[1].position}\\b`));
      await log.close();
    });

    it('reading from a position that is not a record boundary is a CorruptLogError', async () => {
      const log = await FileLog.open(await tempDir());
      await log.append(payloads(3));
      const { records, error } = await readUntilError(log, 3);
      assert.deepEqual(records, []);
      assert.ok(error instanceof CorruptLogError, String(error));
      assert.match(error.message, /position 3\b/);
      const beyond = await readUntilError(log, 10_000);
      assert.ok(beyond.error instanceof CorruptLogError, String(beyond.error));
      await log.close();
    });
  });

  describe('segments', () => {
    it('rolls to a new segment named by its start position, and reads across segments', async () => {
      // Given segments of at most 256 bytes
      const dir = await tempDir();
      const log = await FileLog.open(dir, { segmentBytes: 256 });
      // When 40 records of 70 bytes are appended, in several appends
      const sent = Array.from({ length: 40 }, (_, i) => Buffer.from(`r${String(i).padStart(2, '0')}`.padEnd(50, '.')));
      for (let i = 0; i < 40; i += 8) await log.append(sent.slice(i, i + 8));
      // Then there are several segment files, each named by its base and at most 256 bytes
      const names = (await fs.readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
      assert.ok(names.length >= 10, names.join());
      let base = 0;
      for (const name of names) {
        assert.equal(name, `${String(base).padStart(20, '0')}.seg`);
        const { size } = await fs.stat(path.join(dir, name));
        assert.ok(size <= 256 && size > 0);
        base += size;
      }
      // And reading crosses them, from the start and from a middle segment
      const records = await readAll(log);
      assert.deepEqual(texts(records), sent.map(String));
      assert.equal(records[39].next, base);
      assert.deepEqual(texts(await readAll(log, records[17].position)), sent.slice(17).map(String));
      assert.equal(await log.end(), base);
      await log.close();
    });
  });

  describe('blocking reads (a rebuild\'s process, which reads on its own thread)', () => {
    it('give the same batches as reads through the thread pool: across segments, a record larger than a batch whole, damage at the same position', async () => {
      const dir = await tempDir();
      let log = await FileLog.open(dir, { segmentBytes: 300 });
      const sent = [...payloads(30), Buffer.alloc(500, 'L'), ...payloads(5, 'after')];
      await log.append(sent);
      const batches = async (blocking: boolean): Promise<string[][]> => {
        const out: string[][] = [];
        for await (const batch of log.read(0, { maxBatchBytes: 100, blocking })) out.push(texts(batch));
        return out;
      };
      const threadPool = await batches(false);
      assert.ok(threadPool.length > 10, `${threadPool.length} batches`);
      assert.deepEqual(await batches(true), threadPool);
      assert.deepEqual(threadPool.flat(), sent.map(String));
      // A flipped payload byte in the 12th record: both stop there, with the records before it.
      const records = await readAll(log);
      await log.close();
      const segment = (await fs.readdir(dir)).filter((n) => n.endsWith('.seg')).sort()
        .map((name) => ({ name, base: Number(name.slice(0, 20)) }))
        .filter(({ base }) => base <= records[11].position).pop()!;
      const bytes = await fs.readFile(path.join(dir, segment.name));
      bytes[records[11].position - segment.base + HEADER_BYTES] ^= 0x20;
      await fs.writeFile(path.join(dir, segment.name), bytes);
      log = await FileLog.open(dir, { segmentBytes: 300 });
      for (const blocking of [false, true]) {
        const { records: before, error } = await readUntilError(log, 0, { blocking });
        assert.deepEqual(texts(before), texts(records.slice(0, 11)), `blocking: ${blocking}`);
        assert.ok(error instanceof CorruptLogError, String(error));
        assert.match(error.message, new RegExp(`position ${records[11].position}\\b`));
      }
      await log.close();
    });
  });

  describe('following', () => {
    it('a follower receives records appended later by this log, another instance and another process, and stops on abort', async () => {
      // Given a follower from the current end, and a second instance on the same dir
      const dir = await tempDir();
      const log = await FileLog.open(dir, { pollIntervalMs: 20 });
      const other = await FileLog.open(dir);
      await log.append([Buffer.from('before')]);
      const abort = new AbortController();
      const received: string[] = [];
      const following = (async () => {
        for await (const batch of log.read(await log.end(), { follow: true, signal: abort.signal })) {
          received.push(...texts(batch));
          if (received.length >= 4) abort.abort();
        }
      })();
      // When records are appended by the same log, the other instance and another process
      await log.append([Buffer.from('same')]);
      await other.append([Buffer.from('other-instance')]);
      const child = await runNode(
        `FileLog.open(process.argv[1]).then(async (l) => { await l.append([Buffer.from('other-process')]); await l.close(); })`,
        [dir],
      );
      assert.equal(child.code, 0, child.stderr);
      await log.append([Buffer.from('same-again')]);
      // Then the follower sees all of them, in order, and ends without an error once aborted
      await following;
      assert.deepEqual(received, ['same', 'other-instance', 'other-process', 'same-again']);
      await other.close();
      await log.close();
    });

    it('a waiting follower ends cleanly when aborted, and when the log is closed', async () => {
      const log = await FileLog.open(await tempDir());
      const abort = new AbortController();
      const waiting = readAllFollowing(log, abort.signal);
      setTimeout(() => abort.abort(), 50);
      assert.deepEqual(await waiting, []);
      const untilClose = readAllFollowing(log);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await log.close();
      assert.deepEqual(await untilClose, []);
    });
  });

  describe('closing', () => {
    it('a reader paused between batches when the log closes ends cleanly when resumed', async () => {
      // Given a reader that has taken one small batch of many
      const log = await FileLog.open(await tempDir());
      await log.append(payloads(100));
      const reader = log.read(0, { maxBatchBytes: 64 })[Symbol.asyncIterator]();
      assert.equal((await reader.next()).done, false);
      // When the log is closed and the reader resumed
      await log.close();
      // Then it ends without an error
      assert.equal((await reader.next()).done, true);
    });
  });

  describe('several processes', () => {
    it('two processes appending 2,000 records each concurrently leave every record once, intact and in each one\'s order', async () => {
      // Given an empty log
      const dir = await tempDir();
      await (await FileLog.open(dir)).close();
      const script = `
        const [dir, id, count] = process.argv.slice(1);
        const payload = (i) => Buffer.from(id + ':' + i + ':' + String.fromCharCode(97 + (i % 26)).repeat(i % 300));
        (async () => {
          const log = await FileLog.open(dir);
          for (let i = 0; i < Number(count); i += 25) {
            const wave = [];
            for (let j = i; j < Math.min(i + 25, Number(count)); j++) wave.push(log.append([payload(j)]));
            await Promise.all(wave);
          }
          await log.close();
        })().catch((e) => { console.error(e); process.exit(1); });`;
      // When two processes append 2,000 records each at the same time
      const runs = await Promise.all([runNode(script, [dir, 'A', '2000']), runNode(script, [dir, 'B', '2000'])]);
      for (const run of runs) assert.equal(run.code, 0, run.stderr);
      // Then every record is there once, intact, in its process's order
      const log = await FileLog.open(dir);
      assert.deepEqual(log.repairs, []);
      const records = await readAll(log);
      assert.equal(records.length, 4000);
      const next: Record<string, number> = { A: 0, B: 0 };
      for (const record of records) {
        const [id, index] = record.payload.toString().split(':');
        const i = Number(index);
        assert.equal(i, next[id], `record ${record.payload.toString().slice(0, 20)} out of order`);
        next[id]++;
        assert.equal(record.payload.toString(), `${id}:${i}:${String.fromCharCode(97 + (i % 26)).repeat(i % 300)}`);
      }
      assert.deepEqual(next, { A: 2000, B: 2000 });
      await log.close();
    });

    it('a lock left by a crashed process does not block appends', async () => {
      // Given a lock file holding the pid of a process that has exited
      const dir = await tempDir();
      const log = await FileLog.open(dir);
      const dead = await runNode('', []);
      await fs.writeFile(path.join(dir, 'append.lock'), `${dead.pid}\n`);
      // When appending
      const started = Date.now();
      await log.append([Buffer.from('after-crash')]);
      // Then the append goes through at once and leaves no lock behind
      assert.ok(Date.now() - started < 2000);
      assert.deepEqual(texts(await readAll(log)), ['after-crash']);
      await assert.rejects(fs.access(path.join(dir, 'append.lock')));
      await log.close();
    });

    it('a lock older than lockStaleMs is broken even if its pid is alive', async () => {
      const dir = await tempDir();
      const log = await FileLog.open(dir, { lockStaleMs: 500 });
      const lock = path.join(dir, 'append.lock');
      await fs.writeFile(lock, `${process.pid}\nsomeone-else\n`);
      const old = new Date(Date.now() - 60_000);
      await fs.utimes(lock, old, old);
      await log.append([Buffer.from('after-timeout')]);
      assert.deepEqual(texts(await readAll(log)), ['after-timeout']);
      await log.close();
    });

    it('a torn tail left by a writer that died is cut by the next appender', async () => {
      // Given a log whose last record was cut short while it was open
      const dir = await tempDir();
      const log = await FileLog.open(dir);
      await log.append([Buffer.from('kept'), Buffer.from('torn-record')]);
      const records = await readAll(log);
      await fs.truncate(path.join(dir, FIRST_SEGMENT), records[1].position + 25);
      // When it is read and then appended to
      assert.deepEqual(texts(await readAll(log)), ['kept']);
      await log.append([Buffer.from('next')]);
      // Then the torn bytes were cut and reported, and the new record follows the last good one
      assert.deepEqual(log.repairs.map((r) => [r.position, r.bytesCut, r.reason]), [[records[1].position, 25, 'short payload']]);
      assert.deepEqual(texts(await readAll(log)), ['kept', 'next']);
      await log.close();
    });
  });

  describe('errors', () => {
    it('opening a directory that cannot be created gives a StorageError naming it', async () => {
      const file = path.join(await tempDir(), 'a-file');
      await fs.writeFile(file, 'not a directory');
      const dir = path.join(file, 'log');
      await assert.rejects(FileLog.open(dir), (error: unknown) => {
        assert.ok(error instanceof StorageError, String(error));
        assert.ok(error.message.includes(dir), error.message);
        return true;
      });
    });

    it('appending after close is refused with a StorageError', async () => {
      const log = await FileLog.open(await tempDir());
      await log.close();
      await assert.rejects(log.append([Buffer.from('late')]), StorageError);
    });
  });
});

async function readAllFollowing(log: FileLog, signal?: AbortSignal): Promise<string[]> {
  const received: string[] = [];
  for await (const batch of log.read(0, { follow: true, signal })) received.push(...texts(batch));
  return received;
}
