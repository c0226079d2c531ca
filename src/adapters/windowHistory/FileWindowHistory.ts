import { constants } from 'node:fs';
import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CorruptLogError } from '../../core/errors';
import type { HistoryChunk, WindowHistoryStore } from '../../core/ports';
import { readAt } from '../fileLog/readAt';
import { checksumMatches, encodeRecords, HEADER_BYTES, hasValidHeader, payloadLength } from '../fileLog/recordFormat';
import { scanSegment } from '../fileLog/scanSegment';
import { syncDirectory } from '../fileLog/segmentFiles';

/** Where the history of a 'windows' version is kept beside the file log. */
export function windowHistoryDir(dataDir: string, tablePrefix: string, version: number): string {
  return path.join(dataDir, 'window-history', `${tablePrefix}V${version}`);
}

/** Where the history of a 'windows' version's final notices is kept (see FinalWindowFeeds). */
export function finalHistoryDir(dataDir: string, tablePrefix: string, version: number): string {
  return path.join(dataDir, 'window-history', 'final', `${tablePrefix}V${version}`);
}

/** Each record's payload: f64 first id, f64 last id, u32 number of events, then the chunk's bytes. */
const PREFIX_BYTES = 20;
const FILE = /^H(\d+)\.chunks$/;
/** Chunks kept for readers of the same point (each at most ~110 KB: 2,000 events). */
const RECENT_CHUNKS = 32;

interface Indexed {
  firstId: number;
  lastId: number;
  count: number;
  /** Offset of the record's header. */
  offset: number;
  /** Bytes of the whole record. */
  bytes: number;
}

interface HourFile {
  handle: FileHandle;
  /** Where the next record goes: the end of the good records. */
  size: number;
  /** Every record, ids increasing. */
  chunks: Indexed[];
  /** Created empty by this store: its directory entry is not durable until the directory is fsynced. */
  created: boolean;
}

export interface FileWindowHistoryOptions {
  /** Told when a torn tail (an interrupted append) is cut, or damage stops an hour's index. */
  onRepair?: (message: string) => void;
  /**
   * 'append' (the default): each append is fsynced before it resolves. 'close': only `close`
   * fsyncs, for a writer whose work counts only once it is complete (a rebuild into a version
   * not yet active: a crash leaves a version that is never switched to).
   */
  sync?: 'append' | 'close';
}

/**
 * The window-event history as files, one per hour of ids (`H{hour}.chunks`), each an append-only
 * run of records in the file log's own format (length, CRC-32, payload: see
 * fileLog/recordFormat); an append is durable once fsynced (each, or all at `close`: see `sync`). An hour's file is scanned when first
 * used: a torn tail is cut (and reported), and an index of its chunks (first and last id, offset)
 * is kept, so a resume reads only the chunks after its id. Dropping an hour deletes its file.
 * A version's history is written by one process at a time (the service, or `opsfold replay` into
 * a version not yet active).
 *
 * @example
 * const store = await FileWindowHistory.open(windowHistoryDir(settings.dataDir, settings.tablePrefix, version));
 */
export class FileWindowHistory implements WindowHistoryStore {
  private readonly files = new Map<number, Promise<HourFile | undefined>>();
  /**
   * Chunks read lately, by hour and offset, while any read is under way: many resumes from one
   * point read each chunk once between them (and check it once), not once each.
   */
  private readonly recent = new Map<string, Promise<HistoryChunk>>();
  private reading = 0;
  /** Files appended to and not fsynced yet (sync: 'close'). */
  private readonly unsynced = new Set<FileHandle>();

  private constructor(private readonly dir: string, private readonly options: FileWindowHistoryOptions) {}

  static async open(dir: string, options: FileWindowHistoryOptions = {}): Promise<FileWindowHistory> {
    await mkdir(dir, { recursive: true });
    return new FileWindowHistory(dir, options);
  }

  /** Deletes a version's history (its directory), if there is one. */
  static remove(dir: string): Promise<void> {
    return rm(dir, { recursive: true, force: true });
  }

