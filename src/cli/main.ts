import { Argument, Command, CommanderError, Option } from 'commander';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { InvalidInputError, OpsfoldError } from '../core/errors';
import type { Flags } from './commands';
import type { StartingAzurite } from '../startAzuriteEarly';
import { stopOnSignals } from './stopOnSignals';
import { ArgumentError, checkArgumentsByName, oneOf, readableFile } from './argParsers';
import { PROJECTIONS } from '../../projections/projectionCatalog';
import { REBUILD_HEAP_MB, rebuildEnv, rebuildNodeFlags } from '../rebuildNode';

/**
 * Each command's module is loaded when the command runs: the Azure SDKs, Azurite and the
 * projections cost 0.4 s to load, which `--version`, `--help` and `opsfold ingest` (the file log
 * only) do not need.
 */
const commands = () => require('./commands') as typeof import('./commands');
const backlogCommands = () => require('./backlogCommands') as typeof import('./backlogCommands');
const ingestCommands = () => require('./ingestCommand') as typeof import('./ingestCommand');
const logCommands = () => require('./logCommands') as typeof import('./logCommands');
const lateCommands = () => require('./lateCommand') as typeof import('./lateCommand');
const projectionCommands = () => require('./projectionCommands') as typeof import('./projectionCommands');

/** `--projection`: a built-in projection, a declared one's name (checked against the catalog when the command runs), or all. */
const projectionName = (value: string): string => {
  if (value === 'all' || /^[a-z][a-z0-9_]{0,47}$/.test(value)) return value;
  throw new ArgumentError('--projection', `--projection must be windows, rejects, backlog, a declared projection's name or all, got ${JSON.stringify(value)}`);
};

/**
 * A name that is not built-in must be a declared projection's. Where none can be declared (the
 * file log's embedded Table Storage does not exist yet), the name is refused now, before anything
 * is started or created; otherwise the command checks it against the declared ones.
 */
function refuseUndeclared(projection: string, dir: string | undefined): void {
  if (projection === 'all' || (PROJECTIONS as readonly string[]).includes(projection)) return;
  const settings = commands().settingsFrom({ dataDir: dir });
  if (settings.tablesConnectionString !== undefined || settings.tablesEndpoint !== undefined) return;
  if (existsSync(join(settings.dataDir, 'azurite'))) return;
  throw new ArgumentError('--projection', `--projection must be windows, rejects, backlog, all or a declared projection's name, got ${JSON.stringify(projection)} (no projection is declared in ${settings.dataDir})`);
}

const dataDir = () => new Option('--data-dir <dir>', 'data directory (env OPSFOLD_DATA_DIR, default ./data)');

function flagsOf(o: { dataDir?: string }): Flags {
  return { dataDir: o.dataDir };
}

async function exitWith(job: () => Promise<number> | number): Promise<void> {
  try {
    process.exitCode = await job();
  } catch (error) {
    const message = error instanceof OpsfoldError || error instanceof ArgumentError ? error.message : `unexpected error: ${(error as Error).message}`;
    process.stderr.write(`opsfold: ${message}\n`);
    process.exitCode = error instanceof ArgumentError ? 2 : 1;
  }
}

/**
 * Runs a command that rebuilds from the log with the embedded Azurite it is about to open already
 * starting (see startAzuriteEarly): Azurite's start-up runs while the command's modules load. It is
 * stopped at the end whether or not the command got as far as taking it over (a second stop does nothing).
 */
async function withAzuriteEarly(flags: Flags, job: (azurite: StartingAzurite | undefined) => Promise<number>): Promise<number> {
  const azurite = azuriteFromLauncher ? launcherAzurite().fromLauncher() : await startEarly(flags);
  try {
    return await job(azurite);
  } finally {
    await azurite?.ready.then((started) => started.stop(), () => undefined);
  }
}

/** The embedded Azurite a command on the data dir of `flags` will open, starting now (see startAzuriteEarly). */
async function startEarly(flags: Flags): Promise<StartingAzurite | undefined> {
  const { loadSettings } = require('../config/settings') as typeof import('../config/settings');
  const { startAzuriteEarly } = require('../startAzuriteEarly') as typeof import('../startAzuriteEarly');
  return startAzuriteEarly(loadSettings(flags).settings);
}

const launcherAzurite = () => require('./launcherAzurite') as typeof import('./launcherAzurite');

/** Whether this is a capped replay whose launcher started its Azurite (runCapped): it waits for the launcher's word. */
let azuriteFromLauncher = false;

