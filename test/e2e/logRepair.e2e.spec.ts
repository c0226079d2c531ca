import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogRecord } from '../../src/core/ports';
import { eventually } from '../support/eventually';
import { fileLogRecords } from '../support/fileLogRecords';
import { runOpsfold } from '../support/runOpsfold';
import { killServiceProcesses, startServiceProcess, stopServiceProcess } from '../support/serviceProcess';

const KEY = 'win_cpu.percent';
const T0 = 1_700_000_000 - (1_700_000_000 % 60);
const SEGMENT = '00000000000000000000.seg';
const HEADER_BYTES = 20;
const ENV = { OPSFOLD_FLUSH_INTERVAL_MS: '200', WINDOW_IDLE_CLOSE_SECONDS: '1' };

/** Runs `opsfold ARGS --data-dir DIR` to its end. */
const opsfold = (dataDir: string, ...args: string[]) => runOpsfold([...args, '--data-dir', dataDir], { ...process.env, ...ENV });

/** Message i: minute T0 + 60·i, two VMs of one tenant (so one log record), values 10·i + 1 and 10·i + 4. */
function message(i: number): { metrics: Record<string, unknown>[] } {
  return {
    metrics: [1, 4].map((v, vm) => ({
      timestamp: T0 + i * 60 + 7, MaskedTenantId: 'tenant/+1==', MaskedVMName: `vm#${vm}`, PerfType: 'win_cpu', PerfName: 'percent', PerfValue: 10 * i + v,
    })),
  };
}

/** What `get-data` must answer for the minutes of `kept` messages, worked out here from the values sent. */
function windowsOf(kept: readonly number[]): { timestamp: number; value: number; count: number }[] {
  return kept.map((i) => ({ timestamp: T0 + i * 60, value: (10 * i + 1 + 10 * i + 4) / 2, count: 2 }));
}

async function getData(base: string, minutes: number): Promise<{ timestamp: number; value: number; count: number }[]> {
  const res = await fetch(`${base}/v1/get-data?key=${encodeURIComponent(KEY)}&minutes=${minutes}&to=${T0 + (minutes - 1) * 60}`);
  const body = (await res.json()) as { data: { timestamp: number; value: number; count: number }[] };
  return body.data.map(({ timestamp, value, count }) => ({ timestamp, value, count }));
}

async function ingest(dir: string, data: string, from: number, to: number): Promise<void> {
  const file = join(dir, `in-${from}.ndjson`);
  await writeFile(file, Array.from({ length: to - from }, (_, k) => JSON.stringify(message(from + k))).join('\n'));
  const run = await opsfold(data, 'ingest', file);
  assert.equal(run.code, 0, run.stderr);
}

const records = (data: string): Promise<LogRecord[]> => fileLogRecords(join(data, 'log'));

/** Flips one payload byte of `record` in the (only) segment; returns the record's bytes as damaged. */
async function flipByteOf(data: string, record: LogRecord): Promise<Buffer> {
  const file = join(data, 'log', SEGMENT);
  const bytes = await readFile(file);
  bytes[record.position + HEADER_BYTES + 5] ^= 0x04;
  await writeFile(file, bytes);
  return Buffer.from(bytes.subarray(record.position, record.next));
}

