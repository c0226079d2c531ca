import { readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/** Reads up to `length` bytes at `position`; fewer only at the end of the file. */
export async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  return readInto(handle, Buffer.allocUnsafe(length), position, length);
}

/** `readAt` into `buf` (at least `length` bytes long): a scan of a whole file reads it through one buffer. */
export async function readInto(handle: FileHandle, buf: Buffer, position: number, length: number): Promise<Buffer> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/**
 * `readAt` on the calling thread (`readSync` on the handle's descriptor): no trip through the thread
 * pool and back for each batch. Measured on a rebuild's fold (alternating pairs): 0.98× the time at
 * 1M metrics (24 pairs) and at 2M (6). The event loop waits for the disk meanwhile, so only where
 * nothing else runs.
 */
export async function readAtBlocking(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const bytesRead = readSync(handle.fd, buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}