/** The version in package.json (beside bin/ in a clone and in the Docker image). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(resolve(__dirname, '../../../package.json'), 'utf8')) as { version: string }).version;
}

const USAGE_HINT = '(add --help for usage)';

const CAPPED_CHILD = 'OPSFOLD_CAPPED_CHILD';

/** Node's flags, then NODE_OPTIONS' (the flags win where both set an option), e.g. `--max-old-space-size=640`. */
const nodeFlagsGiven = (): string[] => [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];

/** `--name` or `--name=…`, written with dashes or underscores; the value in group 1. */
const flagPattern = (name: string): RegExp => new RegExp(`^--${name.replace(/-/g, '[-_]')}(?:=(.*))?$`);

/** Whether node's flags or NODE_OPTIONS set this V8 option (written with dashes), e.g. a heap limit someone chose. */
function hasNodeFlag(name: string): boolean {
  const flag = flagPattern(name);
  return nodeFlagsGiven().some((a) => flag.test(a));
}

/** The value node's flags or NODE_OPTIONS give this option, or undefined. */
function nodeFlagValue(name: string): string | undefined {
  const flag = flagPattern(name);
  for (const a of nodeFlagsGiven()) {
    const value = flag.exec(a)?.[1];
    if (value !== undefined) return value;
  }
  return undefined;
}

const hasHeapLimit = (): boolean => hasNodeFlag('max-old-space-size');

/**
 * Runs this command again in a child Node with `--max-old-space-size`: V8 takes a heap limit only at
 * start. Signals reach the child (a terminal's Ctrl-C reaches both; SIGTERM is passed on), and the
 * child stops when this process goes away (its IPC channel closes). Resolves with the child's exit code.
 */
function runCapped(heapMb: number, argv: readonly string[], azurite?: StartingAzurite): Promise<number> {
  // Where the old space starts, the young generation and V8's thread pool too (see rebuildNodeFlags), unless node's flags set them.
  const child = spawn(process.execPath, [...process.execArgv, ...rebuildNodeFlags(heapMb, hasNodeFlag), process.argv[1], ...argv], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...rebuildEnv(process.env), [CAPPED_CHILD]: azurite ? 'azurite' : '1' },
  });
  // The Azurite started here before the child (it boots meanwhile) is the child's to use and this process's to stop.
  if (azurite) launcherAzurite().handOver(azurite, child);
  const stopAzurite = async () => {
    const { COMMAND_AZURITE_STOP_MS } = require('../startAzuriteEarly') as typeof import('../startAzuriteEarly');
    await azurite?.ready.then((started) => started.stop(COMMAND_AZURITE_STOP_MS), () => undefined);
  };
  const pass = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onTerm = pass('SIGTERM');
  const onInt = () => undefined; // the terminal sent it to the child too
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => void stopAzurite().finally(() => reject(error)));
    child.once('exit', (code, signal) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      void stopAzurite().finally(() => resolve(code ?? (signal === 'SIGINT' ? 130 : 1)));
    });
  });
}

