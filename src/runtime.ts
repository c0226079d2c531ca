import { connect } from 'node:net';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileLog, type TailRepair } from './adapters/fileLog/FileLog';
import { describeTailRepair } from './adapters/fileLog/repairTail';
import { EmbeddedAzurite } from './adapters/azurite/EmbeddedAzurite';
import { TableStorageStore } from './adapters/tableStorage/TableStorageStore';
import type { Settings } from './config/settings';
import { ConfigError } from './core/errors';
import type { EventAppender } from './core/ports';
import { azureCredential, createProducer, eventHubsConfigured } from './adapters/eventHubs/azureClients';
import { EventHubsAppender } from './adapters/eventHubs/EventHubsAppender';
import { metaTable } from '../projections/projectionCatalog';
import { ProjectionVersions } from '../streams/projectionVersions';

/** The outside things every command needs: the log, the tables, the projection versions. */
export interface Runtime {
  /** The file log (on Event Hubs it stays unused by the service; CLI reads of history need the hub). */
  log: FileLog;
  /** Where appends go: the Event Hub when one is configured, else the file log. */
  appender: EventAppender;
  /** Whether the log is an Event Hub. */
  distributed: boolean;
  tables: TableStorageStore;
  versions: ProjectionVersions;
  azurite?: EmbeddedAzurite;
  /** A service runs on this data dir: its projectors follow version switches, and its Azurite is shared. */
  service?: ServiceFile;
  close(): Promise<void>;
}

/** What a running service leaves in its data dir so that CLI commands find it. */
export interface ServiceFile {
  pid: number;
  host: string;
  /** Port of the service's embedded Azurite Table service, when it runs one. */
  tablePort?: number;
}

const serviceFilePath = (dataDir: string): string => join(dataDir, 'service.json');

/** The service running on `dataDir`, if its file names a live process. */
export async function runningService(dataDir: string): Promise<ServiceFile | undefined> {
  let file: ServiceFile;
  try {
    file = JSON.parse(await readFile(serviceFilePath(dataDir), 'utf8')) as ServiceFile;
  } catch {
    return undefined;
  }
  try {
    process.kill(file.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined; // gone: a file left by a crash
  }
  // A live pid may be another process that reused it: the service's Azurite must also answer.
  if (file.tablePort !== undefined && !(await listening(file.host, file.tablePort))) return undefined;
  return file;
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/** How every command reports a repair of the file log's tail: on stderr, loudly when data was lost. */
export const noteLogRepair = (repair: TailRepair): void => {
  process.stderr.write(`opsfold: ${describeTailRepair(repair)}\n`);
};

/**
 * Opens the file log and the Table endpoint: the one in TABLES_CONNECTION_STRING, or the
 * embedded Azurite of a service running on the same data dir, or an Azurite started here,
 * persisted under the data dir. With `service: true` this process becomes that service
 * (and refuses to start beside another one).
 */
export async function openRuntime(settings: Settings, options: { log?: boolean; service?: boolean; onLogRepair?: (repair: TailRepair) => void } = {}): Promise<Runtime> {
  const running = await runningService(settings.dataDir);
  if (options.service && running && running.pid !== process.pid) {
    throw new ConfigError('OPSFOLD_DATA_DIR', `a service (pid ${running.pid}) already runs on the data dir ${settings.dataDir}; stop it first or choose another --data-dir`);
  }
  const log = await FileLog.open(join(settings.dataDir, 'log'), { onRepair: options.onLogRepair ?? noteLogRepair });
  let azurite: EmbeddedAzurite | undefined;
  let connectionString = settings.tablesConnectionString;
  if (connectionString === undefined && settings.tablesEndpoint !== undefined) {
    // A storage account reached with DefaultAzureCredential: nothing to start here.
  } else if (connectionString === undefined && running?.tablePort !== undefined && !options.service) {
    connectionString = EmbeddedAzurite.tableConnectionStringFor(running.host, running.tablePort);
  } else if (connectionString === undefined) {
    try {
      azurite = await EmbeddedAzurite.start({ location: join(settings.dataDir, 'azurite'), childProcess: true });
    } catch (error) {
      await log.close();
      throw error;
    }
    connectionString = azurite.tableConnectionString;
    if (options.log !== false) process.stderr.write(`opsfold: embedded Azurite (Table Storage) on 127.0.0.1:${azurite.tablePort}, data in ${join(settings.dataDir, 'azurite')}\n`);
  }
  const tables = settings.tablesConnectionString === undefined && settings.tablesEndpoint !== undefined
    ? TableStorageStore.fromEndpoint(httpsEndpoint(settings.tablesEndpoint), azureCredential())
    : tableStoreFrom(connectionString!);
  const distributed = eventHubsConfigured(settings);
  const producer = distributed ? createProducer(settings, settings.eventHubName) : undefined;
  const appender: EventAppender = producer ? new EventHubsAppender(producer) : log;
  const versions = new ProjectionVersions(await tables.rowTable(metaTable(settings.tablePrefix)));
  let service = options.service ? undefined : running;
  if (options.service) {
    service = { pid: process.pid, host: azurite?.host ?? settings.host, tablePort: azurite?.tablePort };
    const file = serviceFilePath(settings.dataDir);
    await writeFile(`${file}.tmp`, JSON.stringify(service));
    await rename(`${file}.tmp`, file);
  }
  return {
    log, appender, distributed, tables, versions, azurite, service,
    async close() {
      await producer?.close();
      if (options.service && (await runningService(settings.dataDir))?.pid === process.pid) await rm(serviceFilePath(settings.dataDir), { force: true });
      await log.close();
      await azurite?.stop();
    },
  };
}


/** The SDK's own refusal of a connection string, named after its setting (its message is not shown: it may quote the value). */
function tableStoreFrom(connectionString: string): TableStorageStore {
  try {
    return TableStorageStore.fromConnectionString(connectionString);
  } catch {
    throw new ConfigError('TABLES_CONNECTION_STRING', 'TABLES_CONNECTION_STRING was refused by the Table Storage client; check its AccountName, AccountKey and TableEndpoint (the value is a secret and is not shown)');
  }
}

function httpsEndpoint(endpoint: string): string {
  if (!/^https:\/\/[^/]+/i.test(endpoint)) throw new ConfigError('TABLES_ENDPOINT', `TABLES_ENDPOINT must be an https:// Table Storage endpoint, got ${JSON.stringify(endpoint)}`);
  return endpoint;
}
