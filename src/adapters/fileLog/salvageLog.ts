import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { StorageError } from '../../core/errors';
import { isTail, reportOf, scanSegments, type DamageReport, type ScannedSegment } from './checkLog';
import { DirLock } from './DirLock';
import type { DamagedRange } from './findDamage';
import { keepAside } from './keepAside';
import { encodePadding, HEADER_BYTES, type RecordFault } from './recordFormat';
import { paddingNote, repairTail } from './repairTail';

/** What `opsfold log salvage` did with one damaged range. */
export interface SalvageStep extends DamageReport {
  /**
   * `padded`: kept aside and replaced by padding of the same length (every position unchanged);
   * `cut`: a torn tail, kept aside and cut off the end of the log; `truncated`: bytes beyond the next
   * segment's base, kept aside and cut; `left`: not changed (see `why`).
   */
  action: 'padded' | 'cut' | 'truncated' | 'left';
  keptAt?: string;
  why?: string;
}

export interface SalvageReport {
  dir: string;
  segments: number;
  /** Readable records, all kept, each at the position it had. */
  records: number;
  steps: SalvageStep[];
}

/**
 * `opsfold log salvage`: under the append lock (appenders wait), moves every damaged range aside
 * into `{dir}/damaged/` and puts padding records of the same length in its place, so that every
 * readable record stays where it was: the positions that projections checkpointed stay valid. A bad
 * tail is repaired as on open (a torn one cut). A range too short to hold a record header (bytes were
 * inserted or removed, not changed) cannot be padded and is left, reported. Run it with no service
 * on the data dir: its projectors stopped at the damage, and readers of the log would see it change.
 */
export async function salvageLog(dir: string, options: { now?: () => number; lockStaleMs?: number } = {}): Promise<SalvageReport> {
  const { now = Date.now, lockStaleMs = 30_000 } = options;
  const lock = new DirLock(path.join(dir, 'append.lock'), { staleMs: lockStaleMs });
  return lock.withLock(async () => {
    const report: SalvageReport = { dir, segments: 0, records: 0, steps: [] };
    for await (const scanned of scanSegments(dir, async (last) => (await fs.stat(last.path)).size)) {
      report.segments++;
      report.records += scanned.records;
      if (scanned.ranges.length === 0) continue;
      const handle = await io(() => fs.open(scanned.segment.path, 'r+'), `open ${scanned.segment.path}`);
      try {
        for (const range of scanned.ranges) report.steps.push(await salvageRange(dir, scanned, range, handle, now()));
        await handle.datasync();
      } finally {
        await handle.close();
      }
    }
    return report;
  });
}

async function salvageRange(dir: string, scanned: ScannedSegment, range: DamagedRange, handle: fs.FileHandle, atMs: number): Promise<SalvageStep> {
  const { segment, buf } = scanned;
  const damage = reportOf(scanned, range);
  const where = `${segment.path} [${range.start}, ${range.end})`;
  if (isTail(scanned, range)) {
    const repair = await io(
      () => repairTail({ handle, segment, logDir: dir, offset: range.start, size: buf.length, reason: range.reason as RecordFault, appendedAtMs: atMs }),
      `repair the tail of ${segment.path}`,
    );
    return { ...damage, action: repair.action, keptAt: repair.keptAt };
  }
  const held = buf.subarray(range.start, Math.min(range.end, buf.length));
  if (range.reason === 'beyond the next segment') {
    const keptAt = await keepAside(dir, segment, range.start, held);
    await io(() => handle.truncate(range.start), `truncate ${segment.path}`);
    return { ...damage, action: 'truncated', keptAt };
  }
  const pieces = paddingPieces(range);
  if (pieces.length === 0) {
    return { ...damage, action: 'left', why: `${range.end - range.start} bytes cannot hold a padding record (${HEADER_BYTES} bytes at least): bytes were inserted or removed here, not changed` };
  }
  // An empty `held`: the whole range is bytes missing from a sealed segment, nothing to keep.
  const keptAt = held.length > 0 ? await keepAside(dir, segment, range.start, held) : undefined;
  const note = keptAt === undefined ? JSON.stringify({ padding: 'bytes missing from the segment' }) : paddingNote(dir, keptAt);
  const padding = Buffer.concat(pieces.map((bytes) => encodePadding(bytes, note, atMs)));
  await io(() => handle.write(padding, 0, padding.length, range.start), `write padding into ${where}`);
  return { ...damage, action: 'padded', ...(keptAt === undefined ? {} : { keptAt }) };
}

/**
 * Lengths of the padding records for a range, one per record that evidently began in it, a piece too
 * short for a header merged into its neighbour; none when the whole range is too short.
 */
export function paddingPieces(range: DamagedRange): number[] {
  if (range.end - range.start < HEADER_BYTES) return [];
  const bounds = [...range.starts, range.end];
  const pieces: number[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const bytes = bounds[i + 1] - bounds[i];
    if (pieces.length > 0 && (bytes < HEADER_BYTES || pieces[pieces.length - 1] < HEADER_BYTES)) pieces[pieces.length - 1] += bytes;
    else pieces.push(bytes);
  }
  return pieces;
}

async function io<T>(work: () => Promise<T>, what: string): Promise<T> {
  try {
    return await work();
  } catch (cause) {
    if (cause instanceof StorageError) throw cause;
    throw new StorageError(`cannot ${what}: ${(cause as Error).message}`, { cause, retriable: false });
  }
}
