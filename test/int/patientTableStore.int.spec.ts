import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { PatientTableStore } from '../../src/adapters/tableStorage/PatientTableStore';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import { InvalidInputError, StorageError } from '../../src/core/errors';
import { eventually } from '../support/eventually';

describe('PatientTableStore: a projector waits out a storage outage', () => {
  it('a write during an outage is tried again until the storage is back, then lands once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'opsfold-patient-'));
    let azurite = await EmbeddedAzurite.start({ location: dir });
    const port = azurite.tablePort;
    try {
      const retry = { attempts: 1 }; // the plain store gives up at once, so the patience below is what waits
      const plain = TableStorageStore.fromConnectionString(azurite.tableConnectionString, { retry });
      const retries: string[] = [];
      const patient = new PatientTableStore(plain, { initialDelayMs: 50, maxDelayMs: 200, onRetry: (_error, n, op) => retries.push(`${op}#${n}`) });
      const rows = await patient.rowTable('outage');
      await rows.upsert([{ partition: ['p'], row: 'before', fields: { n: 1 } }]);

      await azurite.stop(); // the outage
      const writing = rows.upsert([{ partition: ['p'], row: 'during', fields: { n: 2 } }]);
      await new Promise((r) => setTimeout(r, 600));
      assert.ok(retries.length >= 2, `tried again meanwhile: ${retries.join(', ')}`);
      await assert.rejects((await plain.rowTable('outage')).get(['p'], 'before'), (e: Error & { retriable?: boolean }) => e.retriable === true, 'the plain store fails fast');

      azurite = await EmbeddedAzurite.start({ location: dir, tablePort: port });
      await writing;
      assert.deepEqual((await rows.list({ partition: ['p'] })).map((r) => [r.row, r.fields.n]), [['before', 1], ['during', 2]]);
      // A mistake is not an outage: it fails at once.
      await assert.rejects(patient.rowTable('not a valid name!'), InvalidInputError);
    } finally {
      await azurite.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('hold() ends the patience: a write waiting out an outage fails at once with the reason, so do new calls, until resume()', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'opsfold-patient-'));
    let azurite = await EmbeddedAzurite.start({ location: dir });
    const port = azurite.tablePort;
    try {
      const plain = TableStorageStore.fromConnectionString(azurite.tableConnectionString, { retry: { attempts: 1 } });
      let retries = 0;
      const patient = new PatientTableStore(plain, { initialDelayMs: 50, maxDelayMs: 200, onRetry: () => retries++ });
      const rows = await patient.rowTable('held');
      await azurite.stop();
      const waiting = rows.upsert([{ partition: ['p'], row: 'during', fields: { n: 1 } }]);
      const failed = assert.rejects(waiting, (e: unknown) => e instanceof StorageError && !e.retriable && e.message === 'the service is stopping');
      await eventually('the write waiting out the outage', () => retries >= 2);
      patient.hold('the service is stopping');
      await failed;
      await assert.rejects(rows.get(['p'], 'during'), /the service is stopping/);
      await assert.rejects(patient.rowTable('other'), /the service is stopping/);

      azurite = await EmbeddedAzurite.start({ location: dir, tablePort: port });
      patient.resume();
      await rows.upsert([{ partition: ['p'], row: 'after', fields: { n: 2 } }]);
      assert.deepEqual((await rows.list({ partition: ['p'] })).map((r) => r.row), ['after'], 'the write that was given up never landed');
    } finally {
      await azurite.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
