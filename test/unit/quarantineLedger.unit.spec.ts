import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { quarantineRow, QUARANTINE_PARTITION } from '../../projections/quarantineRows';
import { QuarantineLedger } from '../../streams/QuarantineLedger';
import type { RowTable } from '../../src/core/ports';
import { MemoryRowTable } from '../support/memoryTableStore';

const entry = (position: number, index?: number) => ({ projection: 'windows', position, ...(index === undefined ? {} : { index }), reason: `bad ${position}/${index}` });

describe('QuarantineLedger: each entry written once, counted once, passed over again after a restart', () => {
  it('a restart loads the entries from its re-read start, passes over them, and counts only those its checkpoint did not', async () => {
    // Given a ledger holding a whole record at 5 and metric 2 of record 9, and a checkpoint at 7 that counted one entry.
    const table = new MemoryRowTable();
    await table.upsert([quarantineRow(entry(5), 1_000), quarantineRow(entry(9, 2), 1_000), quarantineRow(entry(1), 1_000)]);
    const ledger = await QuarantineLedger.open(table, { from: 4, counted: { before: 7, entries: 1 }, now: () => 2_000 });

    // Then the re-read passes over record 5 whole and metric 2 of record 9; only the entry after the checkpoint is counted again.
    assert.equal(ledger.partOf(3), undefined);
    assert.equal(ledger.partOf(5), 'record');
    assert.equal(ledger.count, 1, 'record 5 was counted by the checkpoint at 7');
    assert.deepEqual([...(ledger.partOf(9) as Set<number>)], [2]);
    assert.equal(ledger.count, 2);
    assert.equal(ledger.partOf(9) instanceof Set, true);
    assert.equal(ledger.count, 2, 'asked again, counted once');

    // When the fold sets the same metric aside again, and a new one before the checkpoint (found by a careful pass).
    ledger.take(entry(9, 2));
    ledger.take(entry(6, 0));
    assert.equal(ledger.count, 3, 'a new entry is counted wherever it is');
    assert.equal(ledger.pending, 1);
    await ledger.write();

    // Then only the new entry was written; the others keep the time they were first set aside.
    const rows = await table.list({ partition: QUARANTINE_PARTITION });
    assert.deepEqual(rows.map((r) => [r.row, r.fields.quarantinedAt]), [
      ['0000000000000001-record', new Date(1_000).toISOString()],
      ['0000000000000005-record', new Date(1_000).toISOString()],
      ['0000000000000006-000000', new Date(2_000).toISOString()],
      ['0000000000000009-000002', new Date(1_000).toISOString()],
    ]);
    assert.equal(ledger.pending, 0);
  });

  it('entries not written when the write fails are written by the next one', async () => {
    const table = new MemoryRowTable();
    let down = true;
    const flaky: RowTable = {
      get: (partition, row) => table.get(partition, row),
      list: (options) => table.list(options),
      delete: (partition, row) => table.delete(partition, row),
      upsert: async (rows) => (down ? Promise.reject(new Error('down')) : table.upsert(rows)),
    };
    const ledger = await QuarantineLedger.open(flaky, { from: 0, counted: { before: 0, entries: 0 } });
    ledger.take(entry(1));
    await assert.rejects(ledger.write(), /down/);
    ledger.take(entry(2, 0));
    down = false;
    await ledger.write();
    assert.deepEqual((await table.list()).map((r) => r.row), ['0000000000000001-record', '0000000000000002-000000']);
  });
});
