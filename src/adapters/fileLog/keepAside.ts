import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { StorageError } from '../../core/errors';
import { syncDirectory, type Segment } from './segmentFiles';

/** Where bytes taken out of the log are kept, inside the log directory (segment listings ignore it). */
export const DAMAGED_DIR = 'damaged';

/**
 * Keeps `bytes`, taken from `offset` of `segment`, in `{log dir}/damaged/{segment}-{offset}.bin`,
 * durably (fsynced, renamed into place, directory fsynced), before the log itself is changed.
 * An identical file already there is one an interrupted repair kept: it is reused. Another file
 * of that name is never overwritten; the bytes go to `…-{offset}.2.bin` and so on. Returns the path.
 */
export async function keepAside(logDir: string, segment: Segment, offset: number, bytes: Uint8Array): Promise<string> {
  const dir = path.join(logDir, DAMAGED_DIR);
  const stem = `${segment.name.replace(/\.seg$/, '')}-${offset}`;
  try {
    await fs.mkdir(dir, { recursive: true });
    await syncDirectory(logDir);
    for (let n = 1; ; n++) {
      const file = path.join(dir, n === 1 ? `${stem}.bin` : `${stem}.${n}.bin`);
      const existing = await readOrUndefined(file);
      if (existing?.equals(bytes)) return file;
      if (existing) continue;
      const handle = await fs.open(`${file}.tmp`, 'w');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(`${file}.tmp`, file);
      await syncDirectory(dir);
      return file;
    }
  } catch (cause) {
    if (cause instanceof StorageError) throw cause;
    throw new StorageError(`cannot keep ${bytes.length} damaged bytes of ${segment.path} aside in ${dir}: ${(cause as Error).message}`, { cause, retriable: false });
  }
}

async function readOrUndefined(file: string): Promise<Buffer | undefined> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
