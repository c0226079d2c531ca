import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { parseCaptureTime, readCaptureFile, type CapturedEvent } from '../../src/adapters/capture/readCaptureFile';
import { CorruptLogError } from '../../src/core/errors';

/** Files written by Apache Avro's Python implementation (make-fixtures.py beside them), not by avsc. */
const FIXTURES = resolve(__dirname, '../../../test/fixtures/capture');

async function readAll(file: string, batchSize?: number): Promise<{ events: CapturedEvent[]; batches: number[] }> {
  const events: CapturedEvent[] = [];
  const batches: number[] = [];
  for await (const batch of readCaptureFile(createReadStream(resolve(FIXTURES, file)), file, batchSize)) {
    events.push(...batch);
    batches.push(batch.length);
  }
  return { events, batches };
}

describe('a Capture file written by an independent Avro implementation', () => {
  it('codec null: every field of every event, property values of each type, the partition key, a null body', async () => {
    const { events } = await readAll('capture-null.avro');
    assert.deepEqual(events.map((e) => [e.sequenceNumber, e.offset, new Date(e.enqueuedTimeMs).toISOString(), e.partitionKey]), [
      [10, '4294967296', '2026-02-16T14:30:05.000Z', 'tenant/A'],
      [11, '4294967400', '2026-02-16T00:00:00.000Z', undefined],
      [12, '4294967500', '2025-12-31T12:59:59.000Z', 'tenant/B'],
    ]);
    assert.deepEqual(events[0].properties, { count: 7, ratio: 0.5, team: 'EUC', raw: Buffer.from([0, 1]) });
    assert.equal(events[0].body.toString(), '{"n":10}');
    assert.equal(events[1].body.length, 0, 'a null body reads as no bytes');
    assert.deepEqual(events[2].body, Buffer.from('\xff\xfe binary', 'latin1'));
  });

  it('codec deflate, several blocks, in batches of at most the size asked; Properties that may be null', async () => {
    const { events, batches } = await readAll('capture-deflate.avro', 500);
    assert.deepEqual(batches, [500, 500, 200]);
    assert.deepEqual(events.map((e) => e.sequenceNumber), Array.from({ length: 1200 }, (_, i) => 1000 + i));
    assert.deepEqual(events.map((e) => JSON.parse(e.body.toString()).i), Array.from({ length: 1200 }, (_, i) => i));
    assert.equal(events[61].partitionKey, 'k1');
    assert.equal(new Date(events[61].enqueuedTimeMs).toISOString(), '2026-01-05T09:01:01.000Z');
    // Python's Avro writes a whole number into the union's last branch that takes it: double.
    assert.deepEqual(events[0].properties, { big: 2 ** 60, none: null });
  });

  it('an empty file (nothing arrived in the window) yields nothing', async () => {
    const { events, batches } = await readAll('capture-empty.avro');
    assert.deepEqual([events.length, batches.length], [0, 0]);
  });

  it('bytes that are not an Avro file are refused naming the file', async () => {
    const source = Readable.from([Buffer.from('{"not":"avro"}')]);
    await assert.rejects(async () => {
      for await (const _ of readCaptureFile(source, 'ns/hub/0/2026/01/01/00/00/00.avro')) { /* nothing */ }
    }, (e: unknown) => e instanceof CorruptLogError && e.message.includes('ns/hub/0/2026/01/01/00/00/00.avro'));
  });
});

describe("Capture's EnqueuedTimeUtc", () => {
  it('is read in .NET invariant form (UTC, 12-hour clock) and in ISO 8601', () => {
    assert.equal(parseCaptureTime('12/2/2021 2:58:24 PM'), Date.UTC(2021, 11, 2, 14, 58, 24));
    assert.equal(parseCaptureTime('1/1/2022 12:00:01 AM'), Date.UTC(2022, 0, 1, 0, 0, 1));
    assert.equal(parseCaptureTime('1/1/2022 12:00:01 PM'), Date.UTC(2022, 0, 1, 12, 0, 1));
    assert.equal(parseCaptureTime('2018-06-11T00:00:08.2250000Z'), Date.UTC(2018, 5, 11, 0, 0, 8, 225));
    assert.equal(parseCaptureTime('yesterday'), undefined);
  });
});
