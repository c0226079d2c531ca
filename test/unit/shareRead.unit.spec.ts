import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AppendResult, EventLog, LogReadOptions, LogRecord } from '../../src/core/ports';
import { shareRead } from '../../streams/shareRead';

/** A log of `records` one-byte records read in batches of `perBatch`; it counts its reads and the batches it produced. */
class CountingLog implements EventLog {
  reads: { from: number; maxBatchBytes?: number }[] = [];
  /** Whether each read asked for blocking reads. */
  blocking: (boolean | undefined)[] = [];
  produced = 0;
  failAt?: number;

  constructor(private readonly records: number, private readonly perBatch: number) {}

  async append(): Promise<AppendResult> {
    throw new Error('not appended to here');
  }

  read(from: number, options: LogReadOptions = {}): AsyncIterable<LogRecord[]> {
    this.reads.push({ from, maxBatchBytes: options.maxBatchBytes });
    this.blocking.push(options.blocking);
    return this.batches(from);
  }

  private async *batches(from: number): AsyncIterable<LogRecord[]> {
    for (let p = from; p < this.records; p += this.perBatch) {
      if (this.failAt !== undefined && p >= this.failAt) throw new Error(`cannot read at ${p}`);
      this.produced++;
      const batch: LogRecord[] = [];
      for (let q = p; q < Math.min(p + this.perBatch, this.records); q++) batch.push({ position: q, next: q + 1, appendedAtMs: 0, payload: Buffer.from([q % 256]) });
      yield batch;
    }
  }

  async end(): Promise<number> {
    return this.records;
  }

  async close(): Promise<void> {}
}

/** Every position a reader reads from `from`, with `between` awaited after each batch (a slow fold). */
async function readAll(log: EventLog, from = 0, options: LogReadOptions = {}, between?: () => Promise<void>): Promise<number[]> {
  const seen: number[] = [];
  for await (const batch of log.read(from, { follow: false, ...options })) {
    for (const r of batch) seen.push(r.position);
    await between?.();
  }
  return seen;
}

