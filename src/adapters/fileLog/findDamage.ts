import { findNextValidRecord, HEADER_BYTES, isPadding, payloadLength, recordFault, type RecordFault } from './recordFormat';

/**
 * Why a range of a segment is not readable: a record fault at its start, bytes a sealed segment lacks
 * before the next segment's base, or bytes it holds beyond that base (which no reader ever reaches).
 */
export type DamageReason = RecordFault | 'missing bytes' | 'beyond the next segment';

/** Consecutive bytes `[start, end)` of a segment that hold no readable record. */
export interface DamagedRange {
  start: number;
  end: number;
  reason: DamageReason;
  /**
   * Where, inside the range, a record evidently began (the start included): a record whose header
   * is whole but whose checksum fails says where the next one starts. Padding keeps these boundaries.
   */
  starts: number[];
}

export interface SegmentDamage {
  /** Readable records (padding not counted). */
  records: number;
  padding: { records: number; bytes: number };
  ranges: DamagedRange[];
}

/**
 * Every readable record and every damaged range of a segment's bytes. After a damaged record it
 * resynchronises on the next offset where a whole record with a matching checksum starts, so every
 * readable record after damage is found. `expected` is the segment's length as the next segment's
 * base says; undefined for the last segment, whose length is the file's.
 */
export function findDamage(buf: Buffer, expected?: number): SegmentDamage {
  const limit = expected === undefined ? buf.length : Math.min(buf.length, expected);
  const found: SegmentDamage = { records: 0, padding: { records: 0, bytes: 0 }, ranges: [] };
  const add = (start: number, end: number, reason: DamageReason) => {
    const last = found.ranges.at(-1);
    if (last?.end === start && reason !== 'beyond the next segment') {
      last.end = end;
      last.starts.push(start);
    } else {
      found.ranges.push({ start, end, reason, starts: [start] });
    }
  };
  const nextValid = nextValidRecordFinder(buf, limit);
  let o = 0;
  while (o < limit) {
    const fault = recordFault(buf, o, limit);
    if (fault === undefined) {
      const next = o + HEADER_BYTES + payloadLength(buf, o);
      if (isPadding(buf, o)) {
        found.padding.records++;
        found.padding.bytes += next - o;
      } else {
        found.records++;
      }
      o = next;
      continue;
    }
    // A whole header with a bad checksum says where the next record starts, unless its length is
    // what was damaged: a valid record found earlier than that wins.
    const resync = nextValid(o);
    const end = fault === 'bad checksum' ? Math.min(o + HEADER_BYTES + payloadLength(buf, o), resync) : resync;
    add(o, end, fault);
    o = end;
  }
  if (expected !== undefined && buf.length < expected) add(buf.length, expected, 'missing bytes');
  if (expected !== undefined && buf.length > expected) add(expected, buf.length, 'beyond the next segment');
  return found;
}

/**
 * `findNextValidRecord` from ascending offsets, remembering the last answer: the first valid record
 * after `o` is the same for every `o` before it, so a run of damaged records costs one search, not one each.
 */
function nextValidRecordFinder(buf: Buffer, limit: number): (after: number) => number {
  let from = -1;
  let answer = -1;
  return (after) => {
    if (from < 0 || after < from || (answer !== limit && after >= answer)) {
      const next = findNextValidRecord(buf, after, limit);
      answer = next === -1 ? limit : next;
    }
    from = after;
    return answer;
  };
}
