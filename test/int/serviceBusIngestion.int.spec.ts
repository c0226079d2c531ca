import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceBusClient, type ServiceBusMessage } from '@azure/service-bus';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { startServiceBusIngestion, type RunningServiceBusIngestion } from '../../src/adapters/serviceBus/startServiceBusIngestion';
import { ConfigError, StorageError } from '../../src/core/errors';
import type { MetricsReceived } from '../../src/core/events';
import { Ingestor } from '../../src/core/Ingestor';
import { decodeEvent } from '../../src/core/logCodec';
import type { AppendResult, EventLog } from '../../src/core/ports';
import { startAmqpEmulator, type AmqpEmulator } from '../support/amqp/startAmqpEmulator';
import { closeLater } from '../support/closeLater';
import { eventually } from '../support/eventually';
import { spocMetric, TENANT_A, VM_1 } from '../support/metricBuilders';

const QUEUE = 'spoc-metrics';
const retryOptions = { maxRetries: 2, retryDelayInMs: 50, timeoutInMs: 5000 };

const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

/** A log whose appends go through `before` first: to fail or slow down some of them. */
class InterposedLog implements EventLog {
  appendCalls = 0;
  constructor(private readonly inner: EventLog, private readonly before: (call: number) => Promise<void>) {}
  async append(payloads: readonly Buffer[]): Promise<AppendResult> {
    await this.before(++this.appendCalls);
    return this.inner.append(payloads);
  }
  read(from: number, options?: Parameters<EventLog['read']>[1]) {
    return this.inner.read(from, options);
  }
  end(): Promise<number> {
    return this.inner.end();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Setup {
  emu: AmqpEmulator;
  fileLog: FileLog;
  ingestion: RunningServiceBusIngestion;
  send(message: ServiceBusMessage | ServiceBusMessage[]): Promise<void>;
  errors: string[];
}

async function setup(t: TestContext, options: { lockDurationMs?: number; interpose?: (call: number) => Promise<void> } = {}): Promise<Setup> {
  const later = closeLater(t);
  // 1 MB messages, as on a Premium namespace: so that a body above the SPOC limit can arrive
  const emu = later(await startAmqpEmulator({ queues: [{ name: QUEUE, lockDurationMs: options.lockDurationMs, maxMessageBytes: 1024 * 1024 }] }));
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'opsfold-sb-'));
  tempDirs.push(dir);
  const fileLog = later(await FileLog.open(dir));
  const log = options.interpose ? new InterposedLog(fileLog, options.interpose) : fileLog;
  const errors: string[] = [];
  const settings = { serviceBusConnectionString: emu.connectionString(), serviceBusQueue: QUEUE, serviceBusConcurrency: 2, maxFutureSeconds: 300 };
  const ingestion = await startServiceBusIngestion(settings, new Ingestor(log), {
    clientOptions: { retryOptions },
    ingestion: { retryBackoffMs: 20, onError: (_error, what) => errors.push(what) },
  });
  later({ close: () => ingestion.stop() });
  const client = later(new ServiceBusClient(emu.connectionString(), { retryOptions }));
  const sender = later(client.createSender(QUEUE));
  return { emu, fileLog, ingestion, send: (message) => sender.sendMessages(message), errors };
}

async function records(log: FileLog): Promise<MetricsReceived[]> {
  const out: MetricsReceived[] = [];
  for await (const batch of log.read(0)) {
    for (const record of batch) {
      const event = decodeEvent(record.payload);
      if (event.type === 'MetricsReceived') out.push(event);
    }
  }
  return out;
}