const positions = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
const turns = (n: number) => async () => {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe('shareRead: the projections of `opsfold replay --projection all` read the log once', () => {
  it('three readers from the start each get every record in order, and the log is read once, batch by batch', async () => {
    // Given a log of 10 batches and three readers.
    const log = new CountingLog(100, 10);
    const readers = shareRead(log, 3);

    // When they read it to its end at once, one of them slower than the others.
    const seen = await Promise.all(readers.map((r, i) => readAll(r.log, 0, {}, i === 1 ? turns(5) : undefined).finally(() => r.leave())));

    // Then each saw every record, and the log was read once: 10 batches for the three of them.
    for (const got of seen) assert.deepEqual(got, positions(0, 100));
    assert.equal(log.reads.length, 1);
    assert.equal(log.produced, 10);
  });

  it('a reader gets ahead of the slowest by at most maxLeadBytes of the log, then waits for it', async () => {
    // Given a log of ten 10-byte batches, and a reader that holds its first batch until let go.
    const log = new CountingLog(100, 10);
    const [fast, slow] = shareRead(log, 2, { maxLeadBytes: 30 });
    let letGo!: () => void;
    const held = new Promise<void>((resolve) => (letGo = resolve));
    const slowRead = readAll(slow.log, 0, {}, () => held).finally(() => slow.leave());
    let fastHad = 0;
    const fastRead = (async () => {
      const seen: number[] = [];
      for await (const batch of fast.log.read(0, { follow: false })) {
        seen.push(...batch.map((r) => r.position));
        fastHad++;
      }
      return seen;
    })().finally(() => fast.leave());

    // When the fast one has read all it may: the batch the slow one holds, and 30 bytes after it.
    await turns(20)();
    assert.equal(fastHad, 4);
    assert.equal(log.produced, 4);

    // Then, once the slow one goes on, both read to the end, the log read once.
    letGo();
    assert.deepEqual(await fastRead, positions(0, 100));
    assert.deepEqual(await slowRead, positions(0, 100));
    assert.equal(log.produced, 10);
  });

  it('with room enough, a reader that pauses does not hold the others back', async () => {
    const log = new CountingLog(100, 10);
    const [fast, paused] = shareRead(log, 2, { maxLeadBytes: 1000 });
    let resume!: () => void;
    const pause = new Promise<void>((resolve) => (resume = resolve));
    const pausedRead = readAll(paused.log, 0, {}, () => pause).finally(() => paused.leave());
    assert.deepEqual(await readAll(fast.log).finally(() => fast.leave()), positions(0, 100));
    resume();
    assert.deepEqual(await pausedRead, positions(0, 100));
    assert.equal(log.produced, 10);
  });

  it('the read waits until every reader has joined, starts where they read from, with the smallest batch size asked for', async () => {
    const log = new CountingLog(20, 5);
    const [a, b] = shareRead(log, 2);
    const first = readAll(a.log, 0, { maxBatchBytes: 4096 }).finally(() => a.leave());
    await turns(5)();
    assert.equal(log.reads.length, 0, 'nothing read before the second reader joins');
    const second = readAll(b.log, 0, { maxBatchBytes: 512 }).finally(() => b.leave());
    assert.deepEqual(await first, positions(0, 20));
    assert.deepEqual(await second, positions(0, 20));
    assert.deepEqual(log.reads, [{ from: 0, maxBatchBytes: 512 }]);
  });

  it('reads the log blocking (a rebuild\'s own thread) only when every reader asked for it', async () => {
    for (const [asked, shared] of [[[true, true], true], [[true, undefined], false], [[false, true], false]] as const) {
      const log = new CountingLog(10, 5);
      const readers = shareRead(log, 2);
      const seen = await Promise.all(readers.map((r, i) => readAll(r.log, 0, { blocking: asked[i] }).finally(() => r.leave())));
      assert.deepEqual(seen, [positions(0, 10), positions(0, 10)]);
      assert.deepEqual(log.blocking, [shared], `readers asking ${JSON.stringify(asked)}`);
    }
  });

  it('a reader that fails before reading (it leaves) holds nobody up', async () => {
    const log = new CountingLog(30, 10);
    const [failing, reading] = shareRead(log, 2);
    const read = readAll(reading.log).finally(() => reading.leave());
    await turns(3)();
    failing.leave();
    assert.deepEqual(await read, positions(0, 30));
  });

  it('a reader that stops half-way leaves; the others read on to the end', async () => {
    const log = new CountingLog(40, 10);
    const [quitter, stayer] = shareRead(log, 2);
    const quit = (async () => {
      const seen: number[] = [];
      for await (const batch of quitter.log.read(0, { follow: false })) {
        seen.push(...batch.map((r) => r.position));
        if (seen.length >= 20) break; // as a projector that failed: its loop ends
      }
      return seen;
    })();
    const stay = readAll(stayer.log, 0, {}, turns(2)).finally(() => stayer.leave());
    assert.deepEqual(await quit, positions(0, 20));
    assert.deepEqual(await stay, positions(0, 40));
    assert.equal(log.produced, 4);
  });

  it('a second read of a reader (a restart from its checkpoint) reads the log on its own from there', async () => {
    const log = new CountingLog(30, 10);
    const [restarted, other] = shareRead(log, 2);
    const restart = (async () => {
      for await (const batch of restarted.log.read(0, { follow: false })) {
        if (batch[0].position === 10) break; // failed at 10, checkpoint at 10
      }
      return readAll(restarted.log, 10);
    })().finally(() => restarted.leave());
    const rest = readAll(other.log).finally(() => other.leave());
    assert.deepEqual(await restart, positions(10, 30));
    assert.deepEqual(await rest, positions(0, 30));
    assert.deepEqual(log.reads.map((r) => r.from), [0, 10]);
  });

  it('a reader that follows the tail, or starts elsewhere, reads on its own and the others do not wait for it', async () => {
    const log = new CountingLog(20, 10);
    const [a, b, c] = shareRead(log, 3);
    const fromZero = readAll(a.log).finally(() => a.leave());
    const fromTen = readAll(b.log, 10).finally(() => b.leave());
    const following = (async () => {
      const seen: number[] = [];
      for await (const batch of c.log.read(0, { follow: true })) seen.push(...batch.map((r) => r.position));
      return seen;
    })().finally(() => c.leave());
    assert.deepEqual(await fromZero, positions(0, 20));
    assert.deepEqual(await fromTen, positions(10, 20));
    assert.deepEqual(await following, positions(0, 20));
    assert.equal(log.reads.length, 3);
  });

  it('a failed read reaches every reader with its error', async () => {
    const log = new CountingLog(30, 10);
    log.failAt = 20;
    const readers = shareRead(log, 2);
    const outcomes = await Promise.allSettled(readers.map((r) => readAll(r.log).finally(() => r.leave())));
    for (const o of outcomes) {
      assert.equal(o.status, 'rejected');
      assert.match(String((o as PromiseRejectedResult).reason), /cannot read at 20/);
    }
  });

  it('closing a reader\'s view leaves the log open for the others', async () => {
    let closed = 0;
    const log = new CountingLog(10, 10);
    log.close = async () => void closed++;
    const [a, b] = shareRead(log, 2);
    await a.log.close();
    a.leave();
    assert.deepEqual(await readAll(b.log).finally(() => b.leave()), positions(0, 10));
    assert.equal(closed, 0);
  });
});
