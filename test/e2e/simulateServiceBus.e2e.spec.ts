import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startAmqpEmulator } from '../support/amqp/startAmqpEmulator';
import { closeLater } from '../support/closeLater';

const BIN = resolve(__dirname, '../../../bin/opsfold.js');
const run = promisify(execFile);

describe('opsfold simulate --to servicebus', () => {
  it('sends the synthetic SPOC messages to the queue, one per tenant and minute, each with its messageId', async (t) => {
    const later = closeLater(t);
    const emu = later(await startAmqpEmulator({ queues: [{ name: 'spoc-metrics' }] }));
    const dir = await mkdtemp(join(tmpdir(), 'opsfold-simsb-'));
    later({ close: () => rm(dir, { recursive: true, force: true }) });
    const { stdout } = await run(process.execPath, [BIN, 'simulate', '--to', 'servicebus', '--tenants', '3', '--vms', '2', '--keys', '4', '--minutes', '5', '--late', '0', '--data-dir', dir], {
      env: { ...process.env, SERVICEBUS_CONNECTION_STRING: emu.connectionString() },
    });
    assert.deepEqual(JSON.parse(stdout), { messages: 15, metrics: 3 * 2 * 4 * 5, simulated: true, queue: 'spoc-metrics' });
    const queued = emu.queue('spoc-metrics').active();
    assert.equal(queued.length, 15);
    assert.equal(new Set(queued.map((m) => m.messageId)).size, 15);
    // The emulator shows a data body that is JSON as the parsed value.
    const message = queued[0].body as { metrics?: unknown[] };
    assert.equal(message.metrics!.length, 2 * 4);

    // Without a Service Bus setting, the command says which setting is missing.
    const missing = await run(process.execPath, [BIN, 'simulate', '--to', 'servicebus', '--data-dir', dir]).catch((e: { code: number; stderr: string }) => e);
    assert.equal((missing as { code: number }).code, 1);
    assert.match((missing as { stderr: string }).stderr, /SERVICEBUS_CONNECTION_STRING/);
  });
});
