import type { FileHandle } from 'node:fs/promises';
import { checksumMatches, findNextValidRecord, HEADER_BYTES, hasValidHeader, payloadLength, type RecordFault } from './recordFormat';
import { readAt, readInto } from './readAt';

/** What a scan of a segment's tail found. */
export interface SegmentScan {
  /** Offset just after the last whole record that is not part of a torn tail (= the size when not torn). */
  end: number;
  /** Set when the bytes from `end` to the size are a torn tail: damaged, and no valid record after them. */
  torn?: { offset: number; reason: RecordFault };
}

const CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * Finds where the good records of a segment end, from `from` (a record boundary) to `size`, and
 * tells a torn tail from damage in the middle. It walks the headers forward (cheap: no checksums),
 * resynchronising after a bad header when a valid record follows it, then checks checksums
 * backwards from the last record until one matches. A torn tail is what an interrupted write
 * leaves: a short header or payload, garbage, or checksum failures running to the end. Damage
 * followed by a valid record is left alone: a reader reports it, nothing is silently dropped.
 */
export async function scanSegment(handle: FileHandle, from: number, size: number): Promise<SegmentScan> {
  let buf: Buffer = Buffer.alloc(0);
  let bufStart = from;
  /** Where the chunks are read: one buffer for the whole scan (a fresh 8 MB each time cost more in page faults than the reading). */
  let chunk: Buffer | undefined;
  /** Makes `buf` cover `need` bytes from `o` (or up to the size), reading ahead in large chunks. */
  const cover = async (o: number, need: number): Promise<number> => {
    const want = Math.min(size - o, need);
    if (o < bufStart || o + want > bufStart + buf.length) {
      const length = Math.max(want, Math.min(size - o, CHUNK_BYTES));
      if (!chunk || chunk.length < length) chunk = Buffer.allocUnsafe(Math.max(length, Math.min(size - from, CHUNK_BYTES)));
      buf = await readInto(handle, chunk, o, length);
      bufStart = o;
    }
    return o - bufStart;
  };
  /** Records with a plausible header since the last resynchronisation: candidates for the tail. */
  let whole: number[] = [];
  let stop: SegmentScan['torn'];
  let o = from;
  while (o < size) {
    let rel = o - bufStart;
    if (rel < 0 || rel + HEADER_BYTES > buf.length) rel = await cover(o, HEADER_BYTES);
    if (buf.length - rel < HEADER_BYTES) {
      stop = { offset: o, reason: 'short header' };
      break;
    }
    if (!hasValidHeader(buf, rel)) {
      const rest = await readAt(handle, o, size - o);
      const found = findNextValidRecord(rest, 0, rest.length);
      if (found === -1) {
        stop = { offset: o, reason: 'bad header' };
        break;
      }
      whole = [];
      buf = rest;
      bufStart = o;
      o += found;
      continue;
    }
    const bytes = HEADER_BYTES + payloadLength(buf, rel);
    if (rel + bytes > buf.length) rel = await cover(o, bytes);
    if (rel + bytes > buf.length) {
      stop = { offset: o, reason: 'short payload' };
      break;
    }
    whole.push(o);
    o += bytes;
  }
  for (let i = whole.length - 1; i >= 0 && !(await checksumAt(whole[i])); i--) stop = { offset: whole[i], reason: 'bad checksum' };
  return stop ? { end: stop.offset, torn: stop } : { end: size };

  async function checksumAt(offset: number): Promise<boolean> {
    let rel = offset - bufStart;
    if (rel < 0 || rel + HEADER_BYTES > buf.length) rel = await cover(offset, HEADER_BYTES);
    const next = rel + HEADER_BYTES + payloadLength(buf, rel);
    if (next > buf.length) rel = await cover(offset, next - rel);
    return checksumMatches(buf, rel, rel + HEADER_BYTES + payloadLength(buf, rel));
  }
}
