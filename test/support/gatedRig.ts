import type { TestContext } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedAzurite } from '../../src/adapters/azurite/EmbeddedAzurite';
import { FileLog } from '../../src/adapters/fileLog/FileLog';
import { TableStorageStore } from '../../src/adapters/tableStorage/TableStorageStore';
import { closeLater } from './closeLater';
import { GatedTableStore } from './gatedTableStore';

/**
 * A file log in a fresh directory and a real Azurite behind a GatedTableStore, all closed (and
 * the gate released) when the test ends: for tests that stop a projector at a chosen table.
 */
export async function gatedRig(t: TestContext, name: string): Promise<{ dir: string; log: FileLog; tables: GatedTableStore; later: ReturnType<typeof closeLater> }> {
  const later = closeLater(t);
  const dir = await mkdtemp(join(tmpdir(), `opsfold-${name}-`));
  later({ close: () => rm(dir, { recursive: true, force: true }) });
  const azurite = await EmbeddedAzurite.start();
  later({ close: () => azurite.stop() });
  const tables = new GatedTableStore(TableStorageStore.fromConnectionString(azurite.tableConnectionString));
  later({ close: async () => tables.release() });
  const log = later(await FileLog.open(join(dir, 'log')));
  return { dir, log, tables, later };
}
