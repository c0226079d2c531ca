import { InvalidInputError } from '../core/errors';
import { openRuntime } from '../runtime';
import { readLate } from '../../projections/lateQueries';
import { openEachScope } from '../../projections/projectionTables';
import { windowsProjection } from '../../projections/windowsProjection';
import { settingsFrom, type Flags } from './commands';

/**
 * `opsfold late [--limit N] [--key K] [--tenant T]`: the late-events ledger of the active windows
 * version, one JSON line per metric in log order, as the windows projection has written it (a
 * service folds within a flush interval; without one, as of the last `start` or `replay`). On
 * Event Hubs every partition's ledger, merged.
 */
export async function lateCommand(flags: Flags & { limit: number; key?: string; tenant?: string }): Promise<number> {
  if (!Number.isSafeInteger(flags.limit) || flags.limit < 1) throw new InvalidInputError(`--limit must be a whole number, 1 or more; got ${flags.limit}`, { parameter: '--limit' });
  for (const name of ['key', 'tenant'] as const) {
    if (flags[name] === '') throw new InvalidInputError(`--${name} must not be empty`, { parameter: `--${name}` });
  }
  const settings = settingsFrom(flags);
  const rt = await openRuntime(settings, { log: false });
  try {
    const version = await rt.versions.activeOrFirst('windows');
    const ledgers = await openEachScope(rt.tables, windowsProjection.tables.late, { prefix: settings.tablePrefix, version, scopes: await rt.versions.scopes('windows', version) });
    for (const entry of await readLate(ledgers, { limit: flags.limit, key: flags.key, tenant: flags.tenant })) process.stdout.write(`${JSON.stringify(entry)}\n`);
    return 0;
  } finally {
    await rt.close();
  }
}
