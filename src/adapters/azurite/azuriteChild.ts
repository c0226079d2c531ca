/**
 * Entry point of the Azurite child process that `EmbeddedAzurite.start({ childProcess: true })`
 * forks: starts the servers with the options in argv[2] and reports their ports over IPC.
 */
import Module from 'node:module';
import { EmbeddedAzurite } from './EmbeddedAzurite';

/**
 * Azurite's telemetry module loads Application Insights (with OpenTelemetry: ~0.2 s, a third of the
 * child's start-up, which every `opsfold replay` waits for) at load time, and uses it only once
 * telemetry is enabled, which this child never does (Azurite enables it from its own command line).
 * It gets an empty module instead. Should Azurite ever need the module here, the child fails to start
 * with Azurite's error (every integration test starts one).
 */
function skipTelemetryModule(): void {
  try {
    const telemetry = require.resolve('azurite/dist/src/common/Telemetry');
    const file = require.resolve('applicationinsights', { paths: [telemetry] });
    const empty = new Module(file);
    empty.filename = file;
    empty.loaded = true;
    require.cache[file] = empty;
  } catch {
    // laid out otherwise (another Azurite version): loaded as it is
  }
}

skipTelemetryModule();
void EmbeddedAzurite.serveForParent(JSON.parse(process.argv[2] ?? '{}'));
