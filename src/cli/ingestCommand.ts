import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { openAppender } from '../openAppender';
import { Ingestor, type IngestAnswer } from '../core/Ingestor';
import { parseSpocMessage } from '../core/validateSpoc';
import { OpsfoldError } from '../core/errors';
import { loadSettings } from '../config/settings';
import { progressBar } from './progress';

/**
 * How many bytes of messages may be waiting for their append at once. The file log commits
 * whatever is queued behind a commit in flight as one write and one fdatasync, so keeping
 * appends in flight turns a commit a message into a commit a few megabytes; the bound keeps
 * memory flat however large the file.
 */
const MAX_IN_FLIGHT_BYTES = 8 << 20;

/** What `opsfold ingest` prints on stdout once every accepted message is durable. */
export interface IngestTotals {
  messages: number;
  accepted: number;
  rejected: number;
  invalidMessages: number;
}

/**
 * `opsfold ingest FILE|-`: one JSON message (pretty-printed or not), or NDJSON with one message a
 * line, through the same gate as `POST /v1/spoc`. The input is streamed: each line is validated and
 * appended while the next is read, the appends group-committed by the log; the command reports
 * success only after the last append is durable. A line that is not a SPOC message is named by its
 * line number on stderr and the rest goes on (exit 1 at the end).
 */
export async function ingestCommand(file: string, flags: Parameters<typeof loadSettings>[0]): Promise<number> {
  const { settings } = loadSettings(flags);
  const rt = await openAppender(settings);
  try {
    const ingestor = new Ingestor(rt.appender);
    const input = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 });
    const bar = progressBar('ingest', file === '-' ? 0 : (await stat(file)).size, 'bytes');
    const totals: IngestTotals = { messages: 0, accepted: 0, rejected: 0, invalidMessages: 0 };
    const inFlight = new InFlight(MAX_IN_FLIGHT_BYTES);
    const limits = { arrivalMs: 0, maxFutureSeconds: settings.maxFutureSeconds };
    for await (const { text, line } of messagesOf(input)) {
      totals.messages++;
      let message;
      try {
        limits.arrivalMs = Date.now();
        message = parseSpocMessage(text, limits);
      } catch (error) {
        if (!(error instanceof OpsfoldError) || error.retriable) throw error;
        totals.invalidMessages++;
        process.stderr.write(`line ${line}: ${error.message}\n`);
        continue;
      }
      await inFlight.add(text.length, ingestor.ingest(message, 'cli').then((answer: IngestAnswer) => {
        totals.accepted += answer.accepted;
        totals.rejected += answer.rejected.length;
      }));
      bar.update((input as Readable & { bytesRead?: number }).bytesRead ?? 0);
    }
    await inFlight.drain();
    bar.stop();
    process.stdout.write(`${JSON.stringify(totals)}\n`);
    return totals.invalidMessages > 0 ? 1 : 0;
  } finally {
    await rt.close();
  }
}

/**
 * The messages of an input and the line each starts on: NDJSON (blank lines skipped), or one
 * message over several lines when the first line alone is not JSON (a pretty-printed file).
 */
async function* messagesOf(input: Readable): AsyncGenerator<{ text: string; line: number }> {
  let number = 0;
  let whole: string[] | undefined;
  let first = true;
  for await (const text of linesOf(input)) {
    number++;
    if (whole) {
      whole.push(text);
      continue;
    }
    if (text.trim() === '') continue;
    if (first && text.trim().startsWith('{') && !isJson(text)) {
      whole = [text];
      continue;
    }
    first = false;
    yield { text, line: number };
  }
  if (whole) yield { text: whole.join('\n'), line: 1 };
}

/**
 * The lines of a byte stream (\n or \r\n), each decoded once: readline decodes every chunk and
 * splits it with a regular expression, which cost as much as JSON.parse on NDJSON of 60 KB lines.
 */
async function* linesOf(input: Readable): AsyncGenerator<string> {
  /** The start of a line that continues in a later chunk (a long line may span many). */
  let partial: Buffer[] = [];
  const decode = (data: Buffer, start: number, end: number): string => data.toString('utf8', start, end > start && data[end - 1] === 13 ? end - 1 : end);
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let end = data.indexOf(10); end >= 0; end = data.indexOf(10, start)) {
      if (partial.length > 0) {
        const line = Buffer.concat([...partial, data.subarray(0, end)]);
        partial = [];
        yield decode(line, 0, line.length);
      } else {
        yield decode(data, start, end);
      }
      start = end + 1;
    }
    if (start < data.length) partial.push(data.subarray(start));
  }
  if (partial.length > 0) {
    const line = Buffer.concat(partial);
    yield decode(line, 0, line.length);
  }
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/** Appends in flight, at most `maxBytes` of their messages at once; the first failure is thrown. */
class InFlight {
  private readonly pending = new Set<Promise<void>>();
  private bytes = 0;
  private failure?: { error: unknown };

  constructor(private readonly maxBytes: number) {}

  async add(bytes: number, done: Promise<void>): Promise<void> {
    this.bytes += bytes;
    const tracked: Promise<void> = done.then(
      () => undefined,
      (error: unknown) => {
        this.failure ??= { error };
      },
    ).finally(() => {
      this.bytes -= bytes;
      this.pending.delete(tracked);
    });
    this.pending.add(tracked);
    while (this.bytes > this.maxBytes && this.pending.size > 0) await Promise.race(this.pending);
    if (this.failure) throw this.failure.error;
  }

  async drain(): Promise<void> {
    await Promise.all(this.pending);
    if (this.failure) throw this.failure.error;
  }
}
