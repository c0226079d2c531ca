import { promises as fs } from 'node:fs';
import { DamagedLogError, StorageError } from '../../core/errors';
import type { LogRecord } from '../../core/ports';
import { crc32 } from './crc32';
import { FLAG_PADDING, HEADER_BYTES, MAGIC, MAX_PAYLOAD_BYTES, VERSION } from './recordFormat';
import { readAt, readAtBlocking } from './readAt';
import { segmentContaining, type Segment } from './segmentFiles';
import { appendGeneration, waitForAppend } from './waitForAppend';

export interface ReadRecordsOptions {
  dir: string;
  /** The end of the log (a record boundary) and its segments, as on disk now. */
  probeEnd: () => Promise<{ end: number; segments: readonly Segment[] }>;
  follow: boolean;
  maxBatchBytes: number;
  /** Each batch read on the calling thread (see LogReadOptions.blocking). */
  blocking?: boolean;
  pollIntervalMs: number;
  /** Abort signals that end the iteration cleanly: the caller's and the log's `close`. */
  signals: readonly (AbortSignal | undefined)[];
  /** Where the open segment handle is registered, so that the log's `close` can close it. */
  handles: Set<fs.FileHandle>;
}

/**
 * Records from `from` in batches of about `maxBatchBytes`, each batch one large sequential read.
 * It reads only up to an end that `probeEnd` vouched for, so a record being written (or torn) is
 * never returned; everything before that end must parse, else it throws `DamagedLogError`.
 */
export async function* readRecords(from: number, options: ReadRecordsOptions): AsyncGenerator<LogRecord[], void, undefined> {
  const stopped = (): boolean => options.signals.some((signal) => signal?.aborted);
  let open: { segment: Segment; handle: fs.FileHandle } | undefined;
  try {
    let generation = appendGeneration(options.dir);
    let { end, segments } = await options.probeEnd();
    if (from > end) {
      throw new DamagedLogError(`position ${from} is beyond the end of the log (${end}) in ${options.dir}; if its tail was cut after this position `
        + 'was read (see damaged/ in it), `opsfold replay --projection all` rebuilds the projections from what the log holds');
    }
    let position = from;
    while (!stopped()) {
      if (position < end) {
        const index = segmentContaining(segments, position);
        if (index < 0) throw new DamagedLogError(`no segment holds position ${position} in ${options.dir}`);
        const segment = segments[index];
        const limit = index + 1 < segments.length ? segments[index + 1].base : end;
        if (open?.segment.base !== segment.base) {
          await closeHandle(open?.handle, options.handles);
          open = undefined;
          open = { segment, handle: await openSegment(segment) };
          options.handles.add(open.handle);
        }
        const batch = await readBatch(open.handle, segment, position, limit, options.maxBatchBytes, options.blocking ? readAtBlocking : readAt);
        if (batch.records.length > 0) yield batch.records;
        if (batch.fault) throw batch.fault;
        position = batch.next;
        continue;
      }
      if (!options.follow) return;
      await waitForAppend(options.dir, generation, options.pollIntervalMs, options.signals);
      if (stopped()) return;
      generation = appendGeneration(options.dir);
      ({ end, segments } = await options.probeEnd());
    }
  } catch (error) {
    if (!stopped()) throw error; // else the log was closed under a read in flight
  } finally {
    await closeHandle(open?.handle, options.handles);
  }
}

async function closeHandle(handle: fs.FileHandle | undefined, handles: Set<fs.FileHandle>): Promise<void> {
  if (!handle) return;
  handles.delete(handle);
  await handle.close();
}

async function openSegment(segment: Segment): Promise<fs.FileHandle> {
  try {
    return await fs.open(segment.path, 'r');
  } catch (cause) {
    throw new StorageError(`cannot open ${segment.path}: ${(cause as Error).message}`, { cause });
  }
}

interface Batch {
  records: LogRecord[];
  next: number;
  /** Set when the records stop at damage; thrown after the good records before it are yielded. */
  fault?: DamagedLogError;
}

