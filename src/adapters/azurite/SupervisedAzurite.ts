import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedAzurite } from './EmbeddedAzurite';

export interface SupervisedAzuriteOptions {
  /** Directory Azurite persists into. */
  location: string;
  host?: string;
  /** Told of every exit and restart (stderr in the service). */
  log: (line: string) => void;
  /** Backoff between failed restarts. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/** What the service does around a restart; see `SupervisedAzurite.supervise`. */
export interface RestartHooks {
  /** Awaited after Azurite died and before it is started again. */
  beforeRestart(reason: string): Promise<void>;
  /** Awaited once the restarted Azurite serves. */
  afterRestart(restarts: number): Promise<void>;
}

/** The embedded storage as /healthz shows it. */
export interface AzuriteHealth {
  kind: 'embedded-azurite';
  running: boolean;
  pid: number | null;
  port: number;
  restarts: number;
  lastExit: string | null;
}

/**
 * The service's embedded Azurite (in a child process, see EmbeddedAzurite), started again on the
 * same data dir and port whenever it dies without being asked to (killed alone, crashed), with
 * backoff while it cannot start, until `stop()`. The same port keeps every table client and a CLI
 * command's connection string valid.
 *
 * Azurite saves its database every few seconds, so a restarted one may have lost the last writes
 * and checkpoints, together (one file, saved whole). Whoever wrote into it must therefore not go on
 * from what it had in memory: `beforeRestart` stops them, `afterRestart` starts them again from the
 * checkpoints now stored, and they fold again from the log what the lost saves held.
 */
export class SupervisedAzurite {
  private current: EmbeddedAzurite;
  private hooks: RestartHooks = { beforeRestart: async () => undefined, afterRestart: async () => undefined };
  private restarting?: Promise<void>;
  private readonly stopped = new AbortController();
  private restarts = 0;
  private lastExit: string | null = null;
  private running = true;

  private constructor(private readonly options: SupervisedAzuriteOptions, first: EmbeddedAzurite) {
    this.current = first;
  }

  static async start(options: SupervisedAzuriteOptions): Promise<SupervisedAzurite> {
    let supervised: SupervisedAzurite | undefined;
    const first = await EmbeddedAzurite.start({ location: options.location, host: options.host, childProcess: true, onExit: (reason) => supervised?.exited(reason) });
    supervised = new SupervisedAzurite(options, first);
    return supervised;
  }

  get host(): string {
    return this.current.host;
  }

  get tablePort(): number {
    return this.current.tablePort;
  }

  get tableConnectionString(): string {
    return this.current.tableConnectionString;
  }

  /** Sets what happens around a restart (the service, once its projectors exist). */
  supervise(hooks: RestartHooks): void {
    this.hooks = hooks;
  }

  health(): AzuriteHealth {
    return { kind: 'embedded-azurite', running: this.running, pid: this.running ? this.current.childPid ?? null : null, port: this.tablePort, restarts: this.restarts, lastExit: this.lastExit };
  }

  /** The reasons /healthz fails for, while Azurite is down. */
  problems(): string[] {
    return this.running ? [] : [`storage: ${this.lastExit}; restarting it on port ${this.tablePort}`];
  }

  /** No more restarts from now on (a stopping service); resolves once a restart under way is over. */
  async stopRestarting(): Promise<void> {
    this.stopped.abort();
    await this.restarting;
  }

  /** Stops Azurite for good: it saves and exits, or is killed after `timeoutMs` (see EmbeddedAzurite.stop). */
  async stop(timeoutMs?: number): Promise<void> {
    await this.stopRestarting();
    await this.current.stop(timeoutMs);
  }

  private exited(reason: string): void {
    if (this.stopped.signal.aborted) return;
    this.running = false;
    this.lastExit = reason;
    this.options.log(`${reason}; restarting it on the same data and port ${this.tablePort}`);
    // Died again while the service was still taking the last restart in: restart after that one.
    const next = (this.restarting ?? Promise.resolve()).then(() => this.restart(reason));
    this.restarting = next;
    void next.finally(() => {
      if (this.restarting === next) this.restarting = undefined;
    });
  }

  private async restart(reason: string): Promise<void> {
    const { initialDelayMs = 250, maxDelayMs = 5000 } = this.options;
    await this.hooks.beforeRestart(reason).catch((error: unknown) => this.options.log(`before restarting Azurite: ${(error as Error).message}`));
    for (let attempt = 1; !this.stopped.signal.aborted; attempt++) {
      try {
        this.current = await EmbeddedAzurite.start({
          location: this.options.location, host: this.current.host, tablePort: this.current.tablePort, childProcess: true, onExit: (why) => this.exited(why),
        });
      } catch (error) {
        this.options.log(`could not restart the embedded Azurite (attempt ${attempt}): ${(error as Error).message}`);
        await sleep(Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt - 1, 10)), undefined, { signal: this.stopped.signal }).catch(() => undefined);
        continue;
      }
      if (this.stopped.signal.aborted) return; // stop() stops the one just started
      this.restarts++;
      this.running = true;
      this.options.log(`the embedded Azurite runs again (pid ${this.current.childPid}, restart ${this.restarts})`);
      await this.hooks.afterRestart(this.restarts).catch((error: unknown) => this.options.log(`after restarting Azurite: ${(error as Error).message}`));
      return;
    }
  }
}
