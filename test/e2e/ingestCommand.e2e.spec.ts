import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BIN } from '../support/serviceProcess';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { decodeEvent } from '../../src/core/logCodec';

const run = promisify(execFile);
const T0 = 1_700_000_000 - (1_700_000_000 % 60);

/** A SPOC message of `n` metrics of tenant `tenant`, one a second from T0. */
function message(tenant: string, n: number): { metrics: Record<string, unknown>[] } {
  return {
    metrics: Array.from({ length: n }, (_, i) => ({
      timestamp: T0 + i, MaskedTenantId: tenant, MaskedVMName: 'Shared/vm+1==', PerfType: 'win_cpu', PerfName: 'percent', PerfValue: i % 100,
    })),
  };
}

/** `opsfold replay --projection windows`: how many metrics the log holds, as the fold counts them. */
async function metricsInLog(dataDir: string): Promise<number> {
  const { stdout } = await run(process.execPath, [BIN, 'replay', '--projection', 'windows', '--data-dir', dataDir]);
  return (JSON.parse(stdout.trim().split('\n').pop()!) as { metrics: number }).metrics;
}

function ingest(dataDir: string, file: string, stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'ingest', file, '--data-dir', dataDir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(stdin ?? '');
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('opsfold ingest streams its input', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsfold-ingest-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('NDJSON with CRLF endings, blank lines, a 3 MB line and a bad line: the bad line is named by its line number, every other metric is in the log', async () => {
    // Given a file whose line 5 is no JSON, with blank lines, Windows line endings, and a line longer than the reader's 1 MB chunks
    const long = message('T-long/+=', 40_000);
    const lines = [JSON.stringify(message('T1', 3)), '', JSON.stringify(long), '', '{"metrics": [', JSON.stringify(message('T2', 2))];
    assert.ok(lines[2].length > 3_000_000);
    const file = join(dir, 'crlf.ndjson');
    await writeFile(file, `${lines.join('\r\n')}\r\n`);
    const data = join(dir, 'crlf');

    // When it is ingested
    const result = await ingest(data, file);

    // Then the totals say so, line 5 is named, and exit 1
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { messages: 4, accepted: 3 + 40_000 + 2, rejected: 0, invalidMessages: 1 });
    assert.match(result.stderr, /^line 5: the message is not valid JSON/m);
    // And every accepted metric is in the log once the command has returned
    assert.equal(await metricsInLog(data), 3 + 40_000 + 2);
  });

  it('a pretty-printed message is one message; NDJSON on stdin with `-` is read to its end', async () => {
    const pretty = join(dir, 'pretty.json');
    await writeFile(pretty, JSON.stringify(message('T3', 5), null, 2));
    const data = join(dir, 'pretty');
    const one = await ingest(data, pretty);
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual(JSON.parse(one.stdout), { messages: 1, accepted: 5, rejected: 0, invalidMessages: 0 });

    const piped = await ingest(data, '-', `${JSON.stringify(message('T4', 7))}\n${JSON.stringify(message('T5', 11))}`);
    assert.equal(piped.code, 0, piped.stderr);
    assert.deepEqual(JSON.parse(piped.stdout), { messages: 2, accepted: 18, rejected: 0, invalidMessages: 0 });
    assert.equal(await metricsInLog(data), 5 + 18);
  });

  it('4,000 messages appended while the file is read: all of them are in the log, in the order of the file', async () => {
    const file = join(dir, 'many.ndjson');
    await writeFile(file, Array.from({ length: 4000 }, (_, i) => JSON.stringify(message(`T${i}`, 1 + (i % 3)))).join('\n'));
    const data = join(dir, 'many');
    const result = await ingest(data, file);
    assert.equal(result.code, 0, result.stderr);
    const accepted = Array.from({ length: 4000 }, (_, i) => 1 + (i % 3)).reduce((a, b) => a + b, 0);
    assert.deepEqual(JSON.parse(result.stdout), { messages: 4000, accepted, rejected: 0, invalidMessages: 0 });
    assert.equal(await metricsInLog(data), accepted);
    // And one record per message (one tenant each), in the file's order
    const log = await FileLog.open(join(data, 'log'));
    const tenants: string[] = [];
    for await (const batch of log.read(0)) {
      for (const record of batch) {
        const event = decodeEvent(record.payload);
        if (event.type === 'MetricsReceived') tenants.push(event.metrics[0].tenant);
      }
    }
    await log.close();
    assert.deepEqual(tenants, Array.from({ length: 4000 }, (_, i) => `T${i}`));
  });
});
