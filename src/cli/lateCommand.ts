import { InvalidInputError } from '../core/errors';
import { openRuntime } from '../runtime';
import { readLate } from '../../projections/lateQueries';
import { ProjectionLedgers } from '../projectionLedgers';
import { settingsFrom, type Flags } from './commands';

/**
 * `opsfold late [--projection NAME] [--limit N] [--key K] [--tenant T]`: the late-events ledger of the
 * active windows version (or of a declared projection), one JSON line per metric in log order, as
 * the projection has written it (a service folds within a flush interval; without one, as of the
 * last `start` or `replay`). On Event Hubs every partition's ledger, merged.
 */
export async function lateCommand(flags: Flags & { projection?: string; limit: number; key?: string; tenant?: string }): Promise<number> {
  if (!Number.isSafeInteger(flags.limit) || flags.limit < 1) throw new InvalidInputError(`--limit must be a whole number, 1 or more; got ${flags.limit}`, { parameter: '--limit' });
  for (const name of ['projection', 'key', 'tenant'] as const) {
    if (flags[name] === '') throw new InvalidInputError(`--${name} must not be empty`, { parameter: `--${name}` });
  }
  const settings = settingsFrom(flags);
  const rt = await openRuntime(settings, { log: false });
  try {
    const ledgers = await new ProjectionLedgers({ tables: rt.tables, versions: rt.versions, prefix: settings.tablePrefix }).late(flags.projection);
    if (ledgers === undefined) {
      process.stderr.write(`opsfold late: --projection must be windows or a declared projection's name, got ${JSON.stringify(flags.projection)}\n`);
      return 2;
    }
    for (const entry of await readLate(ledgers, { limit: flags.limit, key: flags.key, tenant: flags.tenant })) process.stdout.write(`${JSON.stringify(entry)}\n`);
    return 0;
  } finally {
    await rt.close();
  }
}