/** Reads and parses the whole records in `[position, min(limit, position + maxBatchBytes))` (at least one). */
async function readBatch(
  handle: fs.FileHandle, segment: Segment, position: number, limit: number, maxBatchBytes: number, readFrom: typeof readAt,
): Promise<Batch> {
  // At least a header, so that a record larger than the batch is seen as one (and read whole below).
  let buf = await readFrom(handle, position - segment.base, Math.min(limit - position, Math.max(maxBatchBytes, HEADER_BYTES)));
  if (buf.length >= HEADER_BYTES && position + buf.length < limit) {
    // A record larger than the batch: read it whole.
    const bytes = HEADER_BYTES + buf.readUInt32LE(8);
    if (bytes > buf.length && bytes <= MAX_PAYLOAD_BYTES + HEADER_BYTES) buf = await readFrom(handle, position - segment.base, Math.min(limit - position, bytes));
  }
  const atLimit = position + buf.length === limit;
  if (!atLimit && buf.length < Math.min(limit - position, Math.max(maxBatchBytes, HEADER_BYTES))) {
    return { records: [], next: position, fault: corrupt(segment, position, `the segment ends at offset ${position - segment.base + buf.length}, before the log position ${limit}`) };
  }
  return parseRecords(buf, segment, position, atLimit);
}

/**
 * The hot loop of a replay: whole records of `buf` (read at `base`); `atLimit` when a cut record there
 * is damage. Padding records (damage moved aside) are checked like any record and skipped.
 */
function parseRecords(buf: Buffer, segment: Segment, base: number, atLimit: boolean): Batch {
  const records: LogRecord[] = [];
  const length = buf.length;
  let o = 0;
  while (o < length) {
    if (length - o < HEADER_BYTES) {
      if (atLimit) return { records, next: base + o, fault: corrupt(segment, base + o, 'short header: not a record boundary, or a cut record') };
      break;
    }
    const payloadBytes = (buf[o + 8] | (buf[o + 9] << 8) | (buf[o + 10] << 16) | (buf[o + 11] << 24)) >>> 0;
    if (buf[o + 4] !== MAGIC || buf[o + 5] !== VERSION || buf[o + 6] > FLAG_PADDING || buf[o + 7] !== 0 || payloadBytes > MAX_PAYLOAD_BYTES) {
      return { records, next: base + o, fault: corrupt(segment, base + o, 'bad header: not a record boundary, or a damaged record') };
    }
    const next = o + HEADER_BYTES + payloadBytes;
    if (next > length) {
      if (atLimit) return { records, next: base + o, fault: corrupt(segment, base + o, 'short payload: not a record boundary, or a cut record') };
      break;
    }
    if (crc32(buf, o + 4, next) !== ((buf[o] | (buf[o + 1] << 8) | (buf[o + 2] << 16) | (buf[o + 3] << 24)) >>> 0)) {
      return { records, next: base + o, fault: corrupt(segment, base + o, 'bad checksum') };
    }
    if (buf[o + 6] === 0) records.push({ position: base + o, next: base + next, appendedAtMs: buf.readDoubleLE(o + 12), payload: buf.subarray(o + HEADER_BYTES, next) });
    o = next;
  }
  if (o === 0) {
    return { records, next: base, fault: corrupt(segment, base, `the segment ends at offset ${base - segment.base + length}, inside this record`) };
  }
  return { records, next: base + o };
}

/** What an operator can do about damage, named wherever a read stops at it (`start`, `replay`, a projector). */
export const DAMAGE_ADVICE = '`opsfold log check` lists every damaged range; `opsfold log salvage` (with the service stopped) moves them aside and keeps every readable record at its position';

function corrupt(segment: Segment, position: number, reason: string): DamagedLogError {
  return new DamagedLogError(`corrupt log at position ${position} (${segment.path}, offset ${position - segment.base}): ${reason}. ${DAMAGE_ADVICE}`);
}
