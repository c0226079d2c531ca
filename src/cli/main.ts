import { Command, Option } from 'commander';
import { OpsfoldError } from '../core/errors';
import { importBacklogCommand, pollBacklogCommand } from './backlogCommands';
import { cleanupCommand, configCommand, ingestCommand, rejectsCommand, replayCommand, settingsFrom, simulateCommand, type Flags } from './commands';

const dataDir = () => new Option('--data-dir <dir>', 'data directory (env OPSFOLD_DATA_DIR, default ./data)');

function flagsOf(o: { dataDir?: string }): Flags {
  return { dataDir: o.dataDir };
}

async function exitWith(job: () => Promise<number> | number): Promise<void> {
  try {
    process.exitCode = await job();
  } catch (error) {
    const message = error instanceof OpsfoldError ? error.message : `unexpected error: ${(error as Error).message}`;
    process.stderr.write(`opsfold: ${message}\n`);
    process.exitCode = 1;
  }
}

export function main(argv: string[]): void {
  const program = new Command('opsfold').description('Event-sourced stream processor for IT-operations telemetry.').showHelpAfterError();

  program.command('start').description('run the service: log, projectors, read API and dashboard')
    .option('--port <port>', 'HTTP port (env PORT, default 8080)').option('--host <host>', 'listen address (env HOST, default 127.0.0.1)')
    .option('--no-simulate', 'do not run the built-in SPOC simulator').addOption(dataDir())
    .action((o) => exitWith(async () => {
      const { startService } = require('../main') as typeof import('../main');
      const settings = settingsFrom({ ...flagsOf(o), port: o.port, host: o.host, simulate: o.simulate === false ? false : undefined });
      const service = await startService(settings);
      await new Promise<void>((resolve) => {
        const stop = () => void service.stop().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      return 0;
    }));

  program.command('ingest').argument('<file>', 'a SPOC message (JSON) or NDJSON file, or - for stdin')
    .description('append SPOC messages through the same validation as the API').addOption(dataDir())
    .action((file, o) => exitWith(() => ingestCommand(file, flagsOf(o))));

  program.command('import-backlog').argument('<file>', 'CSV with a header naming timestamp and backlog_incident_count (other columns are ignored)')
    .description("append one team's backlog history; all or nothing, with line-numbered errors; the same rows twice add nothing")
    .requiredOption('--team <name>', 'the team the history belongs to')
    .requiredOption('--timezone <iana>', 'time zone of timestamps without an offset, e.g. America/New_York')
    .addOption(dataDir())
    .addHelpText('after', '\nA naive time that occurs twice when the clocks go back is the earlier instant; one the clocks skip is an error.\nExample: opsfold import-backlog --team EUC --timezone America/New_York euc_backlog.csv')
    .action((file, o) => exitWith(() => importBacklogCommand(file, { team: o.team, timezone: o.timezone }, flagsOf(o))));

  program.command('poll-backlog').description("read each BACKLOG_TEAMS team's open incident count from ServiceNow now, once, and append the samples")
    .option('--team <name>', 'only this team of BACKLOG_TEAMS').addOption(dataDir())
    .action((o) => exitWith(() => pollBacklogCommand({ team: o.team }, flagsOf(o))));

  program.command('rejects').description('list the rejects ledger (JSON lines)').addOption(dataDir())
    .option('--limit <n>', 'at most this many rows', '1000')
    .action((o) => exitWith(() => rejectsCommand({ ...flagsOf(o), limit: Number(o.limit) })));

  program.command('replay').description('rebuild projections from the log into a new version, then switch to it')
    .option('--projection <name>', 'windows, rejects, backlog or all', 'all').addOption(dataDir())
    .action((o) => exitWith(() => replayCommand(o.projection, flagsOf(o))));

  program.command('simulate').description('append synthetic SPOC traffic to the log (labelled simulated)')
    .option('--tenants <n>', 'tenants', '10').option('--vms <n>', 'VMs per tenant', '5').option('--keys <n>', 'counter keys', '5')
    .option('--minutes <n>', 'minutes of data', '30').option('--late <fraction>', 'fraction of messages sent 5 minutes late', '0.1')
    .option('--start <epochSeconds>', 'first minute (default: minutes ago)').option('--seed <n>', 'random seed', '1')
    .option('--to <target>', 'log (the file log, or the Event Hub when configured) or servicebus (the SPOC queue)', 'log').addOption(dataDir())
    .action((o) => exitWith(() => simulateCommand({
      tenants: Number(o.tenants), vms: Number(o.vms), keys: Number(o.keys), minutes: Number(o.minutes), late: Number(o.late),
      start: o.start === undefined ? undefined : Number(o.start), seed: Number(o.seed), to: o.to,
    }, flagsOf(o))));

  program.command('cleanup').description("drop every version of a projection's tables").requiredOption('--projection <name>', 'windows, rejects or backlog').addOption(dataDir())
    .action((o) => exitWith(() => cleanupCommand(o.projection, flagsOf(o))));

  program.command('config').description('print the effective settings and where each came from (secrets masked)').addOption(dataDir())
    .action((o) => exitWith(() => configCommand(flagsOf(o))));

  program.parseAsync(['node', 'opsfold', ...argv]).catch((error) => {
    process.stderr.write(`opsfold: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}
