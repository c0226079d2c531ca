import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { StorageError } from '../../core/errors';
import { DirLock } from './DirLock';
import { findDamage, type DamageReason, type DamagedRange } from './findDamage';
import { readAt } from './readAt';
import type { RecordFault } from './recordFormat';
import { tailKind, type RepairKind } from './repairTail';
import { listSegments, type Segment } from './segmentFiles';

/** One damaged range, as `opsfold log check` and `opsfold log salvage` report it. */
export interface DamageReport {
  segment: string;
  /** Offsets inside the segment: the range is `[start, end)`. */
  start: number;
  end: number;
  /** `start` as a log position. */
  position: number;
  bytes: number;
  reason: DamageReason;
  /** `torn` only for an unfinished append at the very end of the log; anything else is `damaged`. */
  kind: RepairKind;
}

export interface LogCheck {
  dir: string;
  segments: number;
  /** Readable records. */
  records: number;
  /** Bytes of the log examined. */
  bytes: number;
  /** Damage already moved aside earlier, standing as padding. */
  padding: { records: number; bytes: number };
  damaged: DamageReport[];
}

/** A segment's bytes, and the ranges of them that hold no readable record. */
export interface ScannedSegment {
  segment: Segment;
  /** The segment's length as the next segment's base says; undefined for the last segment. */
  expected?: number;
  buf: Buffer;
  records: number;
  padding: { records: number; bytes: number };
  ranges: DamagedRange[];
}

/** Whether `range` is the end of the log: bytes after the last readable record of the last segment. */
export function isTail(scanned: ScannedSegment, range: DamagedRange): boolean {
  return scanned.expected === undefined && range.end === scanned.buf.length;
}

export function reportOf(scanned: ScannedSegment, range: DamagedRange): DamageReport {
  const { segment, buf } = scanned;
  const kind = isTail(scanned, range) ? tailKind(range.reason as RecordFault, buf.subarray(range.start, range.end)) : 'damaged';
  return { segment: segment.name, start: range.start, end: range.end, position: segment.base + range.start, bytes: range.end - range.start, reason: range.reason, kind };
}

/**
 * Every segment of the log in `dir`, one at a time (each read whole, so memory holds one segment),
 * with its damage. The last segment is read up to its size under the append lock, when no append is
 * half written; `lastSize` gives that size (the caller may already hold the lock).
 */
export async function* scanSegments(dir: string, lastSize: (last: Segment) => Promise<number>): AsyncGenerator<ScannedSegment> {
  const segments = await listSegments(dir);
  for (const [i, segment] of segments.entries()) {
    const next = segments[i + 1];
    const expected = next === undefined ? undefined : next.base - segment.base;
    const buf = await readSegment(segment, next === undefined ? await lastSize(segment) : undefined);
    yield { segment, expected, buf, ...findDamage(buf, expected) };
  }
}

/**
 * `opsfold log check`: reads every record of every segment and lists every damaged range, with
 * the count of readable records. Reads only; appends by a running service can go on meanwhile.
 */
export async function checkLog(dir: string, options: { lockStaleMs?: number } = {}): Promise<LogCheck> {
  const lock = new DirLock(path.join(dir, 'append.lock'), { staleMs: options.lockStaleMs ?? 30_000 });
  const check: LogCheck = { dir, segments: 0, records: 0, bytes: 0, padding: { records: 0, bytes: 0 }, damaged: [] };
  const lastSize = (last: Segment) => lock.withLock(async () => (await fs.stat(last.path)).size);
  for await (const scanned of scanSegments(dir, lastSize)) {
    check.segments++;
    check.records += scanned.records;
    check.bytes += scanned.buf.length;
    check.padding.records += scanned.padding.records;
    check.padding.bytes += scanned.padding.bytes;
    for (const range of scanned.ranges) check.damaged.push(reportOf(scanned, range));
  }
  return check;
}

/** The segment's bytes: the whole file, or its first `size` bytes. */
async function readSegment(segment: Segment, size?: number): Promise<Buffer> {
  try {
    if (size === undefined) return await fs.readFile(segment.path);
    const handle = await fs.open(segment.path, 'r');
    try {
      return await readAt(handle, 0, size);
    } finally {
      await handle.close();
    }
  } catch (cause) {
    throw new StorageError(`cannot read ${segment.path}: ${(cause as Error).message}`, { cause, retriable: false });
  }
}
