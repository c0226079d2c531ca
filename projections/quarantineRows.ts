import type { Row } from '../src/core/ports';
import { MAX_RAW_CHARS, MAX_REASON_CHARS, storableText, type QuarantineEntry } from '../src/core/quarantine';
import { positionRow } from './projectionCatalog';

/** An entry as listed by `opsfold quarantine` and `GET /v1/quarantine`. */
export interface ListedQuarantineEntry {
  projection: string;
  position: number;
  index: number | null;
  reason: string;
  raw: string | null;
  /** When it was set aside (ISO 8601). */
  quarantinedAt: string;
}

/** All entries of one ledger table share a partition: its rows sort by log position. */
export const QUARANTINE_PARTITION = ['quarantine'] as const;

/**
 * The row key of an entry: its position and metric index, or the position and `record` when the
 * whole record was refused. The same record refused again (after a restart) lands on the same row.
 */
export function quarantineRowKey(position: number, index?: number): string {
  return index === undefined ? `${String(position).padStart(16, '0')}-record` : positionRow(position, index);
}

/** The first row key at or after `position`, for listing what a re-read from there will meet. */
export function quarantineRowFrom(position: number): string {
  return String(position).padStart(16, '0');
}

export function quarantineRow(entry: QuarantineEntry, atMs: number): Row {
  return {
    partition: QUARANTINE_PARTITION,
    row: quarantineRowKey(entry.position, entry.index),
    fields: {
      projection: entry.projection,
      position: entry.position,
      index: entry.index ?? null,
      reason: storableText(entry.reason, MAX_REASON_CHARS),
      raw: entry.raw === undefined ? null : storableText(entry.raw, MAX_RAW_CHARS),
      quarantinedAt: new Date(atMs).toISOString(),
    },
  };
}

export function listedEntry(row: Row): ListedQuarantineEntry {
  const f = row.fields;
  return {
    projection: String(f.projection),
    position: Number(f.position),
    index: typeof f.index === 'number' ? f.index : null,
    reason: String(f.reason),
    raw: typeof f.raw === 'string' ? f.raw : null,
    quarantinedAt: String(f.quarantinedAt),
  };
}
