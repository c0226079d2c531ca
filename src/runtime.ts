import { join } from 'node:path';
import { FileLog } from './adapters/fileLog/FileLog';
import { EmbeddedAzurite } from './adapters/azurite/EmbeddedAzurite';
import { TableStorageStore } from './adapters/tableStorage/TableStorageStore';
import type { Settings } from './config/settings';
import { metaTable, type ProjectionName } from '../projections/projectionCatalog';
import { ProjectionVersions } from '../streams/projectionVersions';

/** The outside things every command needs: the log, the tables, the projection versions. */
export interface Runtime {
  log: FileLog;
  tables: TableStorageStore;
  versions: ProjectionVersions;
  azurite?: EmbeddedAzurite;
  close(): Promise<void>;
}

/**
 * Opens the file log and the Table endpoint: the one in TABLES_CONNECTION_STRING, or an
 * Azurite started here, persisted under the data dir.
 */
export async function openRuntime(settings: Settings, options: { log?: boolean } = {}): Promise<Runtime> {
  const log = await FileLog.open(join(settings.dataDir, 'log'));
  let azurite: EmbeddedAzurite | undefined;
  let connectionString = settings.tablesConnectionString;
  if (connectionString === undefined) {
    azurite = await EmbeddedAzurite.start({ location: join(settings.dataDir, 'azurite'), childProcess: true });
    connectionString = azurite.tableConnectionString;
    if (options.log !== false) process.stderr.write(`opsfold: embedded Azurite (Table Storage) on 127.0.0.1:${azurite.tablePort}, data in ${join(settings.dataDir, 'azurite')}\n`);
  }
  const tables = TableStorageStore.fromConnectionString(connectionString);
  const versions = new ProjectionVersions(await tables.rowTable(metaTable(settings.tablePrefix)));
  return {
    log, tables, versions, azurite,
    async close() {
      await log.close();
      await azurite?.stop();
    },
  };
}

/** The active version of a projection, making version 1 active on a fresh store. */
export async function activeVersion(versions: ProjectionVersions, projection: ProjectionName): Promise<number> {
  const active = await versions.active(projection);
  if (active !== undefined) return active;
  await versions.activate(projection, 1);
  return 1;
}
