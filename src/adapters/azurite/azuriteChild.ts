/**
 * Entry point of the Azurite child process that `EmbeddedAzurite.start({ childProcess: true })`
 * forks: starts the servers with the options in argv[2] and reports their ports over IPC.
 */
import { EmbeddedAzurite } from './EmbeddedAzurite';

void EmbeddedAzurite.serveForParent(JSON.parse(process.argv[2] ?? '{}'));
