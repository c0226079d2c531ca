import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** The bytes of every segment of the file log in `dir`: 0 before it has one. Grows by what an append wrote. */
export async function fileLogBytes(dir: string): Promise<number> {
  const files = await readdir(dir).catch(() => [] as string[]);
  let total = 0;
  for (const f of files.filter((n) => n.endsWith('.seg'))) total += (await stat(join(dir, f))).size;
  return total;
}
