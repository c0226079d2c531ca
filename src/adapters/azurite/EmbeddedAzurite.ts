import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { StorageError } from '../../core/errors';

/**
 * The part of Azurite's (undocumented) server classes we use: `TableServer` / `BlobServer` from
 * `azurite/dist/src/…`, as its own `azurite-table` / `azurite-blob` entry points build them.
 */
interface AzuriteServer {
  readonly httpServer: Server;
  start(): Promise<void>;
  close(): Promise<void>;
}
type ServerClass = new (configuration: unknown) => AzuriteServer;
type ConfigurationClass = new (...args: unknown[]) => unknown;

/** Azurite's well-known development account. */
export const DEV_ACCOUNT_NAME = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface EmbeddedAzuriteOptions {
  /** Directory to persist into (created if missing); everything stays in memory when omitted. */
  location?: string;
  /** Interface to listen on. */
  host?: string;
  /** Also start the Blob service. */
  blob?: boolean;
  /** Seconds an idle keep-alive connection stays open. */
  keepAliveTimeoutSeconds?: number;
  /** Port of the Table service (default: the OS picks one). */
  tablePort?: number;
  /**
   * Run Azurite in a child process of its own (forked from node_modules, IPC to this one), so
   * the storage emulator gets its own core instead of sharing this event loop. The child
   * stops when told, and exits at once when this process goes away (even by `kill -9`): its IPC
   * channel closes. It runs in a process group of its own, so that a signal to this process's
   * group (Ctrl-C in a terminal, `docker stop`, `timeout`) does not kill it under this process's
   * feet: this process stops it, when it has written what it can.
   */
  childProcess?: boolean;
  /** With `childProcess`: told when the child exits without having been asked to stop (killed, crashed). */
  onExit?: (reason: string) => void;
  /**
   * With a `location`: Azurite saves every table it holds to disk every 5 s (true, its own way), or
   * only when it stops (false). Each save serializes everything it holds (150 MB after a rebuild of
   * 10M metrics), so a command that rebuilds leaves out the saves in between: its work is of use
   * only once complete, and a crash midway leaves the old version active. Give such a command time
   * to stop (see `stop`): the one save is then all there is.
   */
  autosave?: boolean;
}

/** What the child sends once its servers listen, or when they could not start. */
type ChildMessage = { ready: true; tablePort: number; blobPort?: number } | { ready: false; error: string };

const loadDefault = <T>(path: string): T => (require(path) as { default: T }).default;

const urlHost = (host: string): string => {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return reachable.includes(':') ? `[${reachable}]` : reachable;
};

const portOf = (server: AzuriteServer): number => (server.httpServer.address() as AddressInfo).port;

/**
 * Azurite's Table service (and, when asked, its Blob service) running inside this process on
 * ports the OS picks: no child process, no access or debug log, no telemetry, API version check
 * skipped. With a `location` the data survives a stop and a start on the same directory.
 *
 * @example
 * const azurite = await EmbeddedAzurite.start({ location: './data/azurite' });
 * const store = TableStorageStore.fromConnectionString(azurite.tableConnectionString);
 * // …
 * await azurite.stop();
 */
export class EmbeddedAzurite {
  private stopping?: Promise<void>;

  private constructor(
    private readonly servers: readonly AzuriteServer[],
    readonly host: string,
    readonly tablePort: number,
    readonly blobPort: number | undefined,
    private readonly child?: ChildProcess,
  ) {}

  /** The process Azurite runs in, when it runs in one of its own (`childProcess: true`). */
  get childPid(): number | undefined {
    return this.child?.pid;
  }

  static async start(options: EmbeddedAzuriteOptions = {}): Promise<EmbeddedAzurite> {
    const { location, host = '127.0.0.1', blob = false, keepAliveTimeoutSeconds = 5, autosave = true } = options;
    // The child is forked before this returns (startChild's first step), and creates the location itself.
    if (options.childProcess) return EmbeddedAzurite.startChild({ location, host, blob, keepAliveTimeoutSeconds, tablePort: options.tablePort, autosave }, options.onExit);
    if (location !== undefined) await mkdir(location, { recursive: true });
    const servers: AzuriteServer[] = [];
    try {
      servers.push(createTableServer(host, options.tablePort ?? 0, keepAliveTimeoutSeconds, location));
      await servers[0].start();
      if (!autosave) stopAutosave(servers[0]);
      if (blob) {
        servers.push(createBlobServer(host, keepAliveTimeoutSeconds, location));
        await servers[1].start();
      }
    } catch (error) {
      await Promise.allSettled(servers.map(closeServer));
      throw error;
    }
    return new EmbeddedAzurite(servers, host, portOf(servers[0]), blob ? portOf(servers[1]) : undefined);
  }

