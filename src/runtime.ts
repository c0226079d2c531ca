import { setTimeout as sleep } from 'node:timers/promises';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileLog, type TailRepair } from './adapters/fileLog/FileLog';
import { noteLogRepair } from './adapters/fileLog/repairTail';
import { EmbeddedAzurite } from './adapters/azurite/EmbeddedAzurite';
import { SupervisedAzurite } from './adapters/azurite/SupervisedAzurite';
import { DataDirLock } from './adapters/dataDirLock/DataDirLock';
import { TableStorageStore } from './adapters/tableStorage/TableStorageStore';
import type { Settings } from './config/settings';
import { ConfigError, StorageError } from './core/errors';
import type { EventAppender } from './core/ports';
import { eventHubsConfigured } from './config/settings';
import { metaTable } from '../projections/projectionCatalog';
import { ProjectionVersions } from '../streams/projectionVersions';
import { AZURITE_STOP_MS } from './stopDeadlines';
import { COMMAND_AZURITE_STOP_MS, commandAzurite, type StartingAzurite } from './startAzuriteEarly';

/**
 * The Azure SDKs (Event Hubs, Blob Storage, identity: ~0.3 s to load) are loaded only when the
 * settings use them: a replay of the file log into the embedded Azurite does not.
 */
const azureClients = () => require('./adapters/eventHubs/azureClients') as typeof import('./adapters/eventHubs/azureClients');
const eventHubsAppender = () => require('./adapters/eventHubs/EventHubsAppender') as typeof import('./adapters/eventHubs/EventHubsAppender');

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
  /** The Azurite a CLI command started for itself (no service runs on the data dir). */
  azurite?: EmbeddedAzurite;
  /** The service's own embedded Azurite, restarted whenever it dies (`service: true`). */
  storage?: SupervisedAzurite;
  /** A service runs on this data dir: its projectors follow version switches, and its Azurite is shared. */
  service?: ServiceFile;
  close(): Promise<void>;
}

/** What a running service tells about itself: over its data dir's lock, and in `service.json` for people to read. */
export interface ServiceFile {
  pid: number;
  host: string;
  /** Port of the service's embedded Azurite Table service, when it runs one. */
  tablePort?: number;
  /** False while the service is starting (its Azurite may not listen yet). */
  ready?: boolean;
}

const serviceFilePath = (dataDir: string): string => join(dataDir, 'service.json');

/**
 * The service running on `dataDir`, asked over the data dir's lock (see DataDirLock), which only a
 * live service holds: a `service.json` left by a crash, naming a pid that is now a zombie or another
 * process's, is not believed. Waits up to `waitMs` while that service is still starting.
 */
export async function runningService(dataDir: string, waitMs = 30_000): Promise<ServiceFile | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const holder = (await DataDirLock.holder(dataDir)) as ServiceFile | undefined;
      if (holder === undefined || holder.ready !== false) return holder;
    } catch (error) {
      if (Date.now() > deadline) throw error; // it holds the lock and does not answer
      // going away (killed a moment ago): asked again
    }
    if (Date.now() > deadline) throw new StorageError(`the service on the data dir ${dataDir} is still starting; try again`);
    await sleep(100);
  }
}

export { noteLogRepair };

/**
 * Opens the file log and the Table endpoint: the one in TABLES_CONNECTION_STRING, or the
 * embedded Azurite of a service running on the same data dir, or an Azurite started here,
 * persisted under the data dir. With `service: true` this process becomes that service: it holds
 * the data dir's lock (and refuses to start beside another one), and supervises its Azurite.
 */
