import { InvalidInputError } from '../src/core/errors';
import type { RowTable } from '../src/core/ports';
import { WINDOW_SECONDS, type ProjectionDefinition } from '../src/core/projectionDefinition';
import { groupDigest, mergeShares, rangeOf, windowOfRow } from './declaredRows';
import { eventOf, NEWEST } from './declaredProjection';
import type { WindowState } from './declaredWindows';

/** How many windows a read answers when it names no `from`. */
export const DEFAULT_WINDOWS = 60;
/** The most windows one read may span (a week of 1m windows, as get-data's `minutes`): each 100 are a storage partition to read. */
export const MAX_WINDOWS = 10_080;

export interface DeclaredQuery {
  /** Window starts in [from, to] (epoch seconds, floored to the window); by default the newest 60 windows. */
  from?: number;
  to?: number;
  /** Grouped field → the value a group must have. */
  filters?: ReadonlyMap<string, string>;
}

export interface DeclaredAnswer {
  name: string;
  window: string;
  groupBy: readonly string[];
  data: DeclaredDatum[];
}

/** One window revision of a group, as the read API answers it. */
export interface DeclaredDatum {
  windowStart: number;
  group: Record<string, string | null>;
  revision: number;
  [aggregate: string]: unknown;
}

/**
 * A declared projection's windows over a range, each log partition's share merged (the tables of
 * every scope of the active version), filtered by group values, in window order, then group order.
 * A range of more than MAX_WINDOWS windows is refused, naming `from`.
 */
export async function readDeclared(definition: ProjectionDefinition, scopes: readonly RowTable[], query: DeclaredQuery): Promise<DeclaredAnswer> {
  const size = WINDOW_SECONDS[definition.window];
  const floor = (t: number) => Math.floor(t / size) * size;
  let to = query.to === undefined ? undefined : floor(query.to);
  if (to === undefined) {
    const newest = await Promise.all(scopes.map((t) => t.get(NEWEST.partition, NEWEST.row)));
    const starts = newest.filter((r) => r !== undefined).map((r) => Number(r!.fields.windowStart));
    to = starts.length > 0 ? Math.max(...starts) : undefined;
  }
  const answer: DeclaredAnswer = { name: definition.name, window: definition.window, groupBy: definition.groupBy, data: [] };
  if (to === undefined) return answer;
  const from = query.from === undefined ? to - (DEFAULT_WINDOWS - 1) * size : floor(query.from);
  if (from > to) return answer;
  const spanned = (to - from) / size + 1;
  if (spanned > MAX_WINDOWS) {
    throw new InvalidInputError(`parameter "from": the range spans ${spanned} windows of ${definition.window}; at most ${MAX_WINDOWS} (narrow from and to)`, { parameter: 'from' });
  }
  const range = rangeOf(definition.window, from, to);
  const shares = new Map<string, WindowState[]>();
  for (const table of scopes) {
    for (const partition of range.partitions) {
      for (const row of await table.list({ partition: [partition], fromRow: range.fromRow, toRow: range.toRow })) {
        const w = windowOfRow(row);
        const id = `${w.windowStart}|${groupDigest(w.group)}`;
        shares.set(id, [...(shares.get(id) ?? []), w]);
      }
    }
  }
  const fieldIndex = new Map(definition.groupBy.map((field, i) => [field as string, i]));
  const wanted = (w: WindowState) => [...(query.filters ?? new Map<string, string>())].every(([field, value]) => w.group[fieldIndex.get(field)!] === value);
  const windows = [...shares.values()].map(mergeShares).filter(wanted)
    .sort((a, b) => a.windowStart - b.windowStart || compareGroups(a.group, b.group));
  answer.data = windows.map((w) => {
    const { name: _name, ...event } = eventOf(definition, w);
    return event as DeclaredDatum;
  });
  return answer;
}

/** Groups in the order of their values, field by field; null (a metric without the field) first. */
function compareGroups(a: readonly (string | null)[], b: readonly (string | null)[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    if (a[i] === null) return -1;
    if (b[i] === null) return 1;
    return a[i]! < b[i]! ? -1 : 1;
  }
  return 0;
}
