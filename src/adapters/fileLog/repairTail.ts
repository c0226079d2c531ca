import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { keepAside } from './keepAside';
import { readAt } from './readAt';
import { encodePadding, HEADER_BYTES, type RecordFault } from './recordFormat';
import type { Segment } from './segmentFiles';

/**
 * `torn`: an append that never completed (its record runs past the end of the file, or the file grew
 * and only zeros reached the disk), so it was never acknowledged. `damaged`: complete bytes that are not
 * a valid record (a checksum mismatch, garbage): an acknowledged record may have been damaged on disk.
 */
export type RepairKind = 'torn' | 'damaged';

/** Bytes taken off the end of the log: always kept aside first, then cut or replaced by padding. */
export interface TailRepair {
  /** File name of the segment, e.g. `00000000000000000000.seg`. */
  segment: string;
  /** Offset inside the segment where the bad bytes start (the end of the last good record). */
  offset: number;
  /** The same place as a log position. */
  position: number;
  bytesCut: number;
  reason: RecordFault;
  kind: RepairKind;
  /**
   * `cut`: the file was truncated (a torn tail; nothing read it, so no position is lost).
   * `padded`: the bytes were replaced by a padding record of the same length, so that positions a
   * projection may have checkpointed past them stay valid.
   */
  action: 'cut' | 'padded';
  /** The file that holds the bytes taken out. */
  keptAt: string;
}

/** Torn or damaged: see RepairKind. */
export function tailKind(reason: RecordFault, bytes: Uint8Array): RepairKind {
  if (reason === 'short header' || reason === 'short payload') return 'torn';
  if (reason === 'bad header' && bytes.every((b) => b === 0)) return 'torn';
  return 'damaged';
}

export interface TailToRepair {
  handle: FileHandle;
  segment: Segment;
  logDir: string;
  /** Where the bad bytes start; they run to `size`, the end of the file. */
  offset: number;
  size: number;
  reason: RecordFault;
  appendedAtMs: number;
}

/**
 * Takes a bad tail off the last segment (under the directory lock): keeps its bytes aside, then cuts a
 * torn tail, or replaces a damaged one with padding (when it is long enough to hold a record header),
 * and fdatasyncs.
 */
export async function repairTail(tail: TailToRepair): Promise<TailRepair> {
  const { handle, segment, offset, size } = tail;
  const bytes = await readAt(handle, offset, size - offset);
  const kind = tailKind(tail.reason, bytes);
  const keptAt = await keepAside(tail.logDir, segment, offset, bytes);
  const pad = kind === 'damaged' && bytes.length >= HEADER_BYTES;
  if (pad) {
    const padding = encodePadding(bytes.length, paddingNote(tail.logDir, keptAt), tail.appendedAtMs);
    await handle.write(padding, 0, padding.length, offset);
  } else {
    await handle.truncate(offset);
  }
  await handle.datasync();
  return { segment: segment.name, offset, position: segment.base + offset, bytesCut: bytes.length, reason: tail.reason, kind, action: pad ? 'padded' : 'cut', keptAt };
}

/** What a padding record says about itself: where the bytes it stands for went. */
export function paddingNote(logDir: string, keptAt: string): string {
  return JSON.stringify({ padding: 'damaged bytes moved aside', keptIn: path.relative(logDir, keptAt) });
}

/** One line for stderr: a torn tail is routine after a crash; damage is said loudly. */
export function describeTailRepair(r: TailRepair): string {
  const where = `at offset ${r.offset} of the log segment ${r.segment} (position ${r.position})`;
  if (r.kind === 'torn') {
    return `log: cut a torn tail of ${r.bytesCut} bytes (${r.reason}) ${where}: an append that never completed, so never acknowledged; the bytes are kept in ${r.keptAt}`;
  }
  const what = r.action === 'padded' ? 'replaced by padding of the same length, so every position stays valid' : 'cut';
  return `log: DATA LOSS: ${r.bytesCut} bytes ${where} are complete but damaged (${r.reason}): an acknowledged record was damaged on disk, `
    + `or an append was interrupted after the file grew; the bytes are kept in ${r.keptAt} and ${what}`;
}

/** How every command reports a repair of the file log's tail: on stderr, loudly when data was lost. */
export const noteLogRepair = (repair: TailRepair): void => {
  process.stderr.write(`opsfold: ${describeTailRepair(repair)}\n`);
};