  /**
   * An Azurite that another process started and stops (a capped replay's launcher, which starts it
   * before this process boots): only its address; `stop()` here does nothing.
   */
  static startedElsewhere(host: string, tablePort: number): EmbeddedAzurite {
    return new EmbeddedAzurite([], host, tablePort, undefined);
  }

  get tableEndpoint(): string {
    return `http://${urlHost(this.host)}:${this.tablePort}/${DEV_ACCOUNT_NAME}`;
  }

  get tableConnectionString(): string {
    return EmbeddedAzurite.tableConnectionStringFor(this.host, this.tablePort);
  }

  /** The connection string of an Azurite Table service already listening (e.g. the running service's). */
  static tableConnectionStringFor(host: string, tablePort: number): string {
    return `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT_NAME};AccountKey=${DEV_ACCOUNT_KEY};` +
      `TableEndpoint=http://${urlHost(host)}:${tablePort}/${DEV_ACCOUNT_NAME};`;
  }

  /** Present only when started with `blob: true`. */
  get blobConnectionString(): string | undefined {
    if (this.blobPort === undefined) return undefined;
    return `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT_NAME};AccountKey=${DEV_ACCOUNT_KEY};` +
      `BlobEndpoint=http://${urlHost(this.host)}:${this.blobPort}/${DEV_ACCOUNT_NAME};`;
  }

  /**
   * Closes the servers and their connections, saving persisted data; safe to call twice. A child
   * that has not exited `timeoutMs` after being asked is killed (what it did not save is folded
   * again from the log: checkpoints are saved with the writes they follow).
   */
  stop(timeoutMs = 2500): Promise<void> {
    const child = this.child;
    if (child) {
      this.stopping ??= child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => {
        child.ref();
        const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.send('stop', (error) => {
          if (error) child.kill('SIGKILL'); // its channel is gone: it is exiting or hung
        });
      });
    }
    this.stopping ??= Promise.all(this.servers.map(closeServer)).then(() => undefined);
    return this.stopping;
  }

  private static async startChild(options: EmbeddedAzuriteOptions, onExit?: (reason: string) => void): Promise<EmbeddedAzurite> {
    // None of this process's Node flags: the emulator holds every entity in its own memory, so a heap limit meant for
    // this process (a capped rebuild) is not for it, nor is an `--inspect` port or a `-e` script.
    const child = fork(join(__dirname, 'azuriteChild.js'), [JSON.stringify(options)], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      execArgv: [],
      // A process group of its own (see `childProcess`); Windows has no such groups, and a detached child would get a console.
      detached: process.platform !== 'win32',
      env: { ...process.env, NODE_OPTIONS: withoutHeapLimits((process.env.NODE_OPTIONS ?? '').split(/\s+/)).join(' ') },
    });
    const answer = await new Promise<ChildMessage>((resolve) => {
      child.once('message', (message) => resolve(message as ChildMessage));
      child.once('exit', (code, signal) => resolve({ ready: false, error: `the Azurite child process exited (${signal ?? code}) before it listened` }));
    });
    if (!answer.ready) {
      child.kill();
      throw new StorageError(`could not start embedded Azurite: ${answer.error}`, { retriable: false });
    }
    child.unref();
    child.channel?.unref();
    const azurite = new EmbeddedAzurite([], options.host ?? '127.0.0.1', answer.tablePort, answer.blobPort, child);
    child.once('exit', (code, signal) => {
      if (azurite.stopping === undefined) onExit?.(`the embedded Azurite (pid ${child.pid}) exited ${signal === null ? `with code ${code}` : `on ${signal}`}`);
    });
    return azurite;
  }

  /** The child's side of `childProcess: true` (see azuriteChild.ts). */
  static async serveForParent(options: EmbeddedAzuriteOptions): Promise<void> {
    const send = (message: ChildMessage): void => void process.send?.(message);
    let azurite: EmbeddedAzurite;
    try {
      azurite = await EmbeddedAzurite.start({ ...options, childProcess: false });
    } catch (error) {
      send({ ready: false, error: (error as Error).message });
      process.exit(1);
    }
    process.on('message', (message) => {
      if (message === 'stop') void azurite.stop().finally(() => process.exit(0));
    });
    // The parent went away without a word (crash, kill -9): stop serving at once, as it would have.
    process.on('disconnect', () => process.exit(0));
    send({ ready: true, tablePort: azurite.tablePort, blobPort: azurite.blobPort });
  }
}

