import { FileLog, type FileLogOptions } from '../../src/adapters/fileLog/FileLog';
import type { LogRecord } from '../../src/core/ports';

/** Every record of the file log in `dir`, from the start, each payload copied out of the read buffer. */
export async function fileLogRecords(dir: string, options: FileLogOptions = {}): Promise<LogRecord[]> {
  const log = await FileLog.open(dir, options);
  try {
    const records: LogRecord[] = [];
    for await (const batch of log.read(0)) records.push(...batch.map((r) => ({ ...r, payload: Buffer.from(r.payload) })));
    return records;
  } finally {
    await log.close();
  }
}