  async hours(): Promise<number[]> {
    const names = await readdir(this.dir).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? [] : Promise.reject(error)));
    return names.flatMap((name) => {
      const m = FILE.exec(name);
      return m ? [Number(m[1])] : [];
    }).sort((a, b) => a - b);
  }

  async append(hour: number, chunks: readonly HistoryChunk[]): Promise<void> {
    if (chunks.length === 0) return;
    const file = (await this.file(hour, true))!;
    const payloads = chunks.map((c) => {
      const p = Buffer.allocUnsafe(PREFIX_BYTES + c.data.length);
      p.writeDoubleLE(c.firstId, 0);
      p.writeDoubleLE(c.lastId, 8);
      p.writeUInt32LE(c.count, 16);
      c.data.copy(p, PREFIX_BYTES);
      return p;
    });
    const out = Buffer.allocUnsafe(payloads.reduce((n, p) => n + HEADER_BYTES + p.length, 0));
    encodeRecords(payloads, Date.now(), out, 0);
    // Written at the end of the good records: what a failed append left behind is overwritten.
    let done = 0;
    while (done < out.length) done += (await file.handle.write(out, done, out.length - done, file.size + done)).bytesWritten;
    if (this.options.sync === 'close') this.unsynced.add(file.handle);
    else {
      await file.handle.datasync();
      if (file.created) await syncDirectory(this.dir);
    }
    file.created = false;
    let offset = file.size;
    chunks.forEach((c, i) => {
      const bytes = HEADER_BYTES + payloads[i].length;
      file.chunks.push({ firstId: c.firstId, lastId: c.lastId, count: c.count, offset, bytes });
      offset += bytes;
    });
    file.size = offset;
  }

  /** The chunks one at a time: a reader holds one chunk's bytes (shared with readers of the same chunk meanwhile). */
  async *read(hour: number, after: number): AsyncGenerator<HistoryChunk> {
    this.reading++;
    try {
      const file = await this.file(hour, false);
      if (!file) return;
      const chunks = file.chunks;
      const end = chunks.length; // appends meanwhile are read from memory by the feed
      // The first chunk with an id above `after` (last ids increase).
      let lo = 0;
      let hi = end;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (chunks[mid].lastId > after) hi = mid;
        else lo = mid + 1;
      }
      for (let i = lo; i < end; i++) yield await this.chunk(hour, file, chunks[i]);
    } finally {
      if (--this.reading === 0) this.recent.clear();
    }
  }

  private chunk(hour: number, file: HourFile, c: Indexed): Promise<HistoryChunk> {
    const key = `${hour}/${c.offset}`;
    let chunk = this.recent.get(key);
    if (chunk) {
      this.recent.delete(key); // most recently used last
    } else {
      chunk = readAt(file.handle, c.offset, c.bytes).then((record) => {
        if (record.length < c.bytes || !checksumMatches(record, 0, c.bytes)) {
          throw new CorruptLogError(`window-event history: the chunk at offset ${c.offset} of ${this.path(hour)} is damaged`);
        }
        return { firstId: c.firstId, lastId: c.lastId, count: c.count, data: record.subarray(HEADER_BYTES + PREFIX_BYTES) };
      });
      chunk.catch(() => this.recent.delete(key));
    }
    this.recent.set(key, chunk);
    if (this.recent.size > RECENT_CHUNKS) this.recent.delete(this.recent.keys().next().value as string);
    return chunk;
  }

  async lastId(hour: number): Promise<number | undefined> {
    return (await this.file(hour, false))?.chunks.at(-1)?.lastId;
  }

  async drop(hour: number): Promise<void> {
    const file = this.files.get(hour);
    this.files.delete(hour);
    const handle = (await file?.catch(() => undefined))?.handle;
    if (handle) this.unsynced.delete(handle);
    await handle?.close();
    await rm(this.path(hour), { force: true });
  }

  /** Closes the files (fsynced first when appends were not: see `sync`). */
  async close(): Promise<void> {
    const files = [...this.files.values()];
    this.files.clear();
    const synced = this.unsynced.size > 0;
    for (const file of files) {
      const handle = (await file.catch(() => undefined))?.handle;
      if (handle && this.unsynced.delete(handle)) await handle.datasync();
      await handle?.close();
    }
    if (synced) await syncDirectory(this.dir); // the files' entries
  }

  private path(hour: number): string {
    return path.join(this.dir, `H${hour}.chunks`);
  }

  /** The hour's open file and index (opened, repaired and indexed on first use); undefined when it does not exist and `create` is false. */
  private file(hour: number, create: boolean): Promise<HourFile | undefined> {
    let file = this.files.get(hour);
    if (!file) {
      file = this.load(hour, create);
      this.files.set(hour, file);
      // A failed open is tried again next time.
      file.then((f) => f ?? this.files.delete(hour), () => this.files.delete(hour));
    }
    return file;
  }

  private async load(hour: number, create: boolean): Promise<HourFile | undefined> {
    const name = this.path(hour);
    let handle: FileHandle;
    try {
      handle = await open(name, constants.O_RDWR | (create ? constants.O_CREAT : 0), 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !create) return undefined;
      throw error;
    }
    try {
      const { size } = await handle.stat();
      const scan = await scanSegment(handle, 0, size);
      if (scan.torn) {
        this.options.onRepair?.(`window-event history: cut a torn tail of ${size - scan.end} bytes (${scan.torn.reason}) at offset ${scan.end} of ${name}`);
        await handle.truncate(scan.end);
        await handle.datasync();
      }
      const chunks: Indexed[] = [];
      let offset = 0;
      while (offset < scan.end) {
        const head = await readAt(handle, offset, HEADER_BYTES + PREFIX_BYTES);
        if (head.length < HEADER_BYTES + PREFIX_BYTES || !hasValidHeader(head, 0)) {
          this.options.onRepair?.(`window-event history: damage at offset ${offset} of ${name}; the events after it in this hour cannot be resumed`);
          break;
        }
        const bytes = HEADER_BYTES + payloadLength(head, 0);
        chunks.push({ firstId: head.readDoubleLE(HEADER_BYTES), lastId: head.readDoubleLE(HEADER_BYTES + 8), count: head.readUInt32LE(HEADER_BYTES + 16), offset, bytes });
        offset += bytes;
      }
      return { handle, size: scan.end, chunks, created: create && size === 0 };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }
}
