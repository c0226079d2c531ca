import type { Settings } from './config/settings';
import type { TableStore } from './core/ports';
import type { AnyProjection } from '../projections/builtInProjections';
import { existingTables } from '../projections/projectionTables';
import { historyTablePrefix } from '../projections/windowEventHistory';
import { FileWindowHistory, finalHistoryDir, windowHistoryDir } from './adapters/windowHistory/FileWindowHistory';

/** Drops one version of a projection: its tables of every scope, and for 'windows' its event histories (hourly tables, or files in the data dir). */
export async function dropProjectionVersion(tables: TableStore, settings: Pick<Settings, 'tablePrefix' | 'dataDir'>, projection: AnyProjection, version: number): Promise<void> {
  const names = await existingTables(tables, projection.tables, settings.tablePrefix, version);
  if (projection.name === 'windows') names.push(...(await tables.listTables(historyTablePrefix(settings.tablePrefix, version))));
  for (const table of names) await tables.dropTable(table);
  if (projection.name === 'windows') {
    await FileWindowHistory.remove(windowHistoryDir(settings.dataDir, settings.tablePrefix, version));
    await FileWindowHistory.remove(finalHistoryDir(settings.dataDir, settings.tablePrefix, version));
  }
}
