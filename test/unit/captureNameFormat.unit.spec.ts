import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CaptureNameFormat, DEFAULT_CAPTURE_NAME_FORMAT } from '../../src/core/captureNameFormat';
import { InvalidInputError } from '../../src/core/errors';

const SOURCE = { namespace: 'my-ns', eventHub: 'opsfold-events', partitionId: '3' };

describe("Capture's file name format", () => {
  it('default: listed under namespace/hub/partition/, the time read from the name', () => {
    const format = CaptureNameFormat.parse(DEFAULT_CAPTURE_NAME_FORMAT);
    assert.equal(format.prefix(SOURCE), 'my-ns/opsfold-events/3/');
    assert.equal(format.timeOf('my-ns/opsfold-events/3/2026/02/16/14/30/05.avro', SOURCE), Date.UTC(2026, 1, 16, 14, 30, 5));
  });

  it("another partition's, another hub's, a non-.avro and an impossible date's names are not the partition's files", () => {
    const format = CaptureNameFormat.parse(DEFAULT_CAPTURE_NAME_FORMAT);
    for (const name of [
      'my-ns/opsfold-events/31/2026/02/16/14/30/05.avro', 'my-ns/opsfold-events-2/3/2026/02/16/14/30/05.avro',
      'my-ns/opsfold-events/3/2026/02/16/14/30/05.json', 'my-ns/opsfold-events/3/2026/02/30/14/30/05.avro', 'my-ns/opsfold-events/3/2026/2/16/14/30/05.avro',
    ]) assert.equal(format.timeOf(name, SOURCE), undefined, name);
  });

  it('a custom order with its own delimiters, time fields before the partition', () => {
    const format = CaptureNameFormat.parse('{Namespace}/{EventHub}/{Year}-{Month}-{Day}/p{PartitionId}--{Hour}.{Minute}.{Second}');
    assert.equal(format.prefix(SOURCE), 'my-ns/opsfold-events/');
    assert.equal(format.timeOf('my-ns/opsfold-events/2025-12-31/p3--23.59.58.avro', SOURCE), Date.UTC(2025, 11, 31, 23, 59, 58));
    assert.equal(format.timeOf('my-ns/opsfold-events/2025-12-31/p4--23.59.58.avro', SOURCE), undefined);
  });

  it('refuses a format missing a field, with an unknown field, with a field twice, or with a stray brace', () => {
    for (const [text, reason] of [
      ['{Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}', /\{Second\} is missing/],
      ['{Namespace}/{EventHub}/{Partition}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}', /unknown field \{Partition\}/],
      ['{Namespace}/{EventHub}/{PartitionId}/{Year}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}', /\{Year\} twice/],
      ['{Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}}', /unmatched brace/],
    ] as const) {
      assert.throws(() => CaptureNameFormat.parse(text), (e: unknown) => e instanceof InvalidInputError && reason.test(e.message) && e.message.includes('CAPTURE_NAME_FORMAT'), text);
    }
  });
});
