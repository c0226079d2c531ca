import { promises as fs } from 'node:fs';
import type { AppendResult } from '../../core/ports';
import { StorageError } from '../../core/errors';
import { encodeRecords, HEADER_BYTES } from './recordFormat';
import { repairTail, type TailRepair } from './repairTail';
import { scanSegment, type SegmentScan } from './scanSegment';
import { listSegments, segmentAt, syncDirectory, type Segment } from './segmentFiles';

export type { TailRepair } from './repairTail';

/** Records of one segment file to write in one go. */
interface Chunk {
  segment: Segment;
  offset: number;
  payloads: Uint8Array[];
  bytes: number;
}

/**
 * The part of the log that touches the tail. `prepare` and `write` must run under the
 * directory lock: the lock is what makes "the file's end" the true end. `probeEnd` is lock-free.
 */
export class LogWriter {
  private active?: { segment: Segment; handle: fs.FileHandle };
  /** Bytes [0, offset) of the segment at `base` are known to be whole records. */
  private known = { base: -1, offset: 0 };

  constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly onRepair: (repair: TailRepair) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Under the lock: opens the newest segment (creating the first) and repairs a bad tail (see
   * repairTail: a torn one is cut, a damaged one padded, both kept aside). Returns where appends go.
   */
  async prepare(): Promise<{ segment: Segment; size: number }> {
    const segments = await listSegments(this.dir);
    const last = segments.at(-1) ?? (await this.createSegment(0));
    if (this.active?.segment.base !== last.base) {
      await this.active?.handle.close();
      this.active = undefined;
      this.active = { segment: last, handle: await this.io(() => fs.open(last.path, 'r+'), `open ${last.path}`) };
    }
    const { handle } = this.active;
    const { size } = await handle.stat();
    const scan = await this.validate(last, handle, size);
    if (!scan.torn) return { segment: last, size };
    const { offset, reason } = scan.torn;
    const repair = await this.io(
      () => repairTail({ handle, segment: last, logDir: this.dir, offset, size, reason, appendedAtMs: this.now() }),
      `repair the tail of ${last.path}`,
    );
    const end = repair.action === 'padded' ? size : offset;
    this.advanceKnown(last.base, end);
    this.onRepair(repair);
    return { segment: last, size: end };
  }

  /** The current end as seen on disk, without the lock: a tail being written or torn is not counted. */
  async probeEnd(): Promise<{ end: number; segments: Segment[] }> {
    const segments = await listSegments(this.dir);
    const last = segments.at(-1);
    if (!last) throw new StorageError(`the log directory ${this.dir} holds no segment (was it removed?)`);
    const { size } = await this.io(() => fs.stat(last.path), `stat ${last.path}`);
    if (this.known.base === last.base && this.known.offset === size) return { end: last.base + size, segments };
    const handle = await this.io(() => fs.open(last.path, 'r'), `open ${last.path}`);
    try {
      const scan = await this.validate(last, handle, size);
      return { end: last.base + scan.end, segments };
    } finally {
      await handle.close();
    }
  }

  /** Under the lock: appends each group's payloads after the true end, rolling segments; fdatasyncs before returning. */
  async write(groups: readonly (readonly Uint8Array[])[], appendedAtMs: number): Promise<AppendResult[]> {
    const { segment, size } = await this.prepare();
    const chunks: Chunk[] = [{ segment, offset: size, payloads: [], bytes: 0 }];
    const results = groups.map((payloads) => {
      let first = -1;
      for (const payload of payloads) {
        let chunk = chunks[chunks.length - 1];
        const bytes = HEADER_BYTES + payload.length;
        const offset = chunk.offset + chunk.bytes;
        if (offset > 0 && offset + bytes > this.segmentBytes) {
          chunk = { segment: segmentAt(this.dir, chunk.segment.base + offset), offset: 0, payloads: [], bytes: 0 };
          chunks.push(chunk);
        }
        if (first < 0) first = chunk.segment.base + chunk.offset + chunk.bytes;
        chunk.payloads.push(payload);
        chunk.bytes += bytes;
      }
      const last = chunks[chunks.length - 1];
      return { first, end: last.segment.base + last.offset + last.bytes };
    });
    for (const chunk of chunks) if (chunk.bytes > 0) await this.writeChunk(chunk, appendedAtMs);
    return results;
  }

  async close(): Promise<void> {
    await this.active?.handle.close();
    this.active = undefined;
  }

  private async writeChunk(chunk: Chunk, appendedAtMs: number): Promise<void> {
    if (this.active?.segment.base !== chunk.segment.base) {
      await this.createSegment(chunk.segment.base);
      await this.active?.handle.close();
      this.active = undefined;
      this.active = { segment: chunk.segment, handle: await this.io(() => fs.open(chunk.segment.path, 'r+'), `open ${chunk.segment.path}`) };
    }
    const { handle } = this.active;
    const buf = Buffer.allocUnsafe(chunk.bytes);
    encodeRecords(chunk.payloads, appendedAtMs, buf, 0);
    try {
      let written = 0;
      while (written < buf.length) {
        written += (await handle.write(buf, written, buf.length - written, chunk.offset + written)).bytesWritten;
      }
      await handle.datasync();
    } catch (cause) {
      // Leave no half-written records behind for the next writer to trip on.
      await handle.truncate(chunk.offset).catch(() => undefined);
      throw new StorageError(`cannot append to ${chunk.segment.path}: ${(cause as Error).message}`, { cause });
    }
    this.advanceKnown(chunk.segment.base, chunk.offset + chunk.bytes);
  }

  private async createSegment(base: number): Promise<Segment> {
    const segment = segmentAt(this.dir, base);
    await this.io(async () => {
      await fs.writeFile(segment.path, '', { flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
      await syncDirectory(this.dir);
    }, `create the segment ${segment.path}`);
    return segment;
  }

  /** Checks the bytes of `segment` not yet known good; remembers how far they are good. */
  private async validate(segment: Segment, handle: fs.FileHandle, size: number): Promise<SegmentScan> {
    // A listing taken before a roll: that segment is sealed, and sealed segments end on a record.
    if (segment.base < this.known.base) return { end: size };
    const resume = this.known.base === segment.base && this.known.offset <= size;
    const from = resume ? this.known.offset : 0;
    const scan = from === size ? { end: size } : await this.io(() => scanSegment(handle, from, size), `read ${segment.path}`);
    if (!resume) this.known = { base: -1, offset: 0 };
    this.advanceKnown(segment.base, scan.end);
    return scan;
  }

  private advanceKnown(base: number, offset: number): void {
    if (base > this.known.base || (base === this.known.base && offset > this.known.offset)) this.known = { base, offset };
  }

  private async io<T>(work: () => Promise<T>, what: string): Promise<T> {
    try {
      return await work();
    } catch (cause) {
      if (cause instanceof StorageError) throw cause;
      throw new StorageError(`cannot ${what}: ${(cause as Error).message}`, { cause });
    }
  }
}
