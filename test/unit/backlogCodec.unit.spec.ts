import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEvent, decodeRejections, encodeEvent } from '../../src/core/logCodec';
import { decodeBacklog } from '../../src/core/backlogCodec';
import { CorruptLogError } from '../../src/core/errors';
import type { BacklogSampled, MetricsReceived } from '../../src/core/events';
import { Ingestor } from '../../src/core/Ingestor';
import { ProjectionVersions } from '../../streams/projectionVersions';
import { rejectsProjection } from '../../projections/rejectsProjection';
import { Projector } from '../../streams/Projector';
import { windowsProjection } from '../../projections/windowsProjection';
import { MemoryEventLog } from '../support/memoryEventLog';
import { MemoryTableStore } from '../support/memoryTableStore';
import { metric } from '../support/metricBuilders';

const polled: BacklogSampled = {
  type: 'BacklogSampled',
  source: 'servicenow',
  recordedAtMs: 1_700_000_000_123,
  origin: 'https://acme.service-now.com',
  samples: [
    { team: 'EUC', sampledAtMs: 1_700_000_000_001, count: 42, query: 'active=true^assignment_group.name=EUC' },
    { team: 'Support/2ª línea #1', sampledAtMs: 1_700_000_000_050, count: 0, query: 'active=true^assignment_group.name=Support' },
  ],
};

describe('log records of backlog samples (type 2)', () => {
  it('round-trip, with and without queries and origin', () => {
    const imported: BacklogSampled = {
      type: 'BacklogSampled', source: 'csv', recordedAtMs: 5,
      samples: [{ team: 'EUC', sampledAtMs: -1000, count: 1 }, { team: 'EUC', sampledAtMs: 2, count: 123456789 }],
    };
    assert.deepStrictEqual(decodeEvent(encodeEvent(polled)), polled);
    assert.deepStrictEqual(decodeEvent(encodeEvent(imported)), imported);
    assert.equal(encodeEvent(imported)[0], 2);
  });

  it('store a team name once per record however many samples it has', () => {
    const many: BacklogSampled = { type: 'BacklogSampled', source: 'csv', recordedAtMs: 0, samples: Array.from({ length: 1000 }, (_, i) => ({ team: 'A rather long team name', sampledAtMs: i * 86_400_000, count: i })) };
    const bytes = encodeEvent(many);
    assert.equal(bytes.toString('utf8').split('A rather long team name').length - 1, 1);
    assert.deepStrictEqual(decodeEvent(bytes), many);
  });

  it('are not metrics records: the rejects and idempotency readers pass them by, the backlog reader passes metrics by', () => {
    const metrics: MetricsReceived = { type: 'MetricsReceived', source: 'cli', receivedAtMs: 1, metrics: [metric({ t: 60 })], rejected: [] };
    assert.equal(decodeRejections(encodeEvent(polled)), undefined);
    assert.equal(decodeBacklog(encodeEvent(metrics)), undefined);
  });

  it('truncated, garbled or from a newer version: CorruptLogError', () => {
    const payload = encodeEvent(polled);
    for (let length = 0; length < payload.length; length++) {
      assert.throws(() => decodeEvent(payload.subarray(0, length)), CorruptLogError, `truncated to ${length}`);
    }
    const future = Buffer.from(payload);
    future[1] = 2;
    assert.throws(() => decodeEvent(future), /unsupported backlog record version 2/);
    const garbled = Buffer.concat([payload.subarray(0, 2), Buffer.from('{"s":"csv","r":1,"t":["A"],"q":[],"x":[[3,1,1]]}')]);
    assert.throws(() => decodeEvent(garbled), CorruptLogError);
  });

  it('a reader meeting a record type it does not know says so', () => {
    const unknown = Buffer.from([3, 1, 0x7b, 0x7d]);
    assert.throws(() => decodeEvent(unknown), (e: unknown) => e instanceof CorruptLogError && /unknown event type 3/.test(e.message));
  });

  it('the windows and rejects projectors and the ingestor recovery fold a log that mixes both types', async () => {
    const log = new MemoryEventLog(() => Date.now());
    const metrics: MetricsReceived = {
      type: 'MetricsReceived', source: 'cli', receivedAtMs: 1, rejected: [{ index: 1, reason: 'bad', raw: '{}' }], idempotencyKey: 'k1',
      metrics: [metric({ t: 1_700_000_040, value: 4 }), metric({ t: 1_700_000_050, value: 6 })],
    };
    await log.append([encodeEvent(polled), encodeEvent(metrics), encodeEvent(polled)]);
    const tables = new MemoryTableStore();
    const versions = new ProjectionVersions(await tables.rowTable('meta'));
    const common = { log, tables, versions, tablePrefix: 't', version: 1, follow: false, flushIntervalMs: 1000 };

    const windows = await new Projector({ projection: windowsProjection, config: { windows: { outOfOrderSeconds: 60, idleCloseSeconds: 5, allowedLatenessSeconds: 1800, maxFutureSeconds: 300 } }, ...common }).run();
    const { rejected } = await new Projector({ ...common, projection: rejectsProjection, config: undefined }).run();
    const ingestor = new Ingestor(log);
    await ingestor.recover();

    assert.equal(windows.metrics, 2);
    assert.equal(rejected, 1);
    const replay = await ingestor.ingest({ metrics: [], rejected: [] }, 'http', 'k1');
    assert.equal(replay.duplicate, true);
  });
});
