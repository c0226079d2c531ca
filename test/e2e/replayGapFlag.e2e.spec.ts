import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EventHubProducerClient } from '@azure/event-hubs';
import { BlobServiceClient } from '@azure/storage-blob';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { CaptureWriter } from '../support/amqp/captureWriter';
import { startAmqpEmulator } from '../support/amqp/startAmqpEmulator';
import { closeLater } from '../support/closeLater';

const BIN = resolve(__dirname, '../../../bin/opsfold.js');
const HUB = 'opsfold-events';

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((done) => child.once('exit', (code) => done({ code, stdout, stderr })));
}

describe('opsfold replay --allow-gap on Event Hubs with Capture', () => {
  it('without the flag a true gap stops the replay naming it (exit 1); with it the replay runs and its summary records the gap', async (t) => {
    const later = closeLater(t);
    const emu = later(await startAmqpEmulator({ eventHubs: [{ name: HUB, partitions: 1 }] }));
    const azurite = await EmbeddedAzurite.start({ blob: true });
    later({ close: () => azurite.stop() });
    const dir = await mkdtemp(join(tmpdir(), 'opsfold-gap-'));
    later({ close: () => rm(dir, { recursive: true, force: true }) });
    const container = BlobServiceClient.fromConnectionString(azurite.blobConnectionString!).getContainerClient('capture');
    await container.create();
    const producer = later(new EventHubProducerClient(emu.connectionString(), HUB));
    const batch = await producer.createBatch({ partitionId: '0' });
    for (let n = 0; n < 12; n++) batch.tryAdd({ body: Buffer.from(`not a record ${n}`) });
    await producer.sendBatch(batch);
    await new CaptureWriter({ hub: emu.hub(HUB), container, namespace: '127.0.0.1' }).capture({ upTo: 4 });
    emu.hub(HUB).expireBefore('0', 8); // 5..7: neither captured nor retained

    const env = {
      EVENTHUBS_CONNECTION_STRING: emu.connectionString(), EVENTHUB_NAME: HUB, TABLES_CONNECTION_STRING: azurite.tableConnectionString,
      CAPTURE_STORAGE_CONNECTION_STRING: azurite.blobConnectionString!, CAPTURE_CONTAINER: 'capture', OPSFOLD_DATA_DIR: join(dir, 'data'),
    };
    const refused = await run(['replay', '--projection', 'rejects', '--heap-mb', '0'], env);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /opsfold: the log's history has a gap that neither Event Hubs Capture nor the hub holds: partition 0: sequence numbers 5\.\.7 \(3 events\)/);
    assert.equal(refused.stdout, '', 'no summary: nothing was activated');

    const allowed = await run(['replay', '--projection', 'rejects', '--heap-mb', '0', '--allow-gap'], env);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stderr, /went past a gap in the history \(--allow-gap\): partition 0: sequence numbers 5\.\.7 \(3 events\)/);
    const summary = JSON.parse(allowed.stdout.trim().split('\n').pop()!) as { projection: string; gaps: unknown; fromCapture: number };
    assert.deepEqual([summary.projection, summary.gaps, summary.fromCapture], ['rejects', [{ partitionId: '0', from: 5, to: 7 }], 5]);

    // opsfold config says what each partition's history is kept in.
    const config = await run(['config'], env);
    assert.equal(config.code, 0, config.stderr);
    assert.match(config.stdout, /^CAPTURE_STORAGE_CONNECTION_STRING +\*\*\*\* +\(environment\)$/m);
    assert.match(config.stdout, /^CAPTURE_NAME_FORMAT +\{Namespace\}\/\{EventHub\}\/\{PartitionId\}\/\{Year\}\/\{Month\}\/\{Day\}\/\{Hour\}\/\{Minute\}\/\{Second\} +\(default\)$/m);
    const stored = emu.hub(HUB).events('0');
    assert.ok(config.stdout.includes(`partition 0: the hub retains 8..11 (from ${stored[0].enqueuedTime.toISOString()} to ${stored[3].enqueuedTime.toISOString()}); Event Hubs Capture holds 0..4 (from `), config.stdout);
    assert.match(config.stdout, /Event Hubs Capture holds 0\.\.4 \(from \S+ to \S+, 1 file\)$/m);
  });
});