export async function openRuntime(settings: Settings, options: {
  log?: boolean; service?: boolean; onLogRepair?: (repair: TailRepair) => void;
  /** An Azurite started early for this command (startAzuriteEarly): taken over instead of starting one (stopped if not needed). */
  azurite?: StartingAzurite;
} = {}): Promise<Runtime> {
  let me: ServiceFile = { pid: process.pid, host: settings.host, ready: false };
  const taken = options.service ? await DataDirLock.acquire(settings.dataDir, () => me) : undefined;
  if (taken !== undefined && !(taken instanceof DataDirLock)) {
    const holder = taken.heldBy as ServiceFile | undefined;
    throw new ConfigError('OPSFOLD_DATA_DIR', `a service (pid ${holder?.pid ?? 'unknown'}) already runs on the data dir ${settings.dataDir}; stop it first or choose another --data-dir`);
  }
  const lock = taken;
  const early = options.azurite;
  let earlyTaken = false;
  const running = options.service ? undefined : await runningService(settings.dataDir).catch(async (error: unknown) => {
    await stopUnused(early);
    throw error;
  });
  const opened: { close(): Promise<void> }[] = [];
  try {
    const log = await FileLog.open(join(settings.dataDir, 'log'), { onRepair: options.onLogRepair ?? noteLogRepair });
    opened.push(log);
    let azurite: EmbeddedAzurite | undefined;
    let storage: SupervisedAzurite | undefined;
    let connectionString = settings.tablesConnectionString;
    const location = join(settings.dataDir, 'azurite');
    if (connectionString === undefined && settings.tablesEndpoint !== undefined) {
      // A storage account reached with DefaultAzureCredential: nothing to start here.
    } else if (connectionString === undefined && running?.tablePort !== undefined) {
      connectionString = EmbeddedAzurite.tableConnectionStringFor(running.host, running.tablePort);
    } else if (connectionString === undefined) {
      earlyTaken = early !== undefined;
      const started = options.service
        ? (storage = await SupervisedAzurite.start({ location, log: (line) => process.stderr.write(`opsfold: ${line}\n`) }))
        : (azurite = await (early?.ready ?? EmbeddedAzurite.start(commandAzurite(location))));
      opened.push({ close: () => started.stop() });
      connectionString = started.tableConnectionString;
      if (options.log !== false) process.stderr.write(`opsfold: embedded Azurite (Table Storage) on 127.0.0.1:${started.tablePort}, data in ${location}\n`);
    }
    const tables = settings.tablesConnectionString === undefined && settings.tablesEndpoint !== undefined
      ? TableStorageStore.fromEndpoint(httpsEndpoint(settings.tablesEndpoint), azureClients().azureCredential())
      : tableStoreFrom(connectionString!);
    const distributed = eventHubsConfigured(settings);
    const producer = distributed ? azureClients().createProducer(settings, settings.eventHubName) : undefined;
    if (producer) opened.push(producer);
    const appender: EventAppender = producer ? new (eventHubsAppender().EventHubsAppender)(producer) : log;
    const versions = new ProjectionVersions(await tables.rowTable(metaTable(settings.tablePrefix)));
    let service = running;
    if (options.service) {
      const local = storage ?? azurite;
      me = service = { pid: process.pid, host: local?.host ?? settings.host, tablePort: local?.tablePort, ready: true };
      const file = serviceFilePath(settings.dataDir);
      await writeFile(`${file}.tmp`, JSON.stringify(service));
      await rename(`${file}.tmp`, file);
    }
    return {
      log, appender, distributed, tables, versions, azurite, storage, service,
      async close() {
        await producer?.close();
        await log.close();
        // Azurite last: everything that writes to it has stopped. Its one save holds all the command wrote.
        await azurite?.stop(COMMAND_AZURITE_STOP_MS);
        await storage?.stop(AZURITE_STOP_MS);
        if (lock) {
          await rm(serviceFilePath(settings.dataDir), { force: true });
          await lock.release();
        }
      },
    };
  } catch (error) {
    for (const thing of opened.reverse()) await thing.close().catch(() => undefined);
    await lock?.release();
    throw error;
  } finally {
    if (!earlyTaken) await stopUnused(early); // a service's Azurite, or configured tables, are used instead
  }
}

/** Stops an Azurite started early that is not taken over (nothing when it did not start). */
async function stopUnused(early: StartingAzurite | undefined): Promise<void> {
  await early?.ready.then((azurite) => azurite.stop(), () => undefined);
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
