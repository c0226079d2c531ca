import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { StorageError } from '../../core/errors';

/** One segment file: `base` is the log position of its first byte, also its name. */
export interface Segment {
  base: number;
  name: string;
  path: string;
}

const SEGMENT_NAME = /^(\d{20})\.seg$/;

export function segmentName(base: number): string {
  return `${String(base).padStart(20, '0')}.seg`;
}

export function segmentAt(dir: string, base: number): Segment {
  const name = segmentName(base);
  return { base, name, path: path.join(dir, name) };
}

/** The segments in `dir`, ascending by base. */
export async function listSegments(dir: string): Promise<Segment[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (cause) {
    throw new StorageError(`cannot list the log directory ${dir}: ${(cause as Error).message}`, { cause });
  }
  const segments: Segment[] = [];
  for (const name of names) {
    const match = SEGMENT_NAME.exec(name);
    if (match) segments.push({ base: Number(match[1]), name, path: path.join(dir, name) });
  }
  return segments.sort((a, b) => a.base - b.base);
}

/** The segment holding `position`: the last one starting at or before it. */
export function segmentContaining(segments: readonly Segment[], position: number): number {
  let index = -1;
  for (let i = 0; i < segments.length && segments[i].base <= position; i++) index = i;
  return index;
}

/** Makes a created or removed directory entry durable; a no-op where directories cannot be synced. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') {
      throw new StorageError(`cannot sync the log directory ${dir}: ${(error as Error).message}`, { cause: error });
    }
  } finally {
    await handle?.close();
  }
}