export function main(argv: string[]): void {
  // Started by runCapped: stop when the parent does, as the parent's own work would have.
  const capped = process.env[CAPPED_CHILD];
  if (capped !== undefined && process.send !== undefined) {
    azuriteFromLauncher = capped === 'azurite';
    delete process.env[CAPPED_CHILD];
    process.once('disconnect', () => process.exit(1));
    process.channel?.unref(); // the channel alone keeps no one waiting
  }
  // A wrong command line (unknown command or option, a missing or wrong argument) exits 2, before any
  // work starts; a failure of the work itself exits 1. Subcommands inherit exitOverride.
  const program = new Command('opsfold').description('Event-sourced stream processor for IT-operations telemetry.')
    .version(packageVersion(), '-V, --version', 'print the version').exitOverride().showHelpAfterError(USAGE_HINT)
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'opsfold: ')) });

  program.command('start').description('run the service: log, projectors, read API and dashboard')
    .option('--port <port>', 'HTTP port (env PORT, default 8080)').option('--host <host>', 'listen address (env HOST, default 127.0.0.1)')
    .option('--no-simulate', 'do not run the built-in SPOC simulator').addOption(dataDir())
    .action((o) => exitWith(async () => {
      const { startService } = require('../main') as typeof import('../main');
      const settings = commands().settingsFrom({ ...flagsOf(o), port: o.port, host: o.host, simulate: o.simulate === false ? false : undefined });
      const service = await startService(settings);
      const code = await stopOnSignals(service, (line) => process.stderr.write(`opsfold: ${line}\n`));
      // Whatever timer or socket a stopped piece left behind, the process ends now.
      process.exit(code);
    }));

  program.command('ingest').addArgument(new Argument('<file>', 'a SPOC message (JSON) or NDJSON file, or - for stdin').argParser(readableFile('FILE', { stdin: true })))
    .description('append SPOC messages through the same validation as the API').addOption(dataDir())
    .action((file, o) => exitWith(() => ingestCommands().ingestCommand(file, flagsOf(o))));

  program.command('import-backlog').argument('<file>', 'CSV with a header naming a time column (timestamp or time) and a count column (backlog_incident_count or inc_count); other columns are ignored')
    .description("append one team's backlog history; all or nothing, with line-numbered errors; the same rows twice add nothing")
    .requiredOption('--team <name>', 'the team the history belongs to')
    .requiredOption('--timezone <iana>', 'time zone of timestamps without an offset (the zone of the machine that wrote them), e.g. America/Chicago')
    .option('--time-column <name>', 'the header of the time column, when it is neither timestamp nor time')
    .option('--count-column <name>', 'the header of the count column, when it is neither backlog_incident_count nor inc_count')
    .option('--keep-creation-row', 'import the 0 that the original job wrote as the first row of an inc_count file when it created it (left out by default)')
    .addOption(dataDir())
    .addHelpText('after', '\nA naive time that occurs twice when the clocks go back is the earlier instant; one the clocks skip is an error.\nExample: opsfold import-backlog --team EUC --timezone America/Chicago backlog_data_euc_incidents.csv')
    .action((file, o) => exitWith(() => backlogCommands().importBacklogCommand(file, {
      team: o.team, timezone: o.timezone, timeColumn: o.timeColumn, countColumn: o.countColumn, keepCreationRow: o.keepCreationRow === true,
    }, flagsOf(o))));

  program.command('poll-backlog').description("read each BACKLOG_TEAMS team's open incident count from ServiceNow now, once, and append the samples")
    .option('--team <name>', 'only this team of BACKLOG_TEAMS').addOption(dataDir())
    .action((o) => exitWith(() => backlogCommands().pollBacklogCommand({ team: o.team }, flagsOf(o))));

  program.command('rejects').description('list the rejects ledger (JSON lines)').addOption(dataDir())
    .option('--limit <n>', 'at most this many rows', '1000')
    .action((o) => exitWith(() => commands().rejectsCommand({ ...flagsOf(o), limit: Number(o.limit) })));

  program.command('late').description('list the late-events ledger: metrics later than the allowed lateness, in log order (JSON lines)').addOption(dataDir())
    .option('--projection <name>', 'windows (the default) or a declared projection\'s name')
    .option('--limit <n>', 'at most this many metrics', '1000').option('--key <key>', 'only this counter key').option('--tenant <tenant>', 'only this tenant')
    .action((o) => exitWith(() => lateCommands().lateCommand({ ...flagsOf(o), projection: o.projection, limit: Number(o.limit), key: o.key, tenant: o.tenant })));
  program.command('quarantine').description('list what the projections set aside: records or metrics they could not apply (JSON lines)').addOption(dataDir())
    .option('--projection <name>', 'only this projection: windows, rejects, backlog or a declared projection\'s name').option('--limit <n>', 'at most this many entries', '1000')
    .action((o) => exitWith(() => commands().quarantineCommand({ ...flagsOf(o), projection: o.projection, limit: Number(o.limit) })));

  program.command('replay').description('rebuild projections from the log into a new version, then switch to it')
    .addOption(new Option('--projection <name>', 'windows, rejects, backlog, a declared projection\'s name, or all').default('all').argParser(projectionName)).addOption(dataDir())
    .option('--heap-mb <n>', "V8's old-space limit for the rebuild, which keeps its memory flat however long the log (0: V8's own default; ignored when NODE_OPTIONS or node's flags set one)", String(REBUILD_HEAP_MB))
    .option('--allow-gap', 'on Event Hubs: go on past history that neither Event Hubs Capture nor the hub holds (printed, and recorded in the summary) instead of refusing')
    .action((o) => exitWith(async () => {
      const heapMb = Number(o.heapMb);
      if (!Number.isInteger(heapMb) || heapMb < 0) throw new InvalidInputError(`--heap-mb must be a whole number of MB, 0 or more, got ${o.heapMb}`);
      refuseUndeclared(o.projection, o.dataDir);
      if (heapMb > 0 && !hasHeapLimit()) return runCapped(heapMb, argv, await startEarly(flagsOf(o)));
      const tunables = process.env.GLIBC_TUNABLES === undefined ? '' : `, GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES}`;
      const pool = nodeFlagValue('v8-pool-size');
      const threads = pool === undefined ? '' : `, V8 pool ${pool} thread${pool === '1' ? '' : 's'}`;
      process.stderr.write(`opsfold replay: heap limit ${Math.round(getHeapStatistics().heap_size_limit / 2 ** 20)} MB${threads}${tunables}\n`);
      return withAzuriteEarly(flagsOf(o), (azurite) => commands().replayCommand(o.projection, flagsOf(o), { allowGap: o.allowGap === true, azurite }));
    }));

  const projection = program.command('projection').description('projections analysts declare (a JSON definition: see the README)');
  projection.command('add').addArgument(new Argument('<file>', 'the definition, a JSON file').argParser(readableFile('FILE')))
    .description('validate a definition, build it from the whole log into a new version (progress bar) and make it live; a running service follows it within seconds')
    .addOption(dataDir())
    .action((file, o) => exitWith(() => withAzuriteEarly(flagsOf(o), (azurite) => projectionCommands().projectionAddCommand(file, flagsOf(o), { azurite }))));
  projection.command('list').description('every declared projection, its definition, status (building or live) and version, as JSON lines').addOption(dataDir())
    .action((o) => exitWith(() => projectionCommands().projectionListCommand(flagsOf(o))));
  projection.command('drop').argument('<name>', 'the declared projection').description('forget a declared projection and drop its tables (every version)').addOption(dataDir())
    .action((name, o) => exitWith(() => projectionCommands().projectionDropCommand(name, flagsOf(o))));

  program.command('simulate').description('append synthetic SPOC traffic to the log (labelled simulated)')
    .option('--tenants <n>', 'tenants', '10').option('--vms <n>', 'VMs per tenant', '5').option('--keys <n>', 'counter keys', '5')
    .option('--minutes <n>', 'minutes of data', '30').option('--late <fraction>', 'fraction of messages sent 5 minutes late', '0.1')
    .option('--start <epochSeconds>', 'first minute (default: minutes ago)').option('--seed <n>', 'random seed', '1')
    .addOption(new Option('--to <target>', 'log (the file log, or the Event Hub when configured) or servicebus (the SPOC queue)').default('log').argParser(oneOf('--to', ['log', 'servicebus']))).addOption(dataDir())
    .action((o) => exitWith(() => commands().simulateCommand({
      tenants: Number(o.tenants), vms: Number(o.vms), keys: Number(o.keys), minutes: Number(o.minutes), late: Number(o.late),
      start: o.start === undefined ? undefined : Number(o.start), seed: Number(o.seed), to: o.to,
    }, flagsOf(o))));

  program.command('cleanup').description("drop every version of a projection's tables")
    .addOption(new Option('--projection <name>', 'windows, rejects or backlog').makeOptionMandatory().argParser(oneOf('--projection', PROJECTIONS))).addOption(dataDir())
    .action((o) => exitWith(() => commands().cleanupCommand(o.projection, flagsOf(o))));

  const log = program.command('log').description('check the file log for damage, and move damage aside')
    .addHelpText('after', '\nA read that meets damage stops `start` and `replay` with its position: `log check` lists every damaged range,\n`log salvage` moves them aside into <data-dir>/log/damaged/ and keeps every readable record at its position.');
  log.command('check').description('read every record of every segment; list every damaged range (segment, offsets, reason) and count the readable records; exit 1 when damaged')
    .addOption(dataDir())
    .action((o) => exitWith(() => logCommands().logCheckCommand(flagsOf(o))));
  log.command('salvage').description('move every damaged range into <data-dir>/log/damaged/ and put padding of the same length in its place, keeping every readable record at its position')
    .addOption(dataDir())
    .addHelpText('after', '\nRefused while a service runs on the data dir: stop it first, and run no replay meanwhile. Positions do not move, so the\nprojections\' checkpoints stay valid; `opsfold replay --projection all` afterwards drops what was folded from the damaged records.')
    .action((o) => exitWith(() => logCommands().logSalvageCommand(flagsOf(o))));

  program.command('config').description('print every setting, where each came from (secrets masked) and what is wrong with each wrong one; exit 2 when any is wrong').addOption(dataDir())
    .action((o) => exitWith(() => commands().configCommand(flagsOf(o))));

  checkArgumentsByName(program);
  program.parseAsync(['node', 'opsfold', ...argv]).catch((error) => {
    // Commander has said what was wrong (or printed the help or the version, exit 0).
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`opsfold: ${(error as Error).message}\n`);
    if (error instanceof ArgumentError) process.stderr.write(`${USAGE_HINT}\n`);
    process.exitCode = error instanceof ArgumentError ? 2 : 1;
  });
}