describe('Service Bus ingestion (real @azure/service-bus client, AMQP emulator, real file log)', () => {
  it('appends the metrics of a valid message with its messageId as key, then completes it', async (t) => {
    // Given a running ingestion
    const { emu, fileLog, ingestion, send } = await setup(t);

    // When a SPOC message arrives
    await send({ messageId: 'spoc-1', body: { metrics: [spocMetric(), spocMetric({ PerfValue: 2.5, PerfName: 'Disk' })] } });
    await eventually('the message to be completed', () => emu.queue(QUEUE).completed().length === 1);

    // Then one record holds both metrics, from Service Bus, keyed by the messageId
    const [record, ...more] = await records(fileLog);
    assert.deepEqual(more, []);
    assert.equal(record.source, 'servicebus');
    assert.equal(record.idempotencyKey, 'spoc-1');
    assert.deepEqual(record.metrics.map((m) => [m.tenant, m.vm, m.key, m.value]), [
      [TENANT_A, VM_1, 'win_service.WinDefend', 1],
      [TENANT_A, VM_1, 'win_service.Disk', 2.5],
    ]);
    assert.deepEqual(record.rejected, []);
    // And nothing is left on the queue
    assert.deepEqual(emu.queue(QUEUE).active(), []);
    assert.deepEqual(emu.queue(QUEUE).deadLettered(), []);
    assert.equal(ingestion.stats.completed, 1);
    assert.equal(ingestion.stats.metricsAccepted, 2);
  });

  it('dead-letters what is not a SPOC message (not JSON, no metrics array, too large) with a reason and a description, appending nothing', async (t) => {
    const { emu, fileLog, ingestion, send } = await setup(t);
    const tooLarge = { metrics: [spocMetric({ SiteName: 'x'.repeat(300 * 1024) })] };
    await send([
      { messageId: 'not-json', body: Buffer.from('{"metrics": [ {"timestamp": 1') },
      { messageId: 'no-metrics', body: { measurements: [spocMetric()] } },
    ]);
    await send({ messageId: 'too-large', body: tooLarge });
    await eventually('three dead letters', () => emu.queue(QUEUE).deadLettered().length === 3);

    const dead = new Map(emu.queue(QUEUE).deadLettered().map((m) => [m.messageId, m]));
    assert.equal(dead.get('not-json')?.deadLetterReason, 'InvalidJson');
    assert.match(dead.get('not-json')?.deadLetterErrorDescription ?? '', /not valid JSON/);
    assert.equal(dead.get('no-metrics')?.deadLetterReason, 'NotASpocMessage');
    assert.match(dead.get('no-metrics')?.deadLetterErrorDescription ?? '', /"metrics" array/);
    assert.equal(dead.get('too-large')?.deadLetterReason, 'MessageTooLarge');
    assert.match(dead.get('too-large')?.deadLetterErrorDescription ?? '', /above the 262144/);
    assert.deepEqual(await records(fileLog), []);
    assert.deepEqual(emu.queue(QUEUE).active(), []);
    assert.equal(ingestion.stats.deadLettered, 3);
  });

  it('appends the valid metrics of a partly invalid message and keeps the rejects, with their reasons, in the same record', async (t) => {
    const { emu, fileLog, send } = await setup(t);
    await send({ messageId: 'partly', body: { metrics: [spocMetric({ PerfValue: '12' }), spocMetric({ PerfValue: 7 }), spocMetric({ MaskedVMName: '' })] } });
    await eventually('the message to be completed', () => emu.queue(QUEUE).completed().length === 1);

    const [record] = await records(fileLog);
    assert.deepEqual(record.metrics.map((m) => m.value), [7]);
    assert.deepEqual(record.rejected.map(({ index, reason }) => ({ index, reason })), [
      { index: 0, reason: 'PerfValue must be a number, got the string "12"' },
      { index: 2, reason: 'MaskedVMName must not be empty' },
    ]);
    assert.deepEqual(emu.queue(QUEUE).deadLettered(), []);
  });

  it('accepts a body the JS SDK sent as JSON.stringify(message)', async (t) => {
    const { emu, fileLog, send } = await setup(t);
    await send({ messageId: 'stringified', body: JSON.stringify({ metrics: [spocMetric({ PerfValue: 3 })] }) });
    await eventually('the message to be completed', () => emu.queue(QUEUE).completed().length === 1);
    assert.deepEqual((await records(fileLog)).map((r) => r.metrics.map((m) => m.value)), [[3]]);
  });

  it('appends a message sent twice with the same messageId once, and completes both', async (t) => {
    const { emu, fileLog, ingestion, send } = await setup(t);
    const message = { messageId: 'twice', body: { metrics: [spocMetric()] } };
    await send(message);
    await eventually('the first to be completed', () => emu.queue(QUEUE).completed().length === 1);
    await send(message);
    await eventually('the second to be completed', () => emu.queue(QUEUE).completed().length === 2);

    assert.equal((await records(fileLog)).length, 1);
    assert.equal(ingestion.stats.duplicates, 1);
  });

  it('abandons a message whose append failed, and appends it once when it comes back', async (t) => {
    // Given a log whose first append fails with a retriable storage error
    const { emu, fileLog, ingestion, send, errors } = await setup(t, {
      interpose: async (call) => {
        if (call === 1) throw new StorageError('the disk is busy', { retriable: true });
      },
    });

    // When a message arrives
    await send({ messageId: 'flaky', body: { metrics: [spocMetric()] } });
    await eventually('the message to be completed', () => emu.queue(QUEUE).completed().length === 1);

    // Then it was abandoned once, delivered again, and appended once
    assert.equal(emu.queue(QUEUE).completed()[0].deliveryCount, 1);
    assert.equal(ingestion.stats.abandoned, 1);
    assert.equal(ingestion.stats.appendFailures, 1);
    assert.deepEqual((await records(fileLog)).map((r) => r.idempotencyKey), ['flaky']);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /appending message flaky .* failed; abandoning it/);
  });

  it('renews the lock while an append takes longer than the lock, so the message is not delivered twice', async (t) => {
    // Given locks of 2 s (the SDK renews them halfway) and a log that takes 4.5 s for its first append
    const { emu, fileLog, ingestion, send } = await setup(t, {
      lockDurationMs: 2000,
      interpose: async (call) => {
        if (call === 1) await delay(4500);
      },
    });

    // When a message arrives
    await send({ messageId: 'slow', body: { metrics: [spocMetric()] } });
    await eventually('the message to be completed', () => emu.queue(QUEUE).completed().length === 1);

    // Then it was delivered once and appended once
    assert.equal(emu.queue(QUEUE).completed()[0].deliveryCount, 0);
    assert.equal(ingestion.stats.received, 1);
    assert.equal((await records(fileLog)).length, 1);
  });

  it('keeps ingesting after every connection drops', async (t) => {
    const { emu, fileLog, send } = await setup(t);
    await send({ messageId: 'before', body: { metrics: [spocMetric()] } });
    await eventually('the first to be completed', () => emu.queue(QUEUE).completed().length === 1);
    await emu.disconnectAll();
    await send({ messageId: 'after', body: { metrics: [spocMetric()] } });
    await eventually('the second to be completed', () => emu.queue(QUEUE).completed().length === 2, 30_000);
    assert.deepEqual((await records(fileLog)).map((r) => r.idempotencyKey), ['before', 'after']);
  });

  it('stops start-up with a ConfigError naming SERVICEBUS_QUEUE when the queue does not exist', async (t) => {
    const later = closeLater(t);
    const emu = later(await startAmqpEmulator({ queues: [{ name: QUEUE }] }));
    const settings = { serviceBusConnectionString: emu.connectionString(), serviceBusQueue: 'spoc-metric', serviceBusConcurrency: 1, maxFutureSeconds: 300 };
    await assert.rejects(
      startServiceBusIngestion(settings, { ingest: async () => assert.fail('nothing to ingest') }, { clientOptions: { retryOptions } }),
      (error: ConfigError) => error instanceof ConfigError && error.setting === 'SERVICEBUS_QUEUE' && /no queue "spoc-metric"/.test(error.message),
    );
  });

  it('stops start-up with a ConfigError naming SERVICEBUS_CONNECTION_STRING when its host does not exist', async () => {
    const settings = {
      serviceBusConnectionString: 'Endpoint=sb://opsfold-no-such-namespace.invalid/;SharedAccessKeyName=k;SharedAccessKey=x',
      serviceBusQueue: QUEUE,
      serviceBusConcurrency: 1,
      maxFutureSeconds: 300,
    };
    await assert.rejects(
      startServiceBusIngestion(settings, { ingest: async () => assert.fail('nothing to ingest') }, { clientOptions: { retryOptions } }),
      (error: ConfigError) => error instanceof ConfigError && error.setting === 'SERVICEBUS_CONNECTION_STRING' && /does not exist/.test(error.message) && !error.message.includes('SharedAccessKey=x'),
    );
  });
});
