import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { checkLog, type DamageReport } from '../adapters/fileLog/checkLog';
import { DAMAGED_DIR } from '../adapters/fileLog/keepAside';
import { salvageLog } from '../adapters/fileLog/salvageLog';
import { ConfigError, InvalidInputError } from '../core/errors';
import { runningService } from '../runtime';
import { settingsFrom, type Flags } from './commands';

const note = (line: string) => process.stderr.write(`opsfold log: ${line}\n`);

/** The file log's directory in the data dir; one that does not exist is a mistyped --data-dir, not a clean log. */
async function logDir(flags: Flags): Promise<{ dataDir: string; dir: string }> {
  const { dataDir } = settingsFrom(flags);
  const dir = join(dataDir, 'log');
  const found = await fs.stat(dir).catch(() => undefined);
  if (!found?.isDirectory()) throw new InvalidInputError(`there is no file log in ${dir} (is --data-dir right?)`, { parameter: '--data-dir' });
  return { dataDir, dir };
}

const describe = (d: DamageReport) => `${d.segment} offsets [${d.start}, ${d.end}) (position ${d.position}, ${d.bytes} bytes): ${d.reason}${d.kind === 'torn' ? ', a torn tail' : ''}`;

/** `opsfold log check`: every damaged range of the file log, and the readable records; exit 1 when any. */
export async function logCheckCommand(flags: Flags): Promise<number> {
  const { dir } = await logDir(flags);
  const check = await checkLog(dir);
  process.stdout.write(`${JSON.stringify(check)}\n`);
  if (check.damaged.length === 0) {
    note(`clean: ${check.records} readable records in ${check.segments} ${check.segments === 1 ? 'segment' : 'segments'}`);
    return 0;
  }
  for (const d of check.damaged) note(`damaged: ${describe(d)}`);
  note(`${check.damaged.length} damaged ${check.damaged.length === 1 ? 'range' : 'ranges'}, ${check.records} readable records; `
    + `\`opsfold log salvage\` (with the service stopped) moves the damage into ${join(dir, DAMAGED_DIR)} and keeps every readable record at its position`);
  return 1;
}

/** `opsfold log salvage`: moves every damaged range aside (see salvageLog), only with no service on the data dir. */
export async function logSalvageCommand(flags: Flags): Promise<number> {
  const { dataDir, dir } = await logDir(flags);
  const running = await runningService(dataDir);
  if (running) {
    throw new ConfigError('OPSFOLD_DATA_DIR', `a service (pid ${running.pid}) runs on the data dir ${dataDir}; stop it first: salvage rewrites damaged parts of the log under its readers`);
  }
  const report = await salvageLog(dir);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  for (const step of report.steps) {
    const done = step.action === 'left' ? `left as it is: ${step.why}`
      : step.action === 'padded' ? `${step.keptAt ? `moved to ${step.keptAt}` : 'missing'}, replaced by padding of the same length`
        : `moved to ${step.keptAt} and cut off`;
    note(`${describe(step)}: ${done}`);
  }
  const left = report.steps.filter((s) => s.action === 'left').length;
  if (report.steps.length === 0) note(`nothing to salvage: ${report.records} readable records`);
  else {
    note(`kept all ${report.records} readable records, each at its position, so the projections' checkpoints stay valid and \`opsfold start\` carries on; `
      + 'windows folded from the damaged records before they were damaged stay until `opsfold replay --projection all` rebuilds every projection from what is readable now');
  }
  return left > 0 ? 1 : 0;
}
