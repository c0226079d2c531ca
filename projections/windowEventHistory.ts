import type { StoredBlock } from '../src/core/ports';
import { IDS_PER_MS, type FeedEntry, type StreamedWindowEvent } from '../src/core/windowStream';

/**
 * Layout of the durable window-event history, owned by the 'windows' projection version.
 *
 * One block table per hour of ids, `{prefix}WindowEventsV{version}H{hour}` (hour = hours since
 * the epoch of the id's processing time), so pruning beyond the retention is one table drop and
 * needs no row-by-row deletes. Inside, one partition; a block is a chunk of consecutive events
 * (row = first id minus the hour's first id, data = one JSON event a line, appliedThrough = last
 * id), and the head row holds the newest id written, which a restart continues from.
 */

export const HISTORY_PARTITION: readonly string[] = ['events'];
export const IDS_PER_HOUR = 3600 * 1000 * IDS_PER_MS;
/** The head row, above every chunk row (3.6e9 ids an hour < 10^12 - 1, the largest block row). */
export const HEAD_ROW = 10 ** 12 - 1;
/** A chunk spans at most this many ids (10 s), so a resume reads from one span before its id. */
export const CHUNK_SPAN_IDS = 10 * 1000 * IDS_PER_MS;
export const CHUNK_MAX_EVENTS = 2000;

export function historyTablePrefix(tablePrefix: string, version: number): string {
  return `${tablePrefix}WindowEventsV${version}H`;
}

export function historyTable(tablePrefix: string, version: number, hour: number): string {
  return `${historyTablePrefix(tablePrefix, version)}${hour}`;
}

/** The hour of a history table's name, or undefined when the name is not one. */
export function hourOfTable(tablePrefix: string, version: number, name: string): number | undefined {
  const prefix = historyTablePrefix(tablePrefix, version);
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

export const hourOfId = (id: number): number => Math.floor(id / IDS_PER_HOUR);
export const firstIdOfHour = (hour: number): number => hour * IDS_PER_HOUR;

/** The first row a resume after `after` must read in the table of `hour`. */
export function resumeRow(hour: number, after: number): number {
  return hour === hourOfId(after) ? Math.max(0, after - firstIdOfHour(hour) - CHUNK_SPAN_IDS) : 0;
}

/** A table drop is due when every id it can hold is older than the cutoff. */
export function isExpired(hour: number, cutoffId: number): boolean {
  return firstIdOfHour(hour + 1) <= cutoffId;
}

/**
 * Cuts entries (ids increasing) into chunk blocks: a new chunk at an hour boundary, after
 * CHUNK_MAX_EVENTS events, or when its span would pass CHUNK_SPAN_IDS. Returns blocks per hour.
 */
export function toChunks(entries: readonly FeedEntry[]): Map<number, StoredBlock[]> {
  const byHour = new Map<number, StoredBlock[]>();
  let lines: string[] = [];
  let first = 0;
  let last = 0;
  const close = () => {
    if (lines.length === 0) return;
    const hour = hourOfId(first);
    let blocks = byHour.get(hour);
    if (!blocks) byHour.set(hour, (blocks = []));
    blocks.push({ partition: HISTORY_PARTITION, row: first - firstIdOfHour(hour), data: lines.join('\n'), appliedThrough: last });
    lines = [];
  };
  for (const { window, json } of entries) {
    const id = window.id;
    if (lines.length > 0 && (hourOfId(id) !== hourOfId(first) || lines.length >= CHUNK_MAX_EVENTS || id - first > CHUNK_SPAN_IDS)) close();
    if (lines.length === 0) first = id;
    lines.push(json);
    last = id;
  }
  close();
  return byHour;
}

export function headBlock(lastId: number): StoredBlock {
  return { partition: HISTORY_PARTITION, row: HEAD_ROW, data: '', appliedThrough: lastId };
}

/** The entries of a chunk block, as written. */
export function fromChunk(block: StoredBlock): FeedEntry[] {
  if (block.data === '') return [];
  return block.data.split('\n').map((json) => ({ window: JSON.parse(json) as StreamedWindowEvent, json }));
}
