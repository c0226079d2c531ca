import type { Readable } from 'node:stream';
import type { ContainerClient } from '@azure/storage-blob';
import type { CaptureNameFormat } from '../../core/captureNameFormat';
import { StorageError } from '../../core/errors';
import { readCaptureFile, type CapturedEvent } from './readCaptureFile';

/** One Capture file of a partition, and the time its name carries. */
export interface CaptureFile {
  name: string;
  timeMs: number;
}

/** What Capture holds of one partition: its first and last event (sequence number and enqueued time) and how many files. */
export interface CapturedRange {
  first: number;
  firstEnqueuedMs: number;
  last: number;
  lastEnqueuedMs: number;
  files: number;
}

/**
 * The files Event Hubs Capture wrote for one hub into one Blob container, read per partition in
 * the order Capture wrote them: listed under the name format's fixed prefix, kept when the whole
 * name matches the format, ordered by the time in the name (whatever the fields' order in it).
 * Read-only: Capture writes, opsfold never does.
 */
export class CaptureArchive {
  constructor(
    private readonly container: ContainerClient,
    readonly hub: { namespace: string; eventHub: string },
    private readonly format: CaptureNameFormat,
  ) {}

  /** Where the files are, for messages: `container/prefix…`. */
  where(partitionId: string): string {
    return `${this.container.containerName}/${this.format.prefix({ ...this.hub, partitionId })}`;
  }

  /** The partition's files, oldest first. */
  async files(partitionId: string): Promise<CaptureFile[]> {
    const source = { ...this.hub, partitionId };
    const files: CaptureFile[] = [];
    try {
      for await (const blob of this.container.listBlobsFlat({ prefix: this.format.prefix(source) })) {
        const timeMs = this.format.timeOf(blob.name, source);
        if (timeMs !== undefined) files.push({ name: blob.name, timeMs });
      }
    } catch (error) {
      throw storageError(`could not list the Capture files under ${this.where(partitionId)}`, error);
    }
    return files.sort((a, b) => a.timeMs - b.timeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The events of one file, in batches. */
  async *read(file: CaptureFile): AsyncGenerator<CapturedEvent[]> {
    let body: Readable;
    try {
      body = (await this.container.getBlobClient(file.name).download()).readableStreamBody as Readable;
    } catch (error) {
      throw storageError(`could not read the Capture file ${this.container.containerName}/${file.name}`, error);
    }
    yield* readCaptureFile(body, file.name);
  }

  /**
   * The partition's captured events with sequence numbers from `from` on, in order, in batches.
   * Reading starts at the last file whose first event is at or before `from` (found by bisection,
   * reading only the first block of the files it probes), so a catch-up near the end of a long
   * archive does not read it all.
   */
  async *events(partitionId: string, from = 0): AsyncGenerator<CapturedEvent[]> {
    const files = await this.files(partitionId);
    const start = from <= 0 ? 0 : await this.lastStartingAtOrBefore(files, from);
    for (const file of files.slice(start)) {
      for await (const batch of this.read(file)) {
        const kept = batch[0].sequenceNumber >= from ? batch : batch.filter((e) => e.sequenceNumber >= from);
        if (kept.length > 0) yield kept;
      }
    }
  }

  /** The first and last captured event of the partition, or undefined when Capture holds none. */
  async range(partitionId: string): Promise<CapturedRange | undefined> {
    const files = await this.files(partitionId);
    let first: CapturedEvent | undefined;
    for (const file of files) if ((first = await this.firstEventIn(file))) break;
    if (!first) return undefined;
    let last: CapturedEvent | undefined;
    for (let i = files.length - 1; i >= 0 && !last; i--) {
      for await (const batch of this.read(files[i])) last = batch[batch.length - 1];
    }
    return { first: first.sequenceNumber, firstEnqueuedMs: first.enqueuedTimeMs, last: last!.sequenceNumber, lastEnqueuedMs: last!.enqueuedTimeMs, files: files.length };
  }

  private async firstEventIn(file: CaptureFile): Promise<CapturedEvent | undefined> {
    for await (const batch of this.read(file)) return batch[0]; // leaving the loop stops the download
    return undefined;
  }

  private async lastStartingAtOrBefore(files: CaptureFile[], from: number): Promise<number> {
    let lo = 0, hi = files.length - 1, found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      // Empty files (nothing arrived in their window) have no first event: probe the next one.
      let probe = mid, first: CapturedEvent | undefined;
      while (probe <= hi && !(first = await this.firstEventIn(files[probe]))) probe++;
      if (!first || first.sequenceNumber > from) {
        hi = mid - 1;
      } else {
        found = probe;
        lo = probe + 1;
      }
    }
    return found;
  }
}

function storageError(message: string, error: unknown): StorageError {
  const status = (error as { statusCode?: number }).statusCode;
  return new StorageError(`${message}: ${(error as Error).message}`, { status, retriable: status === undefined || status >= 500 || status === 429, cause: error });
}
