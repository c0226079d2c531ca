import type { Settings } from './config/settings';
import type { TableStore } from './core/ports';
import { tablesOf, type ProjectionName } from '../projections/projectionCatalog';
import { FileWindowHistory, windowHistoryDir } from './adapters/windowHistory/FileWindowHistory';

/** Drops one version of a projection: its tables, and for 'windows' its event history in the data dir. */
export async function dropProjectionVersion(tables: TableStore, settings: Pick<Settings, 'tablePrefix' | 'dataDir'>, projection: ProjectionName, version: number): Promise<void> {
  for (const table of await tablesOf(tables, projection, settings.tablePrefix, version)) await tables.dropTable(table);
  if (projection === 'windows') await FileWindowHistory.remove(windowHistoryDir(settings.dataDir, settings.tablePrefix, version));
}
