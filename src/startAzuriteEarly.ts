import { join } from 'node:path';
import { EmbeddedAzurite, type EmbeddedAzuriteOptions } from './adapters/azurite/EmbeddedAzurite';
import { DataDirLock } from './adapters/dataDirLock/DataDirLock';
import type { Settings } from './config/settings';

/**
 * The Azurite a command starts for itself (no service runs on the data dir): in a process of its
 * own, persisted under the data dir, saved once, when the command stops it (see `autosave`).
 */
export function commandAzurite(location: string): EmbeddedAzuriteOptions {
  return { location, childProcess: true, autosave: false };
}

/**
 * How long a command waits for its Azurite to save and exit (the service has 2.5 s): that one save
 * is everything the command wrote, and killing it midway would lose it after the command reported
 * success. At 10M metrics the save of a rebuild takes seconds.
 */
export const COMMAND_AZURITE_STOP_MS = 300_000;

/** An embedded Azurite on its way up (a promise of its own, so that awaiting the start does not await it). */
export interface StartingAzurite {
  ready: Promise<EmbeddedAzurite>;
}

/**
 * Starts the embedded Azurite that a command on this data dir is about to open (openRuntime's
 * `azurite` option takes it over), before the command loads its modules: Azurite's start-up (~0.7 s,
 * its own Node loading its own modules) then runs beside that loading and the opening of the log,
 * on the other core, instead of after them. Loads nothing heavy itself.
 *
 * Resolves to undefined when the command would not start one: Table Storage is configured, or a
 * process holds the data dir (a running service, whose Azurite the command uses; openRuntime asks it).
 * `ready` settles when Azurite listens; whoever takes it stops it.
 *
 * @example
 * const azurite = await startAzuriteEarly(settings);
 * const { replayCommand } = require('./cli/commands');   // loads while Azurite starts
 * await replayCommand('all', flags, { azurite });
 */
export async function startAzuriteEarly(settings: Settings): Promise<StartingAzurite | undefined> {
  if (settings.tablesConnectionString !== undefined || settings.tablesEndpoint !== undefined) return undefined;
  const held = await DataDirLock.holder(settings.dataDir).then((holder) => holder !== undefined, () => true);
  if (held) return undefined;
  // The fork happens now, synchronously: the caller's next `require` runs while the child starts.
  const starting = EmbeddedAzurite.start(commandAzurite(join(settings.dataDir, 'azurite')));
  starting.catch(() => undefined); // the taker sees the failure; unhandled it would end the process before
  return { ready: starting };
}
