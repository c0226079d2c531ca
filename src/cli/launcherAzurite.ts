import type { ChildProcess } from 'node:child_process';
import { EmbeddedAzurite } from '../adapters/azurite/EmbeddedAzurite';
import { StorageError } from '../core/errors';
import type { StartingAzurite } from '../startAzuriteEarly';

/** The launcher's word to the capped child about the Azurite it started: where it listens, or why it did not start. */
interface AzuriteMessage {
  opsfoldAzurite: { host: string; tablePort: number } | { error: string };
}

const isAzuriteMessage = (message: unknown): message is AzuriteMessage =>
  typeof message === 'object' && message !== null && 'opsfoldAzurite' in message;

/**
 * The launcher's side (the process that starts a replay's capped Node, see runCapped in main.ts):
 * it starts the embedded Azurite the moment it starts, before the child Node even boots, and tells
 * the child over their IPC channel once it listens. The launcher stops it when the child has exited.
 */
export function handOver(azurite: StartingAzurite, child: ChildProcess): void {
  azurite.ready.then(
    (started) => child.send({ opsfoldAzurite: { host: started.host, tablePort: started.tablePort } } satisfies AzuriteMessage),
    (error: unknown) => child.send({ opsfoldAzurite: { error: (error as Error).message } } satisfies AzuriteMessage),
  ).catch(() => undefined); // the child is gone: nothing to tell
}

/**
 * The child's side: the Azurite its launcher started, once the launcher says where it listens. It
 * is the launcher's to stop: `stop()` here does nothing, and the launcher stops it (saving every
 * table) after this process has exited.
 */
export function fromLauncher(): StartingAzurite {
  const channel = process.channel;
  channel?.ref(); // waiting for the word keeps this process alive
  const ready = new Promise<EmbeddedAzurite>((resolve, reject) => {
    const onMessage = (message: unknown) => {
      if (!isAzuriteMessage(message)) return;
      process.off('message', onMessage);
      channel?.unref();
      const word = message.opsfoldAzurite;
      if ('error' in word) reject(new StorageError(`could not start embedded Azurite: ${word.error}`, { retriable: false }));
      else resolve(EmbeddedAzurite.startedElsewhere(word.host, word.tablePort));
    };
    process.on('message', onMessage);
  });
  ready.catch(() => undefined); // the taker sees the failure
  return { ready };
}