describe('the file log says what it repaired (opsfold start, log check, log salvage)', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'opsfold-logrepair-')); });
  after(async () => {
    await killServiceProcesses();
    await rm(dir, { recursive: true, force: true });
  });

  it('a flipped byte in the last acknowledged record: start says DATA LOSS on stderr, keeps the bytes aside, and /healthz and /metrics show it; a torn tail is cut and said to be torn', async () => {
    // Given three messages ingested, and a byte of the last record (fsynced, acknowledged) flipped
    const data = join(dir, 'tail');
    await ingest(dir, data, 0, 3);
    const written = await records(data);
    assert.equal(written.length, 3);
    const damaged = await flipByteOf(data, written[2]);
    // When the service starts
    const service = await startServiceProcess(data);
    // Then it says so on stderr, loudly, with where the bytes went
    const keptAt = join(data, 'log', 'damaged', `${SEGMENT.slice(0, 20)}-${written[2].position}.bin`);
    const bytes = written[2].next - written[2].position;
    assert.ok(service.stderr().includes(`log: DATA LOSS: ${bytes} bytes at offset ${written[2].position} of the log segment ${SEGMENT}`), service.stderr());
    assert.ok(service.stderr().includes(`kept in ${keptAt}`), service.stderr());
    // And the bytes are kept next to the log
    assert.deepEqual(await readFile(keptAt), damaged);
    // And /healthz lists the repair
    const health = (await (await fetch(`${service.base}/healthz`)).json()) as { log: unknown };
    assert.deepEqual(health.log, {
      kind: 'file',
      repairs: [{ segment: SEGMENT, offset: written[2].position, position: written[2].position, bytesCut: bytes, reason: 'bad checksum', kind: 'damaged', action: 'padded', keptAt }],
    });
    // And /metrics counts it
    const metrics = await (await fetch(`${service.base}/metrics`)).text();
    assert.match(metrics, /^# TYPE opsfold_log_repairs_total counter$/m);
    assert.match(metrics, /^opsfold_log_repairs_total\{kind="damaged"\} 1$/m);
    assert.match(metrics, /^opsfold_log_repairs_total\{kind="torn"\} 0$/m);
    // And the two readable messages are folded, exactly
    assert.deepEqual(await eventually('two windows', async () => {
      const got = await getData(service.base, 3);
      return got.length === 2 && got;
    }), windowsOf([0, 1]));
    await stopServiceProcess(service);

    // Given an append that never completed: the first 30 bytes of a record after the last one
    const segment = join(data, 'log', SEGMENT);
    const size = (await stat(segment)).size;
    await appendFile(segment, (await readFile(segment)).subarray(0, 30));
    // When the log is checked, then the torn tail is listed as torn
    const check = await opsfold(data, 'log', 'check');
    assert.equal(check.code, 1, check.stderr);
    assert.deepEqual((JSON.parse(check.stdout) as { damaged: unknown }).damaged, [
      { segment: SEGMENT, start: size, end: size + 30, position: size, bytes: 30, reason: 'short payload', kind: 'torn' },
    ]);
    // When the next command opens the log, then it cuts the tail and says it was torn
    const next = await opsfold(data, 'ingest', join(dir, 'in-0.ndjson'));
    assert.equal(next.code, 0, next.stderr);
    assert.ok(next.stderr.includes(`log: cut a torn tail of 30 bytes (short payload) at offset ${size} of the log segment ${SEGMENT}`), next.stderr);
    const clean = await opsfold(data, 'log', 'check');
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal((JSON.parse(clean.stdout) as { records: number }).records, 2 + 3);
  });

  it('a damaged record in the middle: check lists it, start and replay name check and salvage, salvage keeps every other record at its position, then start and replay fold them exactly', async () => {
    // Given eight messages ingested (one record each), and a byte of the fourth flipped
    const data = join(dir, 'middle');
    await ingest(dir, data, 0, 8);
    const written = await records(data);
    assert.equal(written.length, 8);
    const damaged = await flipByteOf(data, written[3]);
    const kept = [0, 1, 2, 4, 5, 6, 7];

    // When the log is checked, then exactly that record's range is listed, and exit 1
    const check = await opsfold(data, 'log', 'check');
    assert.equal(check.code, 1, check.stderr);
    const found = JSON.parse(check.stdout) as { records: number; damaged: unknown[] };
    assert.deepEqual(found.damaged, [{
      segment: SEGMENT, start: written[3].position, end: written[3].next, position: written[3].position, bytes: written[3].next - written[3].position, reason: 'bad checksum', kind: 'damaged',
    }]);
    assert.equal(found.records, 7);

    // When replay and start meet the damage, then they stop and name the way out
    for (const args of [['replay', '--projection', 'all'], ['start', '--port', '0', '--no-simulate']]) {
      const refused = await opsfold(data, ...args);
      assert.equal(refused.code, 1, `${args[0]}: ${refused.stderr}`);
      assert.match(refused.stderr, new RegExp(`corrupt log at position ${written[3].position}\\b`));
      assert.ok(refused.stderr.includes('`opsfold log check`') && refused.stderr.includes('`opsfold log salvage`'), refused.stderr);
    }

    // When it is salvaged
    const salvage = await opsfold(data, 'log', 'salvage');
    assert.equal(salvage.code, 0, salvage.stderr);
    const keptAt = join(data, 'log', 'damaged', `${SEGMENT.slice(0, 20)}-${written[3].position}.bin`);
    const report = JSON.parse(salvage.stdout) as { records: number; steps: { position: number; action: string; keptAt: string }[] };
    assert.equal(report.records, 7);
    assert.deepEqual(report.steps.map((s) => [s.position, s.action, s.keptAt]), [[written[3].position, 'padded', keptAt]]);
    assert.match(salvage.stderr, /kept all 7 readable records, each at its position/);
    // Then the damaged bytes are kept aside, and every other record is there, at its position, with its payload
    assert.deepEqual(await readFile(keptAt), damaged);
    const after = await records(data);
    assert.deepEqual(after.map((r) => [r.position, r.payload]), kept.map((i) => [written[i].position, written[i].payload]));
    assert.equal((await opsfold(data, 'log', 'check')).code, 0);

    // And the service starts and folds the readable records exactly
    const first = await startServiceProcess(data);
    assert.deepEqual(await eventually('seven windows', async () => {
      const got = await getData(first.base, 8);
      return got.length === 7 && got;
    }), windowsOf(kept));
    await stopServiceProcess(first);
    // And a replay rebuilds the same windows
    const replay = await opsfold(data, 'replay', '--projection', 'all');
    assert.equal(replay.code, 0, replay.stderr);
    const second = await startServiceProcess(data);
    assert.deepEqual(await getData(second.base, 8), windowsOf(kept));
    await stopServiceProcess(second);
  });

  it('salvage refuses while a service runs on the data dir, and changes nothing', async () => {
    const data = join(dir, 'running');
    const service = await startServiceProcess(data);
    const post = await fetch(`${service.base}/v1/spoc`, { method: 'POST', body: JSON.stringify(message(0)), headers: { 'content-type': 'application/json' } });
    assert.equal(post.status, 202);
    const before = await readFile(join(data, 'log', SEGMENT));
    const salvage = await opsfold(data, 'log', 'salvage');
    assert.equal(salvage.code, 1);
    assert.match(salvage.stderr, new RegExp(`a service \\(pid ${service.child.pid}\\) runs on the data dir`));
    assert.deepEqual(await readFile(join(data, 'log', SEGMENT)), before);
    await assert.rejects(stat(join(data, 'log', 'damaged')));
    await stopServiceProcess(service);
  });
});
