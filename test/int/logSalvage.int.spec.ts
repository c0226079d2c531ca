import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkLog } from '../../src/adapters/fileLog/checkLog';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { salvageLog } from '../../src/adapters/fileLog/salvageLog';
import type { LogRecord } from '../../src/core/ports';
import { fileLogRecords } from '../support/fileLogRecords';

const HEADER_BYTES = 20;

const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'opsfold-salvage-'));
  tempDirs.push(dir);
  return dir;
}

const segmentName = (base: number) => `${String(base).padStart(20, '0')}.seg`;

const readAll = (dir: string): Promise<LogRecord[]> => fileLogRecords(dir, { segmentBytes: 200 });

/** The segment file holding `record`, and the record's offset in it. */
async function locate(dir: string, record: LogRecord): Promise<{ file: string; base: number; offset: number }> {
  const bases = (await fs.readdir(dir)).filter((n) => n.endsWith('.seg')).map((n) => Number(n.slice(0, 20))).sort((a, b) => a - b);
  const base = bases.filter((b) => b <= record.position).at(-1)!;
  return { file: path.join(dir, segmentName(base)), base, offset: record.position - base };
}

async function patch(file: string, change: (bytes: Buffer) => Buffer): Promise<void> {
  await fs.writeFile(file, change(await fs.readFile(file)));
}

/** 40 records of 30-odd bytes in segments of at most 200 bytes: six segments or so. */
async function logOfForty(): Promise<{ dir: string; records: LogRecord[] }> {
  const dir = await tempDir();
  const log = await FileLog.open(dir, { segmentBytes: 200 });
  await log.append(Array.from({ length: 40 }, (_, i) => Buffer.from(`record-${String(i).padStart(2, '0')}-${'x'.repeat(i % 5)}`)));
  await log.close();
  return { dir, records: await readAll(dir) };
}

describe('opsfold log check and salvage (the file log)', () => {
  it('check lists every damaged range exactly, resynchronising after each; salvage keeps every readable record at its position', async () => {
    const { dir, records } = await logOfForty();
    const where = await Promise.all(records.map((r) => locate(dir, r)));
    const firstOf = (i: number) => i === 0 || where[i - 1].base !== where[i].base;
    const lastOf = (i: number) => i === records.length - 1 || where[i + 1].base !== where[i].base;
    // Given damage in four sealed segments:
    // a flipped payload byte in a record inside the first segment,
    const a = 1;
    await patch(where[a].file, (b) => { b[where[a].offset + HEADER_BYTES + 2] ^= 0x10; return b; });
    // a length made 40 bytes larger in a later segment's first record (its declared end falls on no record),
    const b = records.findIndex((r, i) => i > 8 && firstOf(i) && !lastOf(i + 2));
    await patch(where[b].file, (bytes) => { bytes.writeUInt32LE(bytes.readUInt32LE(where[b].offset + 8) + 40, where[b].offset + 8); return bytes; });
    // one record and the header of the next zeroed in another,
    const c = records.findIndex((r, i) => i > b + 4 && firstOf(i) && !lastOf(i + 1));
    await patch(where[c].file, (bytes) => bytes.fill(0, where[c].offset, where[c + 1].offset + 10));
    // and the last record of another sealed segment cut 5 bytes short (the segment lacks bytes before the next one's base)
    const d = records.findIndex((r, i) => i > c + 4 && lastOf(i) && i < records.length - 3);
    await fs.truncate(where[d].file, where[d].offset + (records[d].next - records[d].position) - 5);
    // (what is left of each: the bytes salvage must keep)
    const original = await Promise.all([a, b, c, d].map(async (i) => (await fs.readFile(where[i].file)).subarray(where[i].offset, i === c ? where[c + 2].offset : where[i].offset + records[i].next - records[i].position)));

    // When the log is checked
    const check = await checkLog(dir);
    // Then it lists exactly those four ranges, with the count of the readable records
    const segment = (i: number) => segmentName(where[i].base);
    const range = (i: number, end: number, reason: string) => ({
      segment: segment(i), start: where[i].offset, end: end - where[i].base, position: records[i].position, bytes: end - records[i].position, reason, kind: 'damaged',
    });
    assert.deepEqual(check.damaged, [
      range(a, records[a].next, 'bad checksum'),
      range(b, records[b].next, 'bad checksum'),
      range(c, records[c + 2].position, 'bad header'),
      range(d, records[d].next, 'short payload'),
    ]);
    assert.equal(check.records, 40 - 5);
    assert.deepEqual(check.padding, { records: 0, bytes: 0 });

    // When it is salvaged
    const report = await salvageLog(dir);
    // Then every range was moved aside, its bytes kept, and padded
    assert.deepEqual(report.steps.map((s) => [s.position, s.action]), [a, b, c, d].map((i) => [records[i].position, 'padded']));
    assert.equal(report.records, 40 - 5);
    for (const [k, step] of report.steps.entries()) {
      assert.equal(step.keptAt, path.join(dir, 'damaged', `${segment([a, b, c, d][k]).slice(0, 20)}-${step.start}.bin`));
      assert.deepEqual(await fs.readFile(step.keptAt!), original[k]);
    }
    // And every readable record is read back, at the position it had, with its payload
    const lost = new Set([a, b, c, c + 1, d]);
    const after = await readAll(dir);
    assert.deepEqual(after.map((r) => [r.position, r.next, r.payload.toString()]), records.filter((_, i) => !lost.has(i)).map((r) => [r.position, r.next, r.payload.toString()]));
    // And a check finds the log clean, the padding standing where the damage was
    const again = await checkLog(dir);
    assert.deepEqual(again.damaged, []);
    assert.equal(again.records, 40 - 5);
    assert.deepEqual(again.padding, { records: 4, bytes: check.damaged.reduce((s, r) => s + r.bytes, 0) });
    // And a second salvage has nothing to do
    assert.deepEqual((await salvageLog(dir)).steps, []);
  });

  it('salvage cuts a torn tail off the last segment, keeping its bytes aside', async () => {
    const { dir, records } = await logOfForty();
    const last = await locate(dir, records[39]);
    await fs.truncate(last.file, last.offset + 9);
    const check = await checkLog(dir);
    assert.deepEqual(check.damaged, [{ segment: segmentName(last.base), start: last.offset, end: last.offset + 9, position: records[39].position, bytes: 9, reason: 'short header', kind: 'torn' }]);
    const report = await salvageLog(dir);
    assert.deepEqual(report.steps.map((s) => [s.kind, s.action]), [['torn', 'cut']]);
    assert.equal((await fs.stat(last.file)).size, last.offset);
    assert.deepEqual((await readAll(dir)).map((r) => r.payload.toString()), records.slice(0, 39).map((r) => r.payload.toString()));
  });

  it('bytes inserted between two records, too few for a padding record, are reported and left; the records after them are still counted', async () => {
    const { dir, records } = await logOfForty();
    const at = await locate(dir, records[38]);
    await patch(at.file, (bytes) => Buffer.concat([bytes.subarray(0, at.offset), Buffer.from('7 bytes'), bytes.subarray(at.offset)]));
    const check = await checkLog(dir);
    assert.deepEqual(check.damaged.map((d) => [d.start, d.end, d.reason]), [[at.offset, at.offset + 7, 'bad header']]);
    assert.equal(check.records, 40);
    const report = await salvageLog(dir);
    assert.equal(report.steps.length, 1);
    assert.equal(report.steps[0].action, 'left');
    assert.match(report.steps[0].why!, /7 bytes cannot hold a padding record/);
    await assert.rejects(fs.access(path.join(dir, 'damaged')));
  });
});