/** Node options without the V8 heap limits (`--max-old-space-size=N` and the like). */
export function withoutHeapLimits(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (/^--max[-_](old|semi|young)[-_](space|generation)[-_]size(=|$)/.test(args[i])) {
      if (!args[i].includes('=')) i++; // the value as the next argument
      continue;
    }
    if (args[i] !== '') out.push(args[i]);
  }
  return out;
}

/**
 * Stops the Table service's periodic saves (LokiJS's autosave timer, in its undocumented metadata
 * store); its `close` still saves what changed. Left as it is when laid out otherwise.
 */
function stopAutosave(server: AzuriteServer): void {
  const db = (server as { metadataStore?: { db?: { autosaveDisable?: () => void } } }).metadataStore?.db;
  db?.autosaveDisable?.();
}

function createTableServer(host: string, port: number, keepAliveTimeoutSeconds: number, location: string | undefined): AzuriteServer {
  const TableServer = loadDefault<ServerClass>('azurite/dist/src/table/TableServer');
  const TableConfiguration = loadDefault<ConfigurationClass>('azurite/dist/src/table/TableConfiguration');
  const configuration = new TableConfiguration(
    host, port, keepAliveTimeoutSeconds,
    join(location ?? '.', '__azurite_db_table__.json'), // metadataDBPath (unused in memory)
    false, false, undefined, undefined, // enableDebugLog, enableAccessLog, accessLogWriteStream, debugLogFilePath
    true, true, // loose, skipApiVersionCheck
    '', '', '', undefined, false, // cert, key, pwd, oauth, disableProductStyleUrl
    location === undefined, // isMemoryPersistence
  );
  return new TableServer(configuration);
}

function createBlobServer(host: string, keepAliveTimeoutSeconds: number, location: string | undefined): AzuriteServer {
  const BlobServer = loadDefault<ServerClass>('azurite/dist/src/blob/BlobServer');
  const BlobConfiguration = loadDefault<ConfigurationClass>('azurite/dist/src/blob/BlobConfiguration');
  const memory = require('azurite/dist/src/common/persistence/MemoryExtentStore') as {
    MemoryExtentChunkStore: new (sizeLimit: number) => unknown;
    DEFAULT_EXTENT_MEMORY_LIMIT: number;
  };
  const inMemory = location === undefined;
  const configuration = new BlobConfiguration(
    host, 0, keepAliveTimeoutSeconds,
    join(location ?? '.', '__azurite_db_blob__.json'),
    join(location ?? '.', '__azurite_db_blob_extent__.json'),
    [{ locationId: 'Default', locationPath: join(location ?? '.', '__blobstorage__'), maxConcurrency: 10 }],
    false, undefined, false, undefined, // enableAccessLog, accessLogWriteStream, enableDebugLog, debugLogFilePath
    true, true, // loose, skipApiVersionCheck
    '', '', '', undefined, false, // cert, key, pwd, oauth, disableProductStyleUrl
    inMemory,
    // this instance's own memory, not Azurite's process-wide shared store
    inMemory ? new memory.MemoryExtentChunkStore(memory.DEFAULT_EXTENT_MEMORY_LIMIT) : undefined,
  );
  return new BlobServer(configuration);
}

/** Azurite's close() does not wait for the listening socket; wait for it so the process can exit. */
async function closeServer(server: AzuriteServer): Promise<void> {
  if (!server.httpServer.listening) return;
  const closed = once(server.httpServer, 'close');
  await server.close();
  await closed;
}
